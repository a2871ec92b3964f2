"""``saliency-studio methods`` and ``saliency-studio metrics``: list the registries, or print / write the README's
tables."""

from __future__ import annotations

import argparse

from xai_core.cli import CommandError
from xai_core.cli.tables import method_table, metric_table, update_readme


def _update(args: argparse.Namespace) -> None:
    try:
        changed = update_readme(args.update_readme)
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from error
    print(f"{args.update_readme}: {'updated' if changed else 'already current'}")


def run(args: argparse.Namespace) -> int:
    if args.update_readme:
        _update(args)
    elif args.markdown:
        print(method_table())
    else:
        import xai_core

        for entry in xai_core.methods.describe():
            print(f"{entry['name']:<22} {entry['family']:<11} {entry['summary']}")
    return 0


def run_metrics(args: argparse.Namespace) -> int:
    if args.update_readme:
        _update(args)
    elif args.markdown:
        print(metric_table())
    else:
        from xai_core import metrics

        for entry in metrics.describe():
            better = "higher" if entry["higher_is_better"] else "lower"
            print(f"{entry['name']:<28} {entry['family']:<13} {better:<7} {entry['summary']}")
    return 0

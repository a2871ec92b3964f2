"""``saliency-studio methods``, ``metrics`` and ``models``: list what the engine offers, or print / write the
README's tables."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

from xai_core.cli import CommandError
from xai_core.cli.tables import method_table, metric_table, update_readme


def _method_lines() -> Iterator[str]:
    import xai_core

    for entry in xai_core.methods.describe():
        yield f"{entry['name']:<22} {entry['family']:<11} {entry['summary']}"


def _metric_lines() -> Iterator[str]:
    from xai_core import metrics

    for entry in metrics.describe():
        better = "higher" if entry["higher_is_better"] else "lower"
        yield f"{entry['name']:<28} {entry['family']:<13} {better:<7} {entry['summary']}"


def _run(args: argparse.Namespace, table: Callable[[], str], lines: Callable[[], Iterator[str]]) -> int:
    if args.update_readme:
        try:
            changed = update_readme(args.update_readme)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from error
        print(f"{args.update_readme}: {'updated' if changed else 'already current'}")
    elif args.markdown:
        print(table())
    else:
        for line in lines():
            print(line)
    return 0


def run_methods(args: argparse.Namespace, prog: str) -> int:
    return _run(args, method_table, _method_lines)


def run_metrics(args: argparse.Namespace, prog: str) -> int:
    return _run(args, metric_table, _metric_lines)


def run_models(args: argparse.Namespace, prog: str) -> int:
    from xai_core.models import BUNDLED, available_models

    for name in available_models():
        print(f"{name:<22} {'bundled ImageNet weights' if name == BUNDLED else 'torchvision'}")
    return 0

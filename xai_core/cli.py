"""Command line: ``python -m xai_core methods|metrics [--markdown | --update-readme README.md]``,
``python -m xai_core evaluate --images DIR --methods a,b --metrics insertion,deletion --out RESULTS
[--set steps=50 ...]`` and ``python -m xai_core summarize RESULTS`` (``xai_core/evaluation/cli.py``);
``python -m xai_core roar --images DIR --methods a,b --out RESULTS`` (ROAR/KAR, ``xai_core/sanity/roar_cli.py``).

``methods --markdown`` and ``metrics --markdown`` print the README's tables, generated from the registries;
``--update-readme`` rewrites both (tests keep the README in step with them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from xai_core import registry
from xai_core.registry import FAMILIES

FAMILY_TITLES = {
    "vanilla": "Vanilla gradients",
    "integrated": "Integrated gradients",
    "bias": "Bias gradients",
    "postprocess": "Post-processing",
}


def method_table() -> str:
    """Markdown table of every registered method, grouped by the survey's families."""
    import xai_core.methods  # noqa: F401  (registers every method)

    rows = ["| id | family | what it computes | parameters | paper |", "|---|---|---|---|---|"]
    by_family = sorted(registry.all_methods().values(), key=lambda cls: (FAMILIES.index(cls.family), cls.name))
    for cls in by_family:
        params = ", ".join(f"`{p.name}`={p.default!r}" for p in cls.params) or "—"
        rows.append(
            f"| `{cls.name}` | {FAMILY_TITLES[cls.family]} | {cls.summary} | {params} | [{cls.paper}]({cls.url}) |"
        )
    rows.append(
        '| `noise=Noise("smoothgrad")` / `"smoothgrad_squared"` / `"vargrad"` | Post-processing | Mean, mean of '
        "squares, or variance of any method's map over noisy copies of the input | `samples`=25, `sigma`=0.15, "
        "`seed`=0 | [Smilkov et al. 2017](https://arxiv.org/abs/1706.03825), "
        "[Hooker et al. 2019](https://arxiv.org/abs/1806.10758), "
        "[Adebayo et al. 2018](https://arxiv.org/abs/1810.03292) |"
    )
    return "\n".join(rows)


def _between(text: str, marker: str) -> tuple[str, str, str]:
    start, end = f"<!-- {marker}:start -->\n", f"\n<!-- {marker}:end -->"
    head, rest = text.split(start, 1)
    body, tail = rest.split(end, 1)
    return head + start, body, end + tail


def metric_table_in(text: str) -> str:
    """The metric table between a README's ``metrics-table`` markers."""
    return _between(text, "metrics-table")[1]


def update_readme(path: Path) -> bool:
    """Rewrite the method and the metric tables between the README's markers; True if either changed."""
    from xai_core import metrics

    text = updated = path.read_text()
    for marker, table in (("methods-table", method_table()), ("metrics-table", metrics.markdown_table())):
        head, _, tail = _between(updated, marker)
        updated = head + table + tail
    path.write_text(updated)
    return updated != text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xai_core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("methods", help="list the registered methods")
    listing.add_argument("--markdown", action="store_true", help="print the README's method table")
    listing.add_argument("--update-readme", type=Path, metavar="README", help="rewrite the tables in this README")
    scores = commands.add_parser("metrics", help="list the registered metrics")
    scores.add_argument("--markdown", action="store_true", help="print the README's metric table")
    scores.add_argument("--update-readme", type=Path, metavar="README", help="rewrite the tables in this README")
    from xai_core.evaluation.cli import add_evaluate_arguments, add_summarize_arguments

    run = commands.add_parser(
        "evaluate", help="score methods x metrics on a data set into a results folder (resumable, local or Ray)"
    )
    add_evaluate_arguments(run)
    summarize = commands.add_parser("summarize", help="method x metric table, intervals, ranks and plots of results")
    add_summarize_arguments(summarize)
    from xai_core.sanity.roar_cli import add_roar_arguments

    retrain = commands.add_parser(
        "roar", help="ROAR and KAR (Hooker et al. 2019): retrain on your images with the top-ranked pixels removed/kept"
    )
    add_roar_arguments(retrain)
    args = parser.parse_args(argv)
    if args.command == "roar":
        from xai_core.sanity.roar_cli import run_roar_command

        return run_roar_command(args)
    if args.command in ("evaluate", "summarize"):
        from xai_core.evaluation import cli as evaluation_cli

        run_command = evaluation_cli.run_evaluate if args.command == "evaluate" else evaluation_cli.run_summarize
        return run_command(args)
    if args.command in ("methods", "metrics") and args.update_readme:
        changed = update_readme(args.update_readme)
        print(f"{args.update_readme}: {'updated' if changed else 'already current'}")
    elif args.command == "metrics":
        from xai_core import metrics

        if args.markdown:
            print(metrics.markdown_table())
        else:
            for entry in metrics.describe():
                better = "higher" if entry["higher_is_better"] else "lower"
                print(f"{entry['name']:<28} {entry['family']:<13} {better:<7} {entry['summary']}")
    elif args.command == "methods":
        if args.markdown:
            print(method_table())
        else:
            import xai_core

            for entry in xai_core.methods.describe():
                print(f"{entry['name']:<22} {entry['family']:<11} {entry['summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

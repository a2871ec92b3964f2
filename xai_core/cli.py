"""Command line: ``python -m xai_core methods [--markdown | --update-readme README.md]``.

``methods --markdown`` prints the README's method table, generated from the registry (a test keeps the README in
step with it).
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
        '| `postprocess="smoothgrad"` / `"vargrad"` | Post-processing | Mean / variance of any method\'s map over '
        "noisy copies of the input (Smooth Grad-CAM++ = SmoothGrad over `grad_cam_pp`) | `samples`=25, `sigma`=0.15, "
        "`seed`=0 | [Smilkov et al. 2017](https://arxiv.org/abs/1706.03825), "
        "[Adebayo et al. 2018](https://arxiv.org/abs/1810.03292) |"
    )
    return "\n".join(rows)


def update_readme(path: Path) -> bool:
    """Rewrite the table between the README's markers; True if it changed."""
    text = path.read_text()
    start, end = "<!-- methods-table:start -->\n", "\n<!-- methods-table:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    updated = head + start + method_table() + end + tail
    path.write_text(updated)
    return updated != text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xai_core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("methods", help="list the registered methods")
    listing.add_argument("--markdown", action="store_true", help="print the README's method table")
    listing.add_argument("--update-readme", type=Path, metavar="README", help="rewrite the table in this README")
    args = parser.parse_args(argv)
    if args.command == "methods":
        if args.update_readme:
            changed = update_readme(args.update_readme)
            print(f"{args.update_readme}: {'updated' if changed else 'already current'}")
        elif args.markdown:
            print(method_table())
        else:
            import xai_core

            for entry in xai_core.methods():
                print(f"{entry['name']:<22} {entry['family']:<11} {entry['summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

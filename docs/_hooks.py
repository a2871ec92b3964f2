"""MkDocs hook: fills a page's generated sections, each marked by an HTML comment on a line of its own.

- ``<!-- generated:methods-table -->``: the README's method table, which ``make readme`` generates from the
  registry and tests/test_readme.py keeps equal to it. Reading it here keeps the docs build free of PyTorch
  imports (a few seconds instead of ten).
- ``<!-- generated:cli-reference -->``: the help of ``saliency-studio`` and of each subcommand, from the argparse
  parser itself (``xai_core.cli`` imports nothing heavy).

To add a generated section (the metrics table, once ``xai_core.metrics`` has its registry), add its marker and a
function returning Markdown to ``GENERATED``, and put the marker in the page (docs/api/metrics.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from xai_core.cli import build_parser, subparsers
from xai_core.cli.tables import README_MARKERS

ROOT = Path(__file__).resolve().parent.parent
HELP_WIDTH = 80  # what the theme's content column shows without scrolling


def methods_table() -> str:
    start, end = README_MARKERS
    return (ROOT / "README.md").read_text().split(start, 1)[1].split(end, 1)[0]


def cli_reference() -> str:
    parser = build_parser(width=HELP_WIDTH)
    sections = [f"## saliency-studio\n\n```text\n{parser.format_help().rstrip()}\n```"]
    for name, sub in subparsers(parser).items():
        sections.append(f"## saliency-studio {name}\n\n```text\n{sub.format_help().rstrip()}\n```")
    return "\n\n".join(sections)


GENERATED: dict[str, Callable[[], str]] = {
    "<!-- generated:methods-table -->": methods_table,
    "<!-- generated:cli-reference -->": cli_reference,
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    for marker, generate in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown

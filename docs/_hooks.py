"""MkDocs hook: fills a page's generated sections, each marked by an HTML comment on a line of its own.

- ``<!-- generated:methods-table -->`` and ``<!-- generated:metrics-table -->``: the README's method and metric
  tables, which ``make readme`` generates from the registries and tests keep equal to them (test_readme.py,
  test_metrics_registry.py). Reading them here keeps the docs build free of PyTorch imports (a few seconds
  instead of ten).
- ``<!-- generated:cli-reference -->``: the help of ``saliency-studio`` and of each subcommand, from the argparse
  parser itself (``xai_core.cli`` imports nothing heavy).

To add a generated section, add its marker and a function returning Markdown to ``GENERATED``, and put the marker
in the page.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from xai_core.cli import build_parser, subparsers
from xai_core.cli.tables import method_table_in, metric_table_in

ROOT = Path(__file__).resolve().parent.parent
HELP_WIDTH = 80  # what the theme's content column shows without scrolling


def methods_table() -> str:
    return method_table_in((ROOT / "README.md").read_text())


def metrics_table() -> str:
    return metric_table_in((ROOT / "README.md").read_text())


def cli_reference() -> str:
    parser = build_parser(width=HELP_WIDTH)
    sections = [f"## saliency-studio\n\n```text\n{parser.format_help().rstrip()}\n```"]
    for name, sub in subparsers(parser).items():
        sections.append(f"## saliency-studio {name}\n\n```text\n{sub.format_help().rstrip()}\n```")
    return "\n\n".join(sections)


GENERATED: dict[str, Callable[[], str]] = {
    "<!-- generated:methods-table -->": methods_table,
    "<!-- generated:metrics-table -->": metrics_table,
    "<!-- generated:cli-reference -->": cli_reference,
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    for marker, generate in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown

"""The README's method table is the registry's (regenerate: python -m xai_core methods --markdown)."""

from __future__ import annotations

from pathlib import Path

from xai_core.cli import method_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_method_table_matches_the_registry() -> None:
    text = README.read_text()
    table = text.split("<!-- methods-table:start -->\n", 1)[1].split("\n<!-- methods-table:end -->", 1)[0]
    assert table == method_table(), "README method table is stale: run `make readme`"


def test_readme_names_the_two_commands() -> None:
    text = README.read_text()
    assert "make run" in text and "make test" in text

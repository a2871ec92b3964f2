"""The documentation builds with MkDocs in strict mode (a warning fails it) and carries its generated sections.

Strict mode turns a broken link, a page missing from the navigation, or a docstring that mkdocstrings cannot parse
(a Google-style section it cannot read, a documented parameter that is not in the signature) into a failure.
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
from pathlib import Path

import pytest

import xai_core
from xai_core.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
API_PAGES = ("xai_core", "metrics", "evaluation", "checks", "sanity", "study", "viz", "settings", "jobs")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def _text(site: Path, page: str) -> str:
    return html.unescape((site / page / "index.html").read_text())


def test_api_reference_has_a_page_per_public_module(site: Path) -> None:
    for name in API_PAGES:
        assert 'class="doc doc-heading"' in (site / "api" / name / "index.html").read_text(), name
    api = _text(site, "api/xai_core")
    documented = {name for name in xai_core.__all__ if f'id="xai_core.{name}"' in api}
    assert documented == set(xai_core._EXPORTS) | {"methods"}  # the other subpackages have their own pages
    assert 'id="xai_core.methods.describe"' in api
    assert "Build a classifier with its weights" in api  # load_model's docstring


def test_generated_method_table_and_cli_reference(site: Path) -> None:
    methods = _text(site, "methods")
    assert all(f"<code>{m['name']}</code>" in methods for m in xai_core.methods.describe())
    metrics_page = _text(site, "api/metrics")
    assert all(f"<code>{m['name']}</code>" in metrics_page for m in xai_core.metrics.describe())
    cli = _text(site, "cli")
    assert "usage: saliency-studio [-h] [--version] COMMAND ..." in cli
    assert all(f"usage: saliency-studio {command.name} " in cli for command in COMMANDS)
    assert "<!-- generated:" not in (site / "cli" / "index.html").read_text()

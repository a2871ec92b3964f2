"""The ``saliency-studio`` command line (``python -m xai_core``): help, subcommands, errors, the app launcher.

Help answers without importing PyTorch (checked with ``python -X importtime``); its timing is in
docs/benchmarks.md, not asserted here. The installed console script itself is exercised by test_packaging.py.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from e2e.browser import free_port

import xai_core
from xai_core import cli
from xai_core.cli import app as app_command
from xai_core.cli import build_parser, main, method_table, metric_table_in, subparsers
from xai_core.cli.tables import method_table_in

ROOT = Path(__file__).resolve().parent.parent
PARSERS = {"": build_parser(), **subparsers(build_parser())}


def _run_module(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, **kwargs
    )


def _imported_modules(importtime_log: str) -> set[str]:
    """Top-level names of the modules in a ``-X importtime`` log."""
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in importtime_log.splitlines() if "|" in line}


def test_every_subcommand_is_declared_with_a_lazily_imported_implementation() -> None:
    assert set(PARSERS) == {"", "app", "evaluate", "summarize", "roar", "methods", "metrics", "models"}
    for command in cli.COMMANDS:
        module, function = command.run.split(":")
        assert module.startswith(("xai_core.cli.", "xai_core.evaluation.cli")) and function.startswith("run")
        assert command.examples and all(line.startswith("saliency-studio ") for line in command.examples)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_help_shows_defaults_choices_and_examples(name: str) -> None:
    text = PARSERS[name].format_help()
    assert "examples:\n  saliency-studio " in text
    assert "``" not in text and "`" not in text  # plain text, no reStructuredText
    if name == "":
        assert all(re.search(rf"^    {c.name}\b", text, re.MULTILINE) for c in cli.COMMANDS)
    if name == "app":
        assert "--device {auto,cpu,cuda,mps}" in text and "(default: auto)" in text and "(default: 8501)" in text
    if name == "evaluate":
        assert "--device DEVICE" in text and "--seed SEED" in text and "(default: insertion,deletion)" in text
        assert "--engine {local,ray}" in text and "debug) (default" not in text  # -v counts from 0: no default
    if name == "summarize":
        assert "(default: 0.95)" in text and "(default: 2000)" in text


@pytest.mark.parametrize("args", [["--help"], *[[name, "--help"] for name in sorted(PARSERS) if name]])
def test_help_imports_no_torch(args: list[str]) -> None:
    result = _run_module("-X", "importtime", "-m", "xai_core", *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m xai_core")
    imported = _imported_modules(result.stderr)
    assert "xai_core" in imported
    assert not imported & {"torch", "numpy", "streamlit", "scipy"}, sorted(imported & {"torch", "numpy"})


def test_import_xai_core_is_light() -> None:
    result = _run_module(
        "-c", "import sys, xai_core, xai_core.cli; print(xai_core.__version__, 'torch' in sys.modules)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [xai_core.__version__, "False"]


def test_public_api_is_whole_and_loads_on_first_use() -> None:
    assert set(xai_core.__all__) == {*xai_core._EXPORTS, *xai_core._SUBPACKAGES}
    assert all(getattr(xai_core, name) is not None for name in xai_core.__all__)
    assert set(dir(xai_core)) >= set(xai_core.__all__) and xai_core.methods.describe()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = xai_core.nope  # type: ignore[attr-defined]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"saliency-studio {xai_core.__version__}"


def test_methods_metrics_and_models_list_what_the_engine_offers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [m["name"] for m in xai_core.methods.describe()]
    assert main(["methods", "--markdown"]) == 0
    assert capsys.readouterr().out.strip() == method_table()
    assert main(["metrics"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    described = {m["name"]: m for m in xai_core.metrics.describe()}
    assert [row[0] for row in rows] == list(described)
    assert all(row[2] == ("higher" if described[row[0]]["higher_is_better"] else "lower") for row in rows)
    assert main(["models"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == xai_core.available_models()


def test_update_readme_rewrites_both_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    sections = [(f"<!-- {m}-table:start -->", f"<!-- {m}-table:end -->") for m in ("methods", "metrics")]
    readme.write_text("intro\n" + "".join(f"{start}\nold\n{end}\n" for start, end in sections))
    assert main(["methods", "--update-readme", str(readme)]) == 0
    text = readme.read_text()
    assert method_table_in(text) == method_table() and metric_table_in(text) == xai_core.metrics.markdown_table()
    assert main(["metrics", "--update-readme", str(readme)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{readme}: updated", f"{readme}: already current"]
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["methods", "--update-readme", str(readme)])
    assert exit_info.value.code == 2
    assert "no methods-table markers" in capsys.readouterr().err
    assert readme.read_text() == "no markers\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--images", "missing-folder", "--methods", "saliency"], "missing-folder"),
        (["--samples", "--methods", "no_such_method"], "unknown method 'no_such_method'"),
    ],
)
def test_evaluate_runs_the_evaluation_package_and_reports_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["evaluate", *extra, "--out", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("saliency-studio evaluate: error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "results" / "spec.json").exists()  # refused before any work


def test_device_must_be_one_of_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["app", "--device", "tpu"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


class _Launched(Exception):
    """Raised by the stand-in for os.execve, which never returns either."""


def test_app_runs_streamlit_on_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    launched: dict[str, Any] = {}

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        launched.update(path=path, argv=argv, env=env, cwd=os.getcwd())
        raise _Launched

    monkeypatch.setattr(os, "execve", execve)
    monkeypatch.chdir(ROOT / "tests")
    with pytest.raises(_Launched):
        main(["app", "--host", "127.0.0.2", "--port", "8600", "--device", "cpu"])
    assert launched["argv"] == [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "serve.py"),
        "--server.address", "127.0.0.2", "--server.port", "8600",
    ]  # fmt: skip
    assert launched["env"]["XAI_DEVICE"] == "cpu" and launched["cwd"] == str(ROOT)  # .streamlit/config.toml


def test_app_outside_a_checkout_or_without_streamlit_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(app_command, "CHECKOUT", tmp_path)
    with pytest.raises(SystemExit):
        main(["app"])
    assert "not part of this installation" in capsys.readouterr().err
    monkeypatch.setattr(app_command, "CHECKOUT", ROOT)
    monkeypatch.setattr(app_command.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit):
        main(["app"])
    assert "pip install 'saliency-studio[app]'" in capsys.readouterr().err


@pytest.mark.slow
def test_app_command_serves_the_app(tmp_path: Path) -> None:
    """``python -m xai_core app`` (what ``make run`` runs) really starts a server that answers its health check."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(STREAMLIT_SERVER_FILE_WATCHER_TYPE="none", XAI_STUDY_DB_URL=f"sqlite:///{tmp_path / 'studies.db'}")
    log = (tmp_path / "app.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "xai_core", "app", "--port", str(port), "--device", "cpu"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline, answered = time.monotonic() + 90, False
        while not answered and time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    answered = response.status == 200
            except OSError:
                time.sleep(0.5)
        assert answered, (tmp_path / "app.log").read_text(errors="replace")[-2000:]
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_build_parser_width_is_fixed_for_the_docs() -> None:
    text = build_parser(width=60).format_help()
    assert max(len(line) for line in text.splitlines() if not line.startswith("  saliency-studio")) <= 60
    assert isinstance(subparsers(argparse.ArgumentParser()), dict)

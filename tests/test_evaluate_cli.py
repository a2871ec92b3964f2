"""``python -m xai_core evaluate`` and ``summarize`` end to end: the bundled model on bundled samples, and a run
killed mid-way (SIGKILL) that resumes with no row lost and none duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from evaluation_data import Toy, toy_dataset
from PIL import Image

import xai_core
from xai_core.cli import main
from xai_core.evaluation import load_map, read_rows
from xai_core.evaluation.sink import KEY

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bundled_model_on_two_samples_then_summarize(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    argv = ["evaluate", "--samples", "2", "--methods", "saliency,grad_cam", "--metrics", "insertion,deletion",
            "--steps", "4", "--out", str(out), "--save-maps", "--batch-size", "2"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "grad_cam" in printed.out and "insertion ↑" in printed.out and "deletion ↓" in printed.out
    assert "8 computed now (8 rows, 0 errors)" in printed.err
    rows = read_rows(out)
    assert (
        len(rows) == 2 * 2 * 2
        and (rows["status"] == "ok").all()
        and set(rows["image"]) == {"chelsea.png", "coffee.png"}
    )
    first = rows.iloc[0]
    saved = load_map(out, first["maps_file"], int(first["maps_index"]))
    assert saved.shape == (224, 224)
    assert main(argv) == 0
    assert "8 were done, 0 computed now" in capsys.readouterr().err
    assert main(["summarize", str(out), "--resamples", "200"]) == 0
    printed = capsys.readouterr()
    assert "mean rank" in printed.out
    html = (out / "summary" / "summary.html").read_text()
    assert "plotly" in html.lower() and "mean curve with 95% band" in html
    assert (out / "summary" / "summary.md").read_text().startswith("| method |")
    assert "method,metric,better,mean,low,high,n" in (out / "summary" / "summary.csv").read_text()


def test_an_old_results_csv_is_not_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "results.csv"
    old.write_text("image,method,metric,value\n")
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    assert main(["evaluate", "--images", str(tmp_path), "--methods", "saliency", "--out", str(old)]) == 2
    assert "is a file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Toy:
    return toy_dataset(tmp_path_factory.mktemp("toy"), 12)


def command(toy: Toy, out: Path) -> list[str]:
    return [sys.executable, "-m", "xai_core", "evaluate", *toy.cli(), "--methods", "saliency,integrated_gradients",
            "--param", "integrated_gradients.steps=24", "--metrics", "insertion,deletion", "--steps", "16",
            "--out", str(out), "--task-size", "1", "--flush-seconds", "0", "--batch-size", "1", "-q"]  # fmt: skip


def test_a_killed_run_resumes_with_nothing_lost_and_nothing_duplicated(toy: Toy, tmp_path: Path) -> None:
    out = tmp_path / "r"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command(toy, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if len(list((out / "rows").glob("part-*"))) >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed: " + process.stderr.read().decode()[-800:]
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    before = read_rows(out, raw=True)
    assert 3 * 2 <= len(before) < 12 * 2 * 2  # whole tasks (2 rows each) were saved, and not everything
    done = subprocess.run(command(toy, out), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    raw = read_rows(out, raw=True)
    keys = [tuple(k) for k in raw[list(KEY)].itertuples(index=False, name=None)]
    assert len(keys) == len(set(keys)) == 12 * 2 * 2  # nothing duplicated, nothing missing
    merged = raw.set_index(list(KEY))
    for item in before.itertuples(index=False):  # nothing lost: rows written before the kill are kept as they were
        key = tuple(getattr(item, k) for k in KEY)
        assert merged.loc[key, "value"] == pytest.approx(item.value, nan_ok=True)
    spec = json.loads((out / "spec.json").read_text())
    assert spec["requests"]["integrated_gradients"]["request"]["params"]["steps"] == 24
    assert xai_core.Request.from_dict(spec["requests"]["integrated_gradients"]["request"]).params["steps"] == 24

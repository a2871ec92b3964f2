"""The summary of a results folder: bootstrap intervals as SciPy computes them, ranks that follow each metric's
better direction, escaped exports, mean curves with their band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xai_core.cli import main
from xai_core.evaluation import plots, sink, summarize


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for method, shift in (("good", 0.3), ("bad", 0.0), ("<b>x|y</b>", 0.1)):
        for i in range(12):
            up = 0.4 + shift + 0.05 * rng.standard_normal()
            key = {"image": f"i{i}", "method": method, "request_key": "k", "settings_hash": "h"}
            curve = {"curve": [1.0, up, 0.0], "curve_x": [0.0, 0.5, 1.0]}
            rows.append(sink.row(**key, metric="insertion", value=up, higher_is_better=True, **curve))
            down = 0.5 - shift + 0.05 * rng.standard_normal()
            rows.append(sink.row(**key, metric="deletion", value=down, higher_is_better=False))
    rows.append(sink.row(image="broken", method="good", request_key="k", metric="insertion", settings_hash="h",
                         status="error", error="ImageError: x"))  # fmt: skip
    return pd.DataFrame(rows)


def test_table_has_means_bootstrap_intervals_n_and_ranks() -> None:
    data = frame()
    table = summarize.summary_table(data, resamples=500, seed=3).set_index(["method", "metric"])
    values = data[(data["method"] == "good") & (data["metric"] == "insertion") & (data["status"] == "ok")]["value"]
    expected = stats.bootstrap(
        (values.to_numpy(),), np.mean, n_resamples=500, method="BCa", rng=np.random.default_rng(3)
    )
    row = table.loc[("good", "insertion")]
    assert row["mean"] == pytest.approx(values.mean()) and row["n"] == 12 and row["errors"] == 1
    assert (row["low"], row["high"]) == pytest.approx(tuple(expected.confidence_interval))
    assert table.loc[("good", "insertion"), "rank"] == 1 and table.loc[("bad", "insertion"), "rank"] == 3
    assert table.loc[("good", "deletion"), "rank"] == 1  # lower is better for deletion
    assert np.isnan(summarize.interval(np.array([0.5]))[0]) and summarize.interval(np.full(5, 2.0)) == (2.0, 2.0)


def test_exports_escape_user_labels(tmp_path: Path) -> None:
    written = summarize.export(frame(), tmp_path, resamples=200)
    md = written["md"].read_text()
    assert "&lt;b&gt;x\\|y&lt;/b&gt;" in md and "<b>" not in md
    html = written["html"].read_text()
    assert "<b>x|y</b>" not in html and "&lt;b&gt;x|y&lt;/b&gt;" in html
    assert pd.read_csv(written["csv"])["n"].tolist()[0] == 12


def test_mean_curves_have_a_band_that_holds_the_mean() -> None:
    mean, low, high = plots.curve_band([[1.0, 0.2, 0.0], [1.0, 0.6, 0.0], [1.0, 0.4, 0.0]])
    assert mean.tolist() == pytest.approx([1.0, 0.4, 0.0])
    assert low[1] < 0.4 < high[1] and low[0] == high[0] == 1.0
    figure = plots.mean_curves(frame(), "insertion")
    names = [t.name for t in figure.data if t.name]
    assert sorted(names) == sorted(["good (n=12)", "bad (n=12)", "&lt;b&gt;x|y&lt;/b&gt; (n=12)"])


def test_summarize_reads_an_exported_file_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = frame()
    path = tmp_path / "results.parquet"
    sink._write_part(path, data)
    assert main(["summarize", str(path), "--resamples", "100", "--formats", "csv", "--no-plots"]) == 0
    assert "good" in capsys.readouterr().out and (tmp_path / "summary" / "summary.csv").exists()
    assert main(["summarize", str(tmp_path / "nothing")]) == 2
    assert "no results folder or file" in capsys.readouterr().err

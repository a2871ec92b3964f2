"""The method x metric table of a results folder: mean, bootstrap 95% interval, n and ranks; exports.

``python -m xai_core summarize RESULTS`` prints the table and writes ``summary.md``, ``summary.csv`` and
``summary.html`` (with the plots of ``plots.py`` embedded, Plotly inline so it opens offline).

* mean and n over the images with an ``ok`` row (errors and not-applicable rows are counted apart);
* the interval is ``scipy.stats.bootstrap`` of the mean (BCa, 2000 resamples, seeded); with one image it is
  undefined (NaN), with identical values it is that value;
* rank 1 is the best method on a metric, following the metric's ``higher_is_better`` (ties share the best rank);
  ``mean rank`` averages a method's ranks over the metrics.

For SIC/AIC the paper's number is the AUC of the median curve over images (``metrics.pic``); the table gives the mean
of the per-image AUCs like every other metric, and the curves plot shows the mean curve.
"""

from __future__ import annotations

import html
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xai_core.evaluation.plan import RANDOMIZATION

TABLE_COLUMNS = ["method", "metric", "better", "mean", "low", "high", "n", "errors", "not_applicable", "rank"]


def interval(
    values: np.ndarray, *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap interval of the mean (BCa); NaN for fewer than two values, the value itself when all are equal."""
    from scipy import stats

    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if len(data) < 2:
        return (float("nan"), float("nan"))
    if np.ptp(data) == 0.0:
        return (float(data[0]), float(data[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BCa's degenerate-data warning: the fallback below covers it
        result = stats.bootstrap((data,), np.mean, confidence_level=confidence, n_resamples=resamples,
                                 method="BCa", rng=np.random.default_rng(seed))  # fmt: skip
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap((data,), np.mean, confidence_level=confidence, n_resamples=resamples,
                                     method="percentile", rng=np.random.default_rng(seed))  # fmt: skip
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return (low, high)


def metric_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the metrics (randomization rows have their own table)."""
    return frame[frame["metric"] != RANDOMIZATION] if len(frame) else frame


def summary_table(
    frame: pd.DataFrame, *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """One row per (method, metric): see the module notes for each column."""
    rows = metric_rows(frame)
    out = []
    for (method, metric), group in rows.groupby(["method", "metric"], sort=True):
        ok = group[group["status"] == "ok"]
        values = ok["value"].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        low, high = interval(values, confidence=confidence, resamples=resamples, seed=seed)
        out.append({
            "method": method, "metric": metric,
            "better": "higher" if bool(group["higher_is_better"].iloc[0]) else "lower",
            "mean": float(values.mean()) if len(values) else float("nan"), "low": low, "high": high,
            "n": len(values), "errors": int((group["status"] == "error").sum()),
            "not_applicable": int((group["status"] == "not_applicable").sum()),
        })  # fmt: skip
    table = pd.DataFrame(out, columns=TABLE_COLUMNS[:-1])
    if table.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    signed = table["mean"].where(table["better"] == "higher", -table["mean"])
    table["rank"] = signed.groupby(table["metric"]).rank(ascending=False, method="min").astype("Int64")
    return table


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """Methods as rows, metrics as columns: ``mean [low, high] (n) #rank``, plus each method's mean rank."""
    if table.empty:
        return pd.DataFrame()

    def cell(r: Any) -> str:
        ci = "" if np.isnan(r["low"]) else f" [{r['low']:.4g}, {r['high']:.4g}]"
        return f"{r['mean']:.4g}{ci} (n={r['n']}) #{r['rank']}"

    cells = table.assign(cell=table.apply(cell, axis=1)).pivot(index="method", columns="metric", values="cell")
    arrows = {m: "↑" if b == "higher" else "↓" for m, b in zip(table["metric"], table["better"], strict=True)}
    cells.columns = [f"{m} {arrows[m]}" for m in cells.columns]
    cells["mean rank"] = table.groupby("method")["rank"].mean().round(2)
    return cells.fillna("—").sort_values("mean rank")


def markdown(table: pd.DataFrame) -> str:
    """The wide table as Markdown; cells are escaped (method labels come from users)."""
    grid = wide(table)
    if grid.empty:
        return "(no rows)\n"
    header = ["method", *grid.columns]
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    for method, values in grid.iterrows():
        lines.append("| " + " | ".join(_md(str(v)) for v in [method, *values.tolist()]) + " |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return html.escape(str(text)).replace("|", "\\|").replace("*", "\\*").replace("_", "\\_").replace("`", "\\`")


def text(table: pd.DataFrame) -> str:
    """A plain-text version for the terminal."""
    grid = wide(table)
    return "(no rows)" if grid.empty else grid.to_string()


def export(frame: pd.DataFrame, out: Path, *, formats: tuple[str, ...] = ("md", "csv", "html"), plots: bool = True,
           confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> dict[str, Path]:  # fmt: skip
    """Write ``summary.<format>`` files (and the randomization table, if any) into ``out``; returns the paths."""
    from xai_core.evaluation import randomization

    unknown = sorted(set(formats) - {"md", "csv", "html"})
    if unknown:
        raise ValueError(f"summary formats are md, csv and html; got {unknown}")
    out.mkdir(parents=True, exist_ok=True)
    table = summary_table(frame, confidence=confidence, resamples=resamples, seed=seed)
    layers = randomization.layer_table(frame, confidence=confidence, resamples=resamples, seed=seed)
    written: dict[str, Path] = {}
    if "md" in formats:
        written["md"] = out / "summary.md"
        written["md"].write_text(markdown(table), encoding="utf-8")
    if "csv" in formats:
        written["csv"] = out / "summary.csv"
        table.to_csv(written["csv"], index=False)
        if not layers.empty:
            written["randomization_csv"] = out / "randomization.csv"
            layers.to_csv(written["randomization_csv"], index=False)
    if "html" in formats:
        written["html"] = out / "summary.html"
        written["html"].write_text(_html(frame, table, layers, plots), encoding="utf-8")
    return written


def _html(frame: pd.DataFrame, table: pd.DataFrame, layers: pd.DataFrame, plots: bool) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Saliency Studio summary</title></head><body>",
             "<h1>Methods x metrics</h1>", wide(table).to_html(escape=True)]  # fmt: skip
    if not layers.empty:
        parts += ["<h2>Model randomization</h2>", layers.to_html(index=False, escape=True)]
    if plots:
        from xai_core.evaluation import plots as charts

        first = True
        for figure in charts.all_figures(frame, layers):
            parts.append(figure.to_html(full_html=False, include_plotlyjs=first))  # plotly.js inline once: offline
            first = False
    parts.append("</body></html>")
    return "\n".join(parts)

"""Plotly figures of a results folder: per-method distributions, mean curves with bands, randomization by layer.

Mean curves: the rows of a curve metric keep each image's curve; the plot shows their mean per step and a band of
mean ± 1.96 standard errors (a normal-approximation 95% interval per step), one line per method. Curves of one
metric share their x axis when their settings agree (the settings hash is part of every row's key).
"""

from __future__ import annotations

import html
from collections.abc import Iterator

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from xai_core.evaluation.summarize import metric_rows


def _safe(text: object) -> str:
    """A label as plain text: Plotly reads a few HTML tags (links among them) in names and hover text."""
    return html.escape(str(text))


PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    rows = metric_rows(frame)
    return rows[rows["status"] == "ok"] if len(rows) else rows


def distributions(frame: pd.DataFrame, metric: str) -> go.Figure:
    """Box plot with every image's value, one box per method, for one metric."""
    rows = _ok(frame)
    rows = rows[rows["metric"] == metric]
    figure = go.Figure()
    for i, (method, group) in enumerate(rows.groupby("method", sort=True)):
        labels = [_safe(image) for image in group["image"]]
        figure.add_trace(go.Box(y=group["value"], name=_safe(method), boxpoints="all", jitter=0.3, boxmean=True,
                                text=labels, marker_color=PALETTE[i % len(PALETTE)]))  # fmt: skip
    better = "higher" if len(rows) and bool(rows["higher_is_better"].iloc[0]) else "lower"
    figure.update_layout(title=f"{_safe(metric)}: per-image values ({better} is better)", yaxis_title=metric,
                         showlegend=False, height=380, margin={"t": 50, "b": 40})  # fmt: skip
    return figure


def curve_band(curves: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean curve and its 95% band (mean ± 1.96 SE) over equally long curves."""
    stacked = np.asarray(curves, dtype=np.float64)
    mean = np.nanmean(stacked, axis=0)
    n = np.isfinite(stacked).sum(axis=0)
    se = np.nanstd(stacked, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1)) if len(stacked) > 1 else np.zeros_like(mean)
    return mean, mean - 1.96 * se, mean + 1.96 * se


def mean_curves(frame: pd.DataFrame, metric: str) -> go.Figure:
    """Mean curve per method with its band, for a metric whose rows have curves (insertion, deletion, ...)."""
    rows = _ok(frame)
    rows = rows[(rows["metric"] == metric) & rows["curve"].notna()]
    figure = go.Figure()
    for i, (method, group) in enumerate(rows.groupby("method", sort=True)):
        curves = [list(c) for c in group["curve"]]
        lengths = {len(c) for c in curves}
        if len(lengths) != 1:
            continue  # curves of other lengths come from other settings; the table keeps them apart
        x = np.asarray(group["curve_x"].iloc[0], dtype=np.float64)
        mean, low, high = curve_band(curves)
        colour = PALETTE[i % len(PALETTE)]
        figure.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([high, low[::-1]]),
                                    fill="toself", fillcolor=colour, opacity=0.2, line={"width": 0},
                                    hoverinfo="skip", showlegend=False))  # fmt: skip
        figure.add_trace(go.Scatter(x=x, y=mean, name=f"{_safe(method)} (n={len(curves)})", line={"color": colour}))
    figure.update_layout(title=f"{_safe(metric)}: mean curve with 95% band", xaxis_title="fraction of features",
                         yaxis_title="score", height=380, margin={"t": 50, "b": 40})  # fmt: skip
    return figure


def randomization_lines(layers: pd.DataFrame, measure: str) -> go.Figure:
    """Mean similarity per layer (top-down) with its bootstrap band, one line per method (as the paper's figures)."""
    rows = layers[layers["measure"] == measure]
    figure = go.Figure()
    for i, (method, group) in enumerate(rows.groupby("method", sort=True)):
        group = group.sort_values("layer_index")
        colour = PALETTE[i % len(PALETTE)]
        x = [_safe(v) for v in group["layer"]]
        band = group.dropna(subset=["low", "high"])
        if len(band):
            figure.add_trace(go.Scatter(x=[_safe(v) for v in band["layer"]] + [_safe(v) for v in band["layer"]][::-1],
                                        y=band["high"].tolist() + band["low"].tolist()[::-1], fill="toself",
                                        fillcolor=colour, opacity=0.2, line={"width": 0}, hoverinfo="skip",
                                        showlegend=False))  # fmt: skip
        figure.add_trace(go.Scatter(x=x, y=group["mean"], name=_safe(method), mode="lines+markers",
                                    line={"color": colour}))  # fmt: skip
    figure.update_layout(title=f"Model randomization: {measure} to the trained model's map (lower: passes)",
                         xaxis_title="re-initialised layer (from the logits down)", yaxis_title=measure,
                         height=400, margin={"t": 50, "b": 40})  # fmt: skip
    return figure


def curve_metrics(frame: pd.DataFrame) -> list[str]:
    rows = _ok(frame)
    return sorted(rows[rows["curve"].notna()]["metric"].unique()) if len(rows) else []


def all_figures(frame: pd.DataFrame, layers: pd.DataFrame | None = None) -> Iterator[go.Figure]:
    """Every figure of the summary: distributions per metric, mean curves, randomization by measure."""
    rows = _ok(frame)
    for metric in sorted(rows["metric"].unique()) if len(rows) else []:
        yield distributions(frame, metric)
    for metric in curve_metrics(frame):
        yield mean_curves(frame, metric)
    if layers is not None and not layers.empty:
        for measure in sorted(layers["measure"].unique()):
            yield randomization_lines(layers, measure)

"""ROAR/KAR curves read back from a results folder (``roar_folder``): records with mean and spread over the training
seeds, a long table, and a Plotly figure (accuracy against the fraction removed, and against the fraction kept).

The spread is the sample standard deviation over the training seeds (``ddof=1``; NaN with one seed): the variation of
retraining, as the paper's error bars over five trainings, not a confidence interval of the mean.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xai_core.evaluation import sink
from xai_core.sanity.roar import MODES, RANDOM

TITLES = {
    "roar": "ROAR: top fraction removed (lower is better)",
    "kar": "KAR: only the top fraction kept (higher is better)",
}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


@dataclass(frozen=True)
class RoarCurve:
    """Test accuracy of the retrained models against the fraction removed (ROAR) or kept (KAR), per training seed."""

    method: str
    mode: str  # "roar" or "kar"
    x: tuple[float, ...]  # fraction removed (ROAR, from 0: unmodified) or kept (KAR, up to 1: unmodified)
    accuracy: tuple[tuple[float, ...], ...]  # [seed][x]
    seeds: tuple[int, ...]
    higher_is_better: bool  # of the curve's summary: KAR True, ROAR False

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.accuracy, dtype=np.float64).mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        values = np.asarray(self.accuracy, dtype=np.float64)
        return values.std(axis=0, ddof=1) if len(values) > 1 else np.full(values.shape[1], np.nan)


def read_curves(source: Path | pd.DataFrame) -> list[RoarCurve]:
    """The ROAR/KAR curves of a results folder (or of its rows), one per (method, mode), methods sorted, random last."""
    frame = sink.read_rows(Path(source)) if not isinstance(source, pd.DataFrame) else source
    rows = frame[frame["metric"].isin(MODES) & (frame["status"] == "ok")] if len(frame) else frame
    curves = []
    for (method, mode), group in rows.groupby(["method", "metric"], sort=True):
        group = group.assign(seed=[int(str(i).partition("=")[2] or -1) for i in group["image"]]).sort_values("seed")
        xs = {tuple(x) for x in group["curve_x"]}
        if len(xs) != 1:
            raise ValueError(f"{method} {mode}: rows with different fractions; read one run's folder")
        curves.append(RoarCurve(str(method), str(mode), xs.pop(), tuple(tuple(c) for c in group["curve"]),
                                tuple(group["seed"]), mode == "kar"))  # fmt: skip
    return sorted(curves, key=lambda c: (c.mode, c.method == RANDOM, c.method))


def curves_table(curves: list[RoarCurve]) -> pd.DataFrame:
    """One row per (method, mode, fraction): mean and standard deviation of the accuracy over the seeds, n seeds."""
    out = []
    for c in curves:
        for x, mean, std in zip(c.x, c.mean, c.std, strict=True):
            out.append({"method": c.method, "mode": c.mode, "fraction": x, "accuracy": mean, "std": std,
                        "n": len(c.seeds)})  # fmt: skip
    return pd.DataFrame(out, columns=["method", "mode", "fraction", "accuracy", "std", "n"])


def figure(curves: list[RoarCurve]) -> go.Figure:
    """ROAR and KAR side by side: mean accuracy per method with a band of one standard deviation over the seeds;
    the random ranking dashed. Method labels are shown as text (escaped: Plotly reads some HTML in names)."""
    modes = [m for m in MODES if any(c.mode == m for c in curves)] or list(MODES)
    fig = make_subplots(rows=1, cols=len(modes), subplot_titles=[TITLES[m] for m in modes], shared_yaxes=True)
    colours: dict[str, str] = {}
    for c in curves:
        colour = "#555555" if c.method == RANDOM else colours.setdefault(c.method, PALETTE[len(colours) % len(PALETTE)])
        col = modes.index(c.mode) + 1
        x, mean, std = list(c.x), c.mean, c.std
        if np.isfinite(std).any():
            fig.add_trace(go.Scatter(x=x + x[::-1], y=list(mean + std) + list(mean - std)[::-1], fill="toself",
                                     fillcolor=colour, opacity=0.15, line={"width": 0}, hoverinfo="skip",
                                     showlegend=False), row=1, col=col)  # fmt: skip
        name = f"{html.escape(c.method)} (n={len(c.seeds)})"
        fig.add_trace(go.Scatter(x=x, y=mean, name=name, legendgroup=c.method, showlegend=col == 1,
                                 mode="lines+markers", line={"color": colour, "dash": "dash" if c.method == RANDOM
                                                             else "solid"}), row=1, col=col)  # fmt: skip
    for i, mode in enumerate(modes, start=1):
        fig.update_xaxes(title_text="fraction removed" if mode == "roar" else "fraction kept", range=[0, 1], row=1,
                         col=i)  # fmt: skip
    fig.update_yaxes(title_text="test accuracy after retraining", row=1, col=1)
    fig.update_layout(height=420, margin={"t": 60, "b": 40}, legend={"title": "ranking"})
    return fig

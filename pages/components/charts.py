"""Plotly figures of the Explore and Evaluate pages: path profiles, and the curves of any curve measure.

Pure figure builders over plain numpy data (no ``st.*`` calls): the pages decide where and when to draw them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

PALETTE = qualitative.Plotly
STAR_COLOUR = "#d62728"


def colour(index: int) -> str:
    """The colour of the ``index``-th method, the same in every chart of a page."""
    return PALETTE[index % len(PALETTE)]


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.06, "x": 0.0},
        hovermode="x unified",
    )
    return fig


def path_figure(
    alphas: np.ndarray,
    scores: np.ndarray,
    grad_norms: np.ndarray,
    f_input: float | None,
    f_baseline: float | None,
    total: float | None,
    alpha_star: float | None,
) -> go.Figure:
    """f along the path, ``|grad f|`` along the path and ``f(path) - f(x')`` against alpha, alpha* marked.

    The third panel is the running total a complete attribution has accumulated by each node: the change of f
    since the baseline. The per-node attribution contributions are not in the extras, so this is not a cumulative
    sum of the method's own integrand; the method's actual ``sum(attr)`` is the marker at alpha = 1.
    """
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.07,
        subplot_titles=(
            "f along the path",
            "gradient norm |∇f| along the path",
            "running total f(path(α)) − f(x′) (what a complete attribution has accumulated)",
        ),
    )
    line = {"mode": "lines+markers", "marker": {"size": 5}}
    fig.add_trace(go.Scatter(x=alphas, y=scores, name="f(path(α))", line_color=colour(0), **line), row=1, col=1)
    fig.add_trace(go.Scatter(x=alphas, y=grad_norms, name="|∇f|", line_color=colour(3), **line), row=2, col=1)
    if f_baseline is not None:
        running = go.Scatter(x=alphas, y=scores - f_baseline, name="f(path(α)) − f(x′)", line_color=colour(2), **line)
        fig.add_trace(running, row=3, col=1)
        fig.add_hline(y=f_baseline, line_dash="dot", annotation_text="f(x′)", row=1, col=1)
    if f_input is not None:
        fig.add_hline(y=f_input, line_dash="dot", annotation_text="f(x)", row=1, col=1)
    if f_input is not None and f_baseline is not None:
        fig.add_hline(y=f_input - f_baseline, line_dash="dot", annotation_text="f(x) − f(x′)", row=3, col=1)
    if total is not None:
        fig.add_trace(
            go.Scatter(
                x=[1.0],
                y=[total],
                name="sum(attr)",
                mode="markers",
                marker={"size": 12, "symbol": "star"},
                marker_color=colour(4),
            ),
            row=3,
            col=1,
        )
    if alpha_star is not None:
        fig.add_vline(x=alpha_star, line_color=STAR_COLOUR, line_dash="dash", row="all", col=1)
        fig.add_annotation(
            x=alpha_star,
            y=1.0,
            yref="paper",
            text=f"α* = {alpha_star:.3f}",
            showarrow=False,
            yshift=10,
            font={"color": STAR_COLOUR},
        )
    fig.update_xaxes(title_text="α (0: baseline x′, 1: input x)", range=[-0.02, 1.02], row=3, col=1)
    return _layout(fig, 640)


def measure_curves_figure(
    groups: Sequence[tuple[str, str, Sequence[tuple[str, np.ndarray, np.ndarray]]]],
    *,
    x_title: str = "fraction",
    step_fraction: float | None = None,
    columns: int = 3,
) -> go.Figure:
    """One panel per curve ``(name, title, [(method, x, y)])``, one colour per method across the panels (the
    ``methods`` order of the first panel that has it); unscored points (NaN) are gaps."""
    methods = list(dict.fromkeys(m for _, _, lines in groups for m, _, _ in lines))
    cols = max(1, min(columns, len(groups)))
    rows = max(1, -(-len(groups) // cols))
    fig = make_subplots(
        rows=rows, cols=cols, horizontal_spacing=0.06, vertical_spacing=0.16 if rows > 1 else 0.1,
        subplot_titles=[shown for _, shown, _ in groups] or None,
    )  # fmt: skip
    for index, (_, _, lines) in enumerate(groups):
        row, col = index // cols + 1, index % cols + 1
        for method, x, y in lines:
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, name=method, legendgroup=method, showlegend=method not in _shown(fig),
                    mode="lines" if len(x) > 30 else "lines+markers", line={"color": colour(methods.index(method))},
                ),
                row=row, col=col,
            )  # fmt: skip
        fig.update_xaxes(title_text=x_title, row=row, col=col)
    if step_fraction is not None:
        fig.add_vline(x=step_fraction, line_dash="dot", line_color="gray", row="all", col="all")
    return _layout(fig, 300 * rows + 80)


def _shown(fig: go.Figure) -> set[str]:
    return {t.name for t in fig.data if t.showlegend is not False}

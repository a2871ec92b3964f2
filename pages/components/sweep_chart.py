"""Plotly figure of a hyperparameter sweep: rank correlation with the reference value, and the AUCs if computed."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots


def figure(result: Any) -> go.Figure:
    """Rank correlation vs the swept value (left axis); insertion/deletion AUC (right axis) when present.

    ``result`` is an ``xai_core.checks.SweepResult``; non-numeric values (choices) become categories.
    """
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in result.values)
    x = list(result.values) if numeric else [str(v) for v in result.values]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(x=x, y=result.rank_correlation[:, 0], mode="lines+markers", name="rank correlation ρ"),
        secondary_y=False,
    )
    for name, auc in (("insertion AUC (higher is better)", result.insertion_auc), ("deletion AUC (lower is better)",
                      result.deletion_auc)):  # fmt: skip
        if auc is not None:
            fig.add_trace(go.Scatter(x=x, y=auc[:, 0], mode="lines+markers", name=name, line={"dash": "dot"}),
                          secondary_y=True)  # fmt: skip
    fig.update_xaxes(title_text=result.param, type="linear" if numeric else "category")
    lowest = min(0.0, float(result.rank_correlation[:, 0].min()))
    fig.update_yaxes(title_text="ρ with the reference", range=[lowest - 0.05, 1.05], secondary_y=False)
    if result.insertion_auc is not None:
        fig.update_yaxes(title_text="AUC", secondary_y=True)
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": 1.15})
    return fig

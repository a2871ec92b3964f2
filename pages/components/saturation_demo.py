"""Why integrated gradients: a one-dimensional model that saturates, explained by the engine itself
(``xai_core.teaching.saturation``: IG with the path profile it records, the plain gradient and gradient x input).
Beyond the saturation point the gradient is zero although the input moved the output: the gradient says
"irrelevant", IG still adds up to f(x) - f(0) (completeness, survey eq. 2 and 12).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

import xai_core
from pages.components import state
from xai_core import teaching
from xai_core.teaching import SATURATING as FUNCTIONS


def figure(kind: str, result: teaching.Saturation) -> go.Figure:
    """f along the path with IG's nodes (left), the gradient along the path (right), the saturated region shaded."""
    t, f, grad = teaching.saturating_curve(kind, result.x)
    nodes = result.alphas * result.x
    fig = make_subplots(rows=1, cols=2, subplot_titles=("f along the path 0 → x", "gradient f′ along the path"))
    fig.add_trace(go.Scatter(x=t, y=f, name="f", line={"color": "#1f77b4", "width": 3}), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=nodes, y=result.scores, mode="markers", name="IG nodes", marker={"size": 9, "color": "#ff7f0e"}),
        row=1,
        col=1,
    )
    fig.add_trace(go.Scatter(x=t, y=grad, name="f′", line={"color": "#2ca02c", "width": 3}), row=1, col=2)
    fig.add_trace(
        go.Scatter(
            x=nodes,
            y=result.grad_norms,
            mode="markers",
            name="|f′| at IG nodes",
            marker={"size": 9, "color": "#ff7f0e"},
        ),
        row=1,
        col=2,
    )
    start = FUNCTIONS[kind][2]
    if result.x > start:
        for col in (1, 2):
            fig.add_vrect(x0=start, x1=result.x, fillcolor="#d62728", opacity=0.08, line_width=0, row=1, col=col)
        fig.add_annotation(x=(start + result.x) / 2, y=0.1, text="saturated", showarrow=False, row=1, col=2)
    fig.update_xaxes(title_text="input value on the path")
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.3})
    return fig


def render() -> None:
    """Controls (function, input, steps, rule), the plot and the four numbers with the verdict."""
    controls, plot = st.columns([1, 2.6], gap="medium")
    with controls:
        kind = st.radio(
            "Toy model", list(FUNCTIONS), format_func=lambda k: FUNCTIONS[k][0], key=state.LEARN_SAT_FUNCTION
        )
        st.latex(FUNCTIONS[kind][1])
        x = st.slider("Input x", 0.0, 4.0, 2.5, 0.1, key=state.LEARN_SAT_INPUT)
        steps = st.slider("IG steps", 1, 64, 32, key=state.LEARN_SAT_STEPS)
        rules = list(teaching.QUADRATURE_RULES)
        rule = st.selectbox(
            "Quadrature rule", rules, index=rules.index(teaching.DEFAULT_RULE), key=state.LEARN_SAT_RULE,
            help="How IG turns its integral into a sum of gradients at the nodes.",
        )  # fmt: skip
    try:
        result = teaching.saturation(kind, x, steps, rule)
    except xai_core.ParameterError as exc:  # e.g. the trapezoid rule with one step
        st.error(str(exc))
        return
    with plot:
        st.plotly_chart(figure(kind, result), width="stretch", key=state.LEARN_SAT_CHART)
    change = result.f_input - result.f_baseline
    cols = st.columns(4)
    cols[0].metric("f(x) − f(0)", f"{change:.3f}", help="What the explanation should account for.")
    cols[1].metric("IG attribution", f"{result.ig:.3f}", f"gap {result.gap:+.3f}", delta_color="off", delta_arrow="off")
    cols[2].metric("gradient × input", f"{result.gradient_x_input:.3f}")
    cols[3].metric("gradient at x", f"{result.gradient:.3f}")
    if abs(result.gap) <= 0.02 * max(abs(change), 1e-6):
        st.success(f"Completeness holds: IG adds up to f(x) − f(0) = {change:.3f} (within 2%).")
    else:
        st.warning(f"IG misses f(x) − f(0) by {result.gap:+.3f}: too few steps for this curve. Add steps.")
    if x > FUNCTIONS[kind][2]:
        st.info(
            f"x = {x:g} is in the saturated region: the gradient there is {result.gradient:.3g}, so the gradient "
            f"(and gradient × input = {result.gradient_x_input:.3g}) rate this input as (nearly) unimportant, "
            f"although it moved the output from {result.f_baseline:.2f} to {result.f_input:.2f}. IG collects the "
            "gradient along the whole path, where it was not zero."
        )

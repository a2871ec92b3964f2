"""The survey's Figure 3 as an exercise: one ReLU, a forward input z and a backward signal R that students edit.

The outputs are computed by the engine's own rule code (``xai_core.teaching.relu_rules``). The read-only grids are
HTML tables (``st.table``), so presentation mode can enlarge them like any text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages.components import state
from xai_core import teaching

DEFAULT_Q = 50.0
COLUMNS = ["1", "2", "3"]
RULES = teaching.RELU_RULES


def _frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(values, columns=COLUMNS)


def _edited(key: str, default: np.ndarray, label: str) -> np.ndarray:
    st.markdown(label)
    frame = st.data_editor(
        _frame(default),
        key=key,
        hide_index=True,
        num_rows="fixed",
        width="stretch",
        column_config={c: st.column_config.NumberColumn(c, step=1.0, format="%g") for c in COLUMNS},
    )
    values = frame.to_numpy(dtype=float)
    if np.isnan(values).any():
        st.caption("An empty cell counts as 0.")
    return np.nan_to_num(values)


def _colour(value: float) -> str:
    if value > 0:
        return "background-color: rgba(214, 39, 40, 0.25)"
    if value < 0:
        return "background-color: rgba(31, 119, 180, 0.25)"
    return "color: #9e9e9e"


def show_grid(values: np.ndarray, key: str) -> None:
    """A 3x3 HTML table with red (positive), blue (negative) and grey (blocked, zero) cells."""
    styled = _frame(values).style.map(_colour).format("{:g}").hide(axis="index")
    with st.container(key=key):
        st.table(styled)


def render() -> None:
    """Editable z and R, RectGrad's q, and the four rules' outputs side by side."""
    st.markdown(
        "In the backward pass, each ReLU receives a signal $R$ from the layer above and decides what to "
        "pass down. The four methods differ **only** in this decision. Edit any cell (double-click it) and see "
        "what each rule lets through; grey cells are blocked."
    )
    left, middle, right = st.columns([1, 1, 1], gap="medium")
    with left:
        forward = _edited(state.LEARN_RULES_FORWARD, teaching.RELU_FORWARD, "**Forward input** $z$ (into the ReLU)")
    with middle:
        signal = _edited(state.LEARN_RULES_SIGNAL, teaching.RELU_SIGNAL, "**Backward signal** $R$ (from above)")
    with right:
        st.markdown("**Activation** $a = \\max(z, 0)$")
        show_grid(np.maximum(forward, 0.0), state.LEARN_RULES_ACTIVATION)
        q = st.number_input(
            "RectGrad percentile q",
            min_value=0.0,
            max_value=100.0,
            value=DEFAULT_Q,
            step=5.0,
            key=state.LEARN_RULES_Q,
            help="RectGrad passes R where a·R is above τ_q, the q-th percentile of a·R over the layer.",
        )
    outputs = teaching.relu_rules(forward, signal, float(q))
    st.markdown("**What each rule passes to the layer below**, computed by Saliency Studio's own rule code:")
    for column, (rule, (title, latex)) in zip(st.columns(len(RULES), gap="medium"), RULES.items(), strict=True):
        with column:
            st.markdown(f"**{title}**")
            show_grid(outputs[rule], state.learn_rule_output_key(rule))
            st.latex(latex)
    st.caption(
        "Backpropagation keeps R where the forward input was positive; deconvnet keeps the positive R whatever the "
        "forward pass did; guided backpropagation needs both, so it can never show evidence against the class. "
        "RectGrad keeps the entries with the largest a·R. The survey's figure draws RectGrad for an illustrative "
        "threshold; here the threshold is the percentile q you set."
    )

"""The survey's Figure 3 as an exercise: one ReLU, a forward input z and a backward signal R that students edit.

The outputs are computed by the engine's own rule code (``xai_core.hooks.activation_rule``) on a probe
f(z) = sum(R * relu(z)) over a ``[1, 3, 3]`` tensor: the signal that reaches the ReLU from above is exactly R, so
the gradient w.r.t. z is what each rule lets through (the same probe as ``tests/test_rules.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch
import torch.nn.functional as F

from pages.components import state
from xai_core.hooks import activation_rule

# Survey Fig. 3: the ReLU's forward input and the signal arriving from the layer above in the backward pass.
FORWARD = np.array([[1.0, -1.0, 5.0], [2.0, -5.0, -7.0], [-3.0, 2.0, 4.0]])
SIGNAL = np.array([[-2.0, 3.0, -1.0], [6.0, -3.0, 1.0], [2.0, -1.0, 3.0]])
DEFAULT_Q = 50.0
COLUMNS = ["1", "2", "3"]

RULES = {  # engine rule id -> (title, what passes down, in LaTeX; R is the signal from above)
    "gradient": ("Backpropagation", r"\mathbf{1}[z > 0]\, R"),
    "deconvnet": ("Deconvnet", r"\mathbf{1}[R > 0]\, R"),
    "guided": ("Guided backpropagation", r"\mathbf{1}[z > 0]\,\mathbf{1}[R > 0]\, R"),
    "rectgrad": ("RectGrad", r"\mathbf{1}[a R > \tau_q]\, R"),
}


def apply_rules(forward: np.ndarray, signal: np.ndarray, q: float) -> dict[str, np.ndarray]:
    """What each rule passes down through one ReLU, computed by ``activation_rule`` on the probe."""
    r = torch.as_tensor(signal, dtype=torch.float64)[None]
    out = {}
    for rule in RULES:
        z = torch.as_tensor(forward, dtype=torch.float64)[None].clone().requires_grad_(True)
        with activation_rule(rule, q=q):
            score = (F.relu(z) * r).sum()
        (grad,) = torch.autograd.grad(score, z)
        out[rule] = grad[0].numpy() + 0.0  # + 0.0 turns -0.0 (a blocked negative entry) into 0.0
    return out


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
    """A 3x3 grid with red (positive), blue (negative) and grey (blocked, zero) cells."""
    styled = _frame(values).style.map(_colour).format("{:g}")
    st.dataframe(styled, hide_index=True, width="stretch", key=key)


def render() -> None:
    """Editable z and R, RectGrad's q, and the four rules' outputs side by side."""
    st.markdown(
        "In the backward pass, each ReLU receives a signal $R$ from the layer above and decides what to "
        "pass down. The four methods differ **only** in this decision. Edit any cell (double-click it) and see "
        "what each rule lets through; grey cells are blocked."
    )
    left, middle, right = st.columns([1, 1, 1], gap="medium")
    with left:
        forward = _edited(state.LEARN_RULES_FORWARD, FORWARD, "**Forward input** $z$ (into the ReLU)")
    with middle:
        signal = _edited(state.LEARN_RULES_SIGNAL, SIGNAL, "**Backward signal** $R$ (from above)")
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
    outputs = apply_rules(forward, signal, float(q))
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

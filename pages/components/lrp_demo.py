"""Survey section 2.2 on the current photo: epsilon-LRP against gradient x input, both computed by the engine.

The survey (after Ancona et al. 2018 and Shrikumar et al. 2016) states that epsilon-LRP equals gradient x input on
ReLU networks as epsilon -> 0. ``xai_core.teaching.lrp_vs_gradient_x_input`` computes both maps on the sidebar's
model and image, once on the model as it is and once with every ReLU6 run as a ReLU (same weights): EfficientNet-Lite0
clips at 6, where the gradient is zero but relevance still passes, so only the ReLU copy can show the equality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

import xai_core
from pages.components import state
from xai_core import teaching, viz

EPSILON = 1e-9  # epsilon -> 0, as the equality needs (Captum's LRP default)


@dataclass(frozen=True)
class Comparison:
    """Both maps (summed over colour channels) and how far apart they are, as plain data for the cache."""

    lrp: np.ndarray  # [H, W]
    gradient_x_input: np.ndarray  # [H, W]
    max_abs_diff: float
    relative_diff: float
    clipped_fraction: float  # share of ReLU6 inputs above 6 on this image
    copy_max_abs_diff: float  # the same on the ReLU copy
    copy_relative_diff: float


@st.cache_data(show_spinner=False, max_entries=16)
def compare(model_name: str, image_sha256: str, _model: Any, _image: Any) -> Comparison:
    """The comparison for one (model, image), cached; raises ``xai_core.HookError`` for models LRP cannot explain."""
    x = _model.preprocess(_image)
    as_is = teaching.lrp_vs_gradient_x_input(_model, x, epsilon=EPSILON)
    relu = teaching.lrp_vs_gradient_x_input(_model, x, epsilon=EPSILON, relu_copy=True)
    return Comparison(
        lrp=viz.reduce(as_is.lrp, "sum")[0],
        gradient_x_input=viz.reduce(as_is.gradient_x_input, "sum")[0],
        max_abs_diff=as_is.max_abs_diff,
        relative_diff=as_is.relative_diff,
        clipped_fraction=as_is.clipped_fraction,
        copy_max_abs_diff=relu.max_abs_diff,
        copy_relative_diff=relu.relative_diff,
    )


def _pictures(result: Comparison) -> list[np.ndarray]:
    """The two maps and their difference on one signed scale (blue negative, red positive)."""
    stack = np.stack([result.lrp, result.gradient_x_input, result.lrp - result.gradient_x_input])
    scaled = viz.normalize(stack, signed=True, percentile=99.5, shared=True)
    return [viz.colorize(m, "blue_white_red", signed=True) for m in scaled]


def render(model_name: str, model: Any, image: Any) -> None:
    """Intro, a toggle that runs the comparison on the sidebar's photo, the three maps and the numbers."""
    st.markdown(
        r"The survey (section 2.2) notes that $\epsilon$-LRP, which hands the class score down layer by layer "
        r"in proportion to each input's share $x_i w_{ij} / z_j$, equals **gradient × input** "
        r"$x_i \, \partial f_c / \partial x_i$ on ReLU networks when $\epsilon \to 0$. Check it on your photo."
    )
    if model is None or image is None:
        st.info("Choose a model that loads and a valid image in the sidebar.")
        return
    if not st.toggle("Compare the two maps on the current image", key=state.LEARN_LRP_RUN):
        st.caption(f"Runs ε-LRP (ε = {EPSILON:g}) and gradient × input on the model as it is and on a ReLU copy.")
        return
    try:
        with st.spinner("Computing ε-LRP and gradient × input…"):
            result = compare(model_name, image.sha256, model, image.image)
    except xai_core.HookError as exc:
        st.error(f"LRP cannot explain this model: {exc}")
        return
    titles = ("ε-LRP", "gradient × input", "difference (LRP − G×I)")
    for column, title, picture in zip(st.columns(3), titles, _pictures(result), strict=True):
        column.image(picture, caption=title, width="stretch")
    cols = st.columns(3)
    cols[0].metric("max |LRP − G×I|", f"{result.max_abs_diff:.3g}")
    cols[1].metric("relative difference", f"{result.relative_diff:.1%}", help="‖LRP − G×I‖₂ / ‖G×I‖₂")
    cols[2].metric("ReLU6 inputs above 6", f"{result.clipped_fraction:.2%}")
    st.markdown(
        f"**Same weights, ReLU instead of ReLU6:** max |LRP − G×I| = {result.copy_max_abs_diff:.2g}, relative "
        f"difference {result.copy_relative_diff:.1e}, which is floating-point rounding: the equality holds."
    )
    st.caption(
        "Why the model as it is differs: where a ReLU6 input exceeds 6 the unit is flat, so its gradient is 0 and "
        "gradient × input gives nothing through it, while LRP passes the relevance the clipped unit still carries."
    )

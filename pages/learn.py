"""Learn (classroom mode): the survey's map of methods, the ReLU backward rules, epsilon-LRP = gradient x input on
the current photo, and IG's saturation story.

Everything numeric on this page comes from the engine: the rules from ``xai_core.hooks.activation_rule``, the
saturation numbers from ``xai_core.attribute`` on a one-dimensional toy model, the LRP comparison from
``xai_core.methods.lrp`` on the sidebar's model and image (behind a toggle: it takes seconds). The toy computations
take milliseconds, so their widgets act immediately (no form). The presentation toggle hides the app's chrome for a
projector and survives page switches.
"""

from __future__ import annotations

import logging

import streamlit as st

import xai_core
from pages.components import (
    learn_content,
    lrp_demo,
    method_map,
    presentation,
    rules_demo,
    saturation_demo,
    sidebar,
    state,
)

log = logging.getLogger(__name__)

SURVEY = "https://arxiv.org/abs/2403.10415"
TABS = [
    "Map of methods",
    "ReLU backward rules",
    "ε-LRP = gradient × input",
    "Saturation and IG",
    "Axioms and evaluation",
]


def axioms_section() -> None:
    st.markdown(
        "Without ground truth, methods are judged by properties they should have (survey section 2.1) and by "
        "tests (section 3). The **Axioms & robustness** page checks the first kind on your model and image."
    )
    left, right = st.columns(2, gap="large")
    with left:
        for name, (idea, formula) in learn_content.AXIOMS.items():
            st.markdown(f"**{name}**: {idea}")
            st.latex(formula)
    with right:
        st.markdown("**How explanations are evaluated**")
        for name, idea in learn_content.EVALUATION.items():
            st.markdown(f"- **{name}**: {idea}")


def main() -> None:
    title, switch = st.columns([4, 1], vertical_alignment="bottom")
    title.title("Learn: gradient-based attribution")
    with switch:
        presenting = presentation.toggle()
    st.caption(
        f"A guided tour after the survey by Wang et al. ([Gradient based Feature Attribution in Explainable AI: "
        f"A Technical Review]({SURVEY})): the formulas are written in this app's notation."
    )
    tabs = st.tabs(TABS)
    with tabs[0]:
        method_map.render(xai_core.methods.describe(), presenting)
    with tabs[1]:
        rules_demo.render()
    with tabs[2]:
        name, model = sidebar.current_model()
        lrp_demo.render(name, model, st.session_state.get(state.IMAGE))
    with tabs[3]:
        st.markdown(
            "A model can depend on an input and still have **zero gradient** there: once the output saturates, "
            "small changes do nothing. Integrated gradients walks from a baseline $x' = 0$ to $x$ and adds up the "
            "gradient on the way, so the attribution accounts for the whole change $f(x) - f(0)$."
        )
        saturation_demo.render()
    with tabs[4]:
        axioms_section()


try:
    main()
except Exception as exc:  # the page boundary: a message for the user, the traceback for the log
    log.exception("learn page failed")
    st.error(f"Something went wrong on this page: {exc}")

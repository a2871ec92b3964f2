"""Learn (classroom mode): the survey's map of methods with a card per family run on the current photo, the ReLU
backward rules, epsilon-LRP = gradient x input on the current photo, and IG's saturation story.

Everything numeric on this page comes from the engine (``xai_core.teaching``, ``xai_core.attribute``); names and
papers come from the registries. Presentation mode (the sidebar's toggle) enlarges the whole app for a projector.
"""

from __future__ import annotations

import streamlit as st

from pages.components import lrp_demo, method_map, page, presentation, rules_demo, saturation_demo, sidebar, state
from xai_core import teaching

SURVEY = "https://arxiv.org/abs/2403.10415"
TABS = ["Map of methods", "ReLU backward rules", "ε-LRP = gradient × input", "Saturation and IG", "Axioms"]


def axioms_section() -> None:
    st.markdown(
        "Without ground truth, methods are judged by properties they should have (survey section 2.1) and by "
        "tests (section 3). The **Axioms & robustness** page checks the first kind on your model and image."
    )
    left, right = st.columns(2, gap="large")
    with left:
        for name, (idea, formula) in teaching.AXIOMS.items():
            st.markdown(f"**{name}**: {idea}")
            st.latex(formula)
    with right:
        st.markdown("**How explanations are evaluated**")
        for name, idea in teaching.EVALUATION.items():
            st.markdown(f"- **{name}**: {idea}")
        st.caption("Every measure of this app, with its paper, is listed under the map of methods.")


st.title("Learn: gradient-based attribution")
st.caption(
    f"A guided tour after the survey by Wang et al. ([Gradient based Feature Attribution in Explainable AI: "
    f"A Technical Review]({SURVEY})): the formulas are written in this app's notation."
)
subject = page.current() if st.session_state.get(state.IMAGE) is not None else None
tabs = st.tabs(TABS)
with tabs[0]:
    method_map.render(subject, presentation.on())
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

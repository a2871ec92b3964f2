"""Robustness & complexity page: per method, every registered robustness measure (how much the map moves when the
image moves a little: it needs an explainer, built from the method's own request) and complexity measure (how
concentrated the map is), with the perturbed copy of the image that produced each method's worst case.

Measures, their papers, directions and settings come from ``xai_core.metrics`` (``measures``): a measure
registered later shows up here unchanged. Maps come from the shared cache (``runner``); the measures of one map are
computed together (the perturbation measures share their perturbed explanations) and cached per measure.
"""

from __future__ import annotations

import streamlit as st

from pages.components import measures, page, runner, state, urlstate, worst_case

SCOPE = "robust"
DEFAULT_METHODS = ("saliency", "grad_cam")
SUPPLIED = ("model", "inputs", "maps", "explainer")
FAMILIES = ("robustness", "complexity")

subject = page.subject()
urlstate.restore(SCOPE)
st.title("Robustness & complexity")
target = subject.predicted
offered = measures.available(FAMILIES, SUPPLIED)
picture, settings = st.columns([1, 3], gap="medium")
page.picture(subject, picture, f"{subject.image.name}: explaining class {subject.label(target)}")
with settings:
    choice = measures.form(SCOPE, subject, offered, offered, DEFAULT_METHODS, form_key=state.ROBUST_FORM,
                           submit_key=state.ROBUST_SUBMIT)  # fmt: skip
urlstate.publish(SCOPE, choice.requests)
with st.expander(f"The {len(offered)} robustness and complexity measures: what they measure, their papers"):
    measures.about(offered, key=state.ROBUST_ABOUT)
    st.caption(
        "Robustness measures explain perturbed copies of the image with the method's own settings (post-processing "
        "included), so they cost one map per copy: the progress bar shows the time left. Complexity measures read "
        "the map alone."
    )
runner.stopped_note()
if not offered:
    st.info("No robustness or complexity measure is registered in this version of xai_core.")
    st.stop()
result = measures.submit(SCOPE, subject, state.ROBUST_RESULTS, submitted=choice.submitted, requests=choice.requests,
                         names=choice.names, values=choice.values, target=target)  # fmt: skip
if result is None:
    st.caption("Choose methods and measures, then press **Compute measures**.")
    st.stop()
measures.show_table(result)
worst_case.show(subject, result)

"""Faithfulness page: every registered faithfulness measure on the chosen methods' maps, with its curves, a table of
scores ranked by each measure's direction, and the perturbed image at any step of a perturbation curve.

Which measures exist, their papers, directions and settings come from ``xai_core.metrics`` (``measures``): a
measure registered later shows up here unchanged. Maps come from the shared cache (``runner``); the measures are
computed together (``metrics.evaluate_many``: the perturbation curves are scored once for all the measures built
on them) and cached per measure, so adding one computes that one alone.
"""

from __future__ import annotations

import streamlit as st

from pages.components import charts, curves, measures, page, runner, state, urlstate
from xai_core import metrics

SCOPE = "faith"
DEFAULT_METHODS = ("saliency", "grad_cam")
SUPPLIED = ("model", "inputs", "maps", "explainer")  # what this page can give a measure

subject = page.subject()
urlstate.restore(SCOPE)
st.title("Faithfulness")
target = subject.predicted
offered = measures.available("faithfulness", SUPPLIED)
picture, settings = st.columns([1, 3], gap="medium")
page.picture(subject, picture, f"{subject.image.name}: explaining class {subject.label(target)}")
with settings:
    choice = measures.form(SCOPE, subject, offered, metrics.REPORT, DEFAULT_METHODS, form_key=state.FAITH_FORM,
                           submit_key=state.FAITH_SUBMIT)  # fmt: skip
urlstate.publish(SCOPE, choice.requests)
with st.expander(f"The {len(offered)} faithfulness measures: what they measure, their papers"):
    measures.about(offered, key=state.FAITH_ABOUT)
runner.stopped_note()
result = measures.submit(SCOPE, subject, state.FAITH_RESULTS, submitted=choice.submitted, requests=choice.requests,
                         names=choice.names, values=choice.values, target=target)  # fmt: skip
if result is None:
    st.caption("Choose methods and measures, then press **Compute measures**.")
    st.stop()
measures.show_table(result)
groups = measures.curves(result)
slot = st.container()
step = curves.step_viewer(subject, result)
if groups:
    slot.subheader("Curves")
    figure = charts.measure_curves_figure(groups, x_title="fraction perturbed", step_fraction=step)
    slot.plotly_chart(figure, key=state.FAITH_CHART)

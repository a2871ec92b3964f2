"""Explain page: the model's top predictions for the chosen image and saliency maps of several methods side by side.

Method settings sit in an ``st.form`` (nothing recomputes while they are edited), one tab per method, in a box of
fixed height beside the image so the maps are on screen after Compute; the display controls sit outside it and
only re-colour the cached maps. The address bar carries the view (``urlstate``); "Send to" carries the explained
requests, post-processing included, to an Evaluate page.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from pages.components import compute, fair, method_settings, overlays, page, runner, state, urlstate

SCOPE = "explain"
DEFAULT_METHODS = ("saliency", "grad_cam")
FORM_BOX = "explain-form-box"  # the form scrolls inside this box (30% of the screen's height: presentation.FRAME_CSS)
SEND_TO = {  # scope -> (page title, page file)
    "faith": ("Faithfulness", "pages/faithfulness.py"),
    "loc": ("Localization", "pages/localization.py"),
    "robust": ("Robustness & complexity", "pages/robustness.py"),
    "axioms.check": ("Axioms & robustness", "pages/axioms.py"),
}


def predictions_table(top_k: Sequence[tuple[int, str, float]]) -> None:
    frame = pd.DataFrame(top_k, columns=["class", "label", "probability"])
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "class": st.column_config.NumberColumn("class", width=48),
            "label": st.column_config.TextColumn("label"),
            "probability": st.column_config.ProgressColumn(
                "probability", format="percent", min_value=0.0, max_value=1.0, width=110
            ),
        },
    )


def send(run: compute.ExplainRun) -> None:
    """Send the explained requests (exactly, noise included) to an Evaluate page's form and open it."""
    requests = [item.request for item in run.items if isinstance(item, compute.MapResult)]
    if not requests:
        return
    where, button = st.columns([2, 1], vertical_alignment="bottom")
    scope = where.selectbox(
        "Evaluate these maps on", list(SEND_TO), format_func=lambda s: SEND_TO[s][0], key=state.EXPLAIN_SEND
    )
    if button.button("Send", key=state.EXPLAIN_SEND_BUTTON, icon=":material/send:", width="stretch"):
        method_settings.send(scope, requests)
        st.switch_page(SEND_TO[scope][1])


subject = page.subject()
urlstate.restore(SCOPE)
st.title("Explain a prediction")
picture, predictions, settings = st.columns([1, 1.1, 1.9], gap="medium")
page.picture(subject, picture)
with predictions:
    st.markdown("**Top-5 predictions**")
    predictions_table(subject.prepared.top_k)
with settings:
    chosen = method_settings.pick(SCOPE, DEFAULT_METHODS, describe=runner.labels(subject))
    with st.form(state.EXPLAIN_FORM, border=False):
        target = st.selectbox(
            "Target class (type to search)", range(len(subject.labels)), index=subject.predicted,
            format_func=subject.label, key=state.target_key(subject.model_name, subject.image.sha256),
            help="The class whose score is explained; the predicted class by default.",
        )  # fmt: skip
        with st.container(border=True, key=FORM_BOX):
            requests = method_settings.form(SCOPE, chosen, layers=subject.model.cam_layers(), bound=fair.bound)
        submitted = st.form_submit_button("Compute maps", type="primary", key=state.EXPLAIN_SUBMIT)
urlstate.publish(SCOPE, requests)
if note := urlstate.upload_note():
    st.caption(note)
runner.stopped_note()
if submitted and not chosen:
    st.warning("Choose at least one method.")
elif submitted:
    items = runner.maps(subject, requests, int(target))
    run = compute.ExplainRun(subject.model_name, subject.image.sha256, int(target), items)
    st.session_state[state.EXPLAIN_RESULTS] = run
run: compute.ExplainRun | None = st.session_state.get(state.EXPLAIN_RESULTS)
if run is None or (run.model_name, run.image_sha256) != (subject.model_name, subject.image.sha256):
    st.subheader("Saliency maps")
    st.caption("Choose methods and press **Compute maps**.")
    st.stop()
st.subheader(f"Saliency maps for class {subject.label(run.target)}")
display = overlays.controls()
provenance = {"model": run.model_name, "image": subject.image.name, "image_sha256": run.image_sha256}
overlays.grid(subject.prepared.display, run.items, display, provenance)
send(run)

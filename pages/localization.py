"""Localization page: do the maps point at the object? Pointing game, energy pointing game, extended pointing game
and weakly supervised localisation (WSOL IoU) against a bounding box.

The box is drawn on the image (a rectangle dragged on it) or typed in the displayed (model input) coordinates,
pre-filled from ``assets/annotations.json`` for the bundled samples, or read from an uploaded CSV/JSON box file
(original image coordinates). Maps come from the shared cache; the metrics are cheap and follow the box and
settings without recomputing maps (``components/pointing.py``).
"""

from __future__ import annotations

import streamlit as st

from pages.components import boxes, compute, fair, method_settings, page, pointing, runner, state, urlstate

SCOPE = "loc"
DEFAULT_METHODS = ("saliency", "grad_cam")

subject = page.subject()
urlstate.restore(SCOPE)
st.title("Localization")
model, image, target = subject.model, subject.image, subject.predicted
picture, settings = st.columns([1, 2], gap="medium")
with settings:
    st.markdown(f"**Box** in the displayed {model.input_size[1]}×{model.input_size[0]} image (x1, y1 exclusive)")
    slot = st.container()
    found, from_file = pointing.box_source(model, image)
    with slot:
        typed = pointing.box_inputs(image, found[0], model.input_size, disabled=from_file)
    if not from_file:
        found = [typed] if typed[2] > typed[0] and typed[3] > typed[1] else []
        if not found:
            st.error("The box needs x1 > x0 and y1 > y0.")
    chosen = method_settings.pick(SCOPE, DEFAULT_METHODS, describe=runner.labels(subject))
    with st.form(state.LOC_FORM):
        with st.container(height=300):
            specs = method_settings.form(SCOPE, chosen, layers=model.cam_layers(), bound=fair.bound)
        submitted = st.form_submit_button("Compute maps", type="primary", key=state.LOC_SUBMIT)
urlstate.publish(SCOPE, specs)
with picture:
    shown = boxes.draw(subject.prepared.display, found, boxes.TRUTH)
    if from_file:
        st.image(shown, width="stretch")
    else:
        st.plotly_chart(
            boxes.drawing_figure(shown),
            key=state.LOC_DRAW,
            on_select=lambda: pointing.take_drawn_box(image.sha256, model.input_size),
            selection_mode="box",
            config={"displayModeBar": False},
        )
    hint = "" if from_file else " Drag a rectangle on the image to draw the box."
    st.caption(f"{image.name}: explaining class {subject.label(target)}.{hint}")
runner.stopped_note()
if submitted:
    items = runner.maps(subject, specs, target)
    for failure in (i for i in items if isinstance(i, compute.Failure)):
        st.error(f"{method_settings.title(failure.method)}: {failure.message}")
    maps = [i for i in items if isinstance(i, compute.MapResult)]
    st.session_state[state.LOC_RESULTS] = (subject.model_name, image.sha256, maps)
stored = st.session_state.get(state.LOC_RESULTS)
if stored is None or stored[:2] != (subject.model_name, image.sha256) or not stored[2] or not found:
    st.caption("Choose methods and press **Compute maps**.")
    st.stop()
pointing.results(subject.prepared.display, stored[2], found)

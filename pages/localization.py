"""Localization page: do the maps point at the object? Every registered localization measure against a bounding
box (pointing games, WSOL) and, once one is drawn or uploaded, a segmentation mask (relevance mass and rank,
top-k intersection, ...).

The box is drawn on the image, typed, pre-filled from ``assets/annotations.json`` for the bundled samples, or read
from an uploaded CSV/JSON box file (``pointing``). The mask is drawn on the image (freehand polygons and rectangles
added up, an eraser) or uploaded as a PNG (``masks_view``). Maps come from the shared cache; the measures are cheap
and follow the box, the mask and their settings without recomputing maps (cached per box and mask, ``measures``).
"""

from __future__ import annotations

import streamlit as st

from pages.components import (
    boxes,
    charts,
    compute,
    fair,
    masks_view,
    measures,
    method_settings,
    page,
    pointing,
    runner,
    state,
    urlstate,
)
from pages.components.widgets import kept

SCOPE = "loc"
DEFAULT_METHODS = ("saliency", "grad_cam")
SUPPLIED = ("model", "inputs", "maps", "boxes", "masks")

subject = page.subject()
urlstate.restore(SCOPE)
st.title("Localization")
model, image, target = subject.model, subject.image, subject.predicted
size = model.input_size
picture, settings = st.columns([1, 2], gap="medium")
with settings:
    st.markdown(f"**Box** in the displayed {size[1]}×{size[0]} image (x1, y1 exclusive)")
    slot = st.container()
    found, from_file = pointing.box_source(model, image)
    with slot:
        typed = pointing.box_inputs(image, found[0], size, disabled=from_file)
    if not from_file:
        found = [typed] if typed[2] > typed[0] and typed[3] > typed[1] else []
        if not found:
            st.error("The box needs x1 > x0 and y1 > y0.")
    with st.expander("**Mask**: draw it on the image or upload a PNG", expanded=True):
        mask = masks_view.source(model, image)
    chosen = method_settings.pick(SCOPE, DEFAULT_METHODS, describe=runner.labels(subject))
    with st.form(state.LOC_FORM):
        with st.container(height=260):
            specs = method_settings.form(SCOPE, chosen, layers=model.cam_layers(), bound=fair.bound)
        submitted = st.form_submit_button("Compute maps", type="primary", key=state.LOC_SUBMIT)
urlstate.publish(SCOPE, specs)
with picture:
    tools = [t for t in masks_view.TOOLS if not (from_file and t == masks_view.BOX)]
    tool = kept(st.radio, "Dragging on the image draws", state.LOC_TOOL, tools[0], options=tools,
                format_func=masks_view.TOOLS.get, horizontal=True)  # fmt: skip
    shown = masks_view.tinted(boxes.draw(subject.prepared.display, found, boxes.TRUTH), mask)
    masks_view.drawing(shown, image.sha256, size, tool,
                       lambda: pointing.take_drawn_box(image.sha256, size))  # fmt: skip
    st.caption(f"{image.name}: explaining class {subject.label(target)}. Green: the box; blue: the mask.")
runner.stopped_note()
if submitted:
    items = runner.maps(subject, specs, target)
    for failure in (i for i in items if isinstance(i, compute.Failure)):
        st.error(f"{method_settings.title(failure.method)}: {failure.message}")
    st.session_state[state.LOC_RESULTS] = (subject.model_name, image.sha256, items)
stored = st.session_state.get(state.LOC_RESULTS)
maps = [i for i in stored[2] if isinstance(i, compute.MapResult)] if stored else []
if stored is None or stored[:2] != (subject.model_name, image.sha256) or not maps or not found:
    st.caption("Choose methods and press **Compute maps**.")
    st.stop()
offered = measures.available("localization", SUPPLIED)
with st.expander(f"The {len(offered)} localization measures: what they measure, their papers"):
    measures.about(offered, key=state.LOC_ABOUT)
    st.caption("A measure that needs the true class takes the explained one (the model's prediction).")
names = measures.pick(SCOPE, offered, offered)
values = measures.settings_form(SCOPE, names)
supplied = {"boxes": [found]} | ({"masks": mask[None]} if mask is not None else {})
ready = [n for n in names if set(measures.needs(n)) <= {"model", "inputs", "maps", *supplied}]
context = f"{found}|{masks_view.fingerprint(mask)}"
run = measures.run(SCOPE, subject, maps, {n: values[n] for n in ready}, context=context, supplied=supplied, quiet=True)
st.session_state[state.LOC_SCORES] = run
if run is None:
    st.stop()
pending = {n: "needs a mask: draw one on the image or upload a PNG" for n in names if n not in ready}
measures.show_table(run, key=state.LOC_TABLE, pending=pending)
groups = measures.curves(run)
if groups:
    st.plotly_chart(charts.measure_curves_figure(groups, x_title="energy fraction p"), key=state.LOC_CHART)
if "extended_pointing_game" in run.settings:
    st.caption(
        "Extended pointing game (the survey's definition): p is a hit only when every pixel holding the share "
        "p of the map's positive energy lies in the box; the precision curve is the share of them inside."
    )
pointing.gallery(subject.prepared.display, run, found, mask)

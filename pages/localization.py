"""Localization page: do the maps point at the object? Pointing game, energy pointing game, extended pointing game
and weakly supervised localisation (WSOL IoU) against a bounding box.

The box is drawn on the image (a rectangle dragged on it) or typed in the displayed (model input) coordinates,
pre-filled from ``assets/annotations.json`` for the bundled samples, or read from an uploaded CSV/JSON box file
(original image coordinates). Maps come from the shared cache; the metrics are cheap and follow the box and
settings without recomputing maps.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import streamlit as st

import xai_core
from pages.components import boxes, charts, compute, method_form, sidebar, state
from xai_core import metrics, viz

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("saliency", "grad_cam")
COLUMNS = 3
DEFAULTS = {name: metrics.resolve(name, {}) for name in ("pointing_game", "extended_pointing_game", "wsol")}
UPLOAD_HELP = (
    "CSV rows image,x0,y0,x1,y1[,label] or JSON {image: [[x0, y0, x1, y1], ...]}, in the ORIGINAL image's pixels "
    "(x1, y1 exclusive); the rows of this image (by file name or sample id) are used."
)


def box_source(model: Any, image: Any) -> tuple[list[boxes.Coords], bool]:
    """Boxes in display coordinates from an upload (True) or the annotations / a centred default (False)."""
    sample = st.session_state.get(state.IMAGE_ORIGIN) or (None, None)
    names = boxes.image_names(image, sample[1] if sample[0] == "sample" else None)
    uploaded = st.file_uploader("…or upload boxes (CSV/JSON)", ["csv", "json"], key=state.LOC_UPLOAD, help=UPLOAD_HELP)
    if uploaded is not None:
        try:
            found = boxes.find(boxes.parse_upload(uploaded), names)
        except ValueError as exc:
            st.error(str(exc))
            found = None
        else:
            if found is None:
                st.warning(f"{uploaded.name} has no boxes for {' / '.join(names)}; using the typed box.")
        shown = boxes.to_display(model, found or [], image.image.size)
        if found and not shown:
            st.warning(f"The boxes in {uploaded.name} fall outside the centre crop; using the typed box.")
        if shown:
            st.caption(f"{len(shown)} box(es) from {uploaded.name}; remove the file to type a box.")
            return shown, True
    annotated = boxes.find(boxes.annotations(), names[-1:]) if sample[0] == "sample" else None
    if annotated:
        label = ", ".join(b.label or "object" for b in annotated)
        st.caption(f"Pre-filled from assets/annotations.json ({label}), mapped into the centre crop.")
        return boxes.to_display(model, annotated, image.image.size), False
    h, w = model.input_size
    return [(w / 4, h / 4, 3 * w / 4, 3 * h / 4)], False


def take_drawn_box(image_sha256: str, size: tuple[int, int]) -> None:
    """on_select of the drawing chart: a dragged rectangle becomes the typed box (callbacks run before the rerun,
    when the box inputs may still be set)."""
    drawn = boxes.selected_box(st.session_state.get(state.LOC_DRAW), size)
    if drawn is not None:
        for name, value in zip(("x0", "y0", "x1", "y1"), drawn, strict=True):
            st.session_state[state.box_key(image_sha256, name)] = int(value)


def box_inputs(image: Any, default: boxes.Coords, size: tuple[int, int], disabled: bool) -> boxes.Coords:
    h, w = size
    values = []
    for col, name, value, limit in zip(st.columns(4), ("x0", "y0", "x1", "y1"), default, (w, h, w, h), strict=True):
        key = state.box_key(image.sha256, name)
        values.append(col.number_input(name, 0, limit, round(value), key=key, disabled=disabled))
    x0, y0, x1, y1 = values
    return (x0, y0, x1, y1)


def evaluate(items: list[Any], found: list[boxes.Coords], tolerance: float, threshold: float, points: int) -> list:
    rows = []
    for item in items:
        per = [found]
        rows.append(
            (
                item,
                metrics.pointing_game(item.map, per, tolerance=tolerance),
                metrics.energy_pointing_game(item.map, per),
                metrics.extended_pointing_game(item.map, per, points=points),
                metrics.extended_pointing_precision(item.map, per, points=points),
                metrics.wsol(item.map, per, threshold=threshold),
            )
        )
    return rows


def results(display: Any, items: list[Any], found: list[boxes.Coords]) -> None:
    c1, c2, c3 = st.columns(3)
    tolerance = c1.slider(
        "Pointing tolerance (px)", 0, 50, int(DEFAULTS["pointing_game"]["tolerance"]), key=state.LOC_TOLERANCE
    )
    threshold = c2.slider(
        "WSOL threshold (× max)", 0.05, 1.0, DEFAULTS["wsol"]["threshold"], 0.05, key=state.LOC_THRESHOLD
    )
    points = c3.number_input(
        "Extended pointing game points", 3, 201, DEFAULTS["extended_pointing_game"]["points"], key=state.LOC_POINTS
    )
    rows = evaluate(items, found, tolerance, threshold, int(points))
    table = [
        {
            "method": item.method,
            "pointing game ↑": "hit" if pg.value > 0 else "miss",
            "energy pointing game ↑": epg.value,
            "extended PG AUC ↑": ext.value,
            "extended PG precision AUC ↑": prec.value,
            "WSOL IoU ↑": ws.value,
            "WSOL box": str(tuple(int(v) for v in ws.boxes[0])),
        }
        for item, pg, epg, ext, prec, ws in rows
    ]
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    curves = [(item.method, prec.fractions, prec.scores[0], prec.value) for item, _pg, _epg, _ext, prec, _ws in rows]
    st.markdown(
        "**Extended pointing game** ↑: precision inside the box of the pixels holding a fraction p of the "
        "map's positive energy (the survey's AUC in the table counts p as a hit only when all of them are inside)"
    )
    st.plotly_chart(charts.pointing_figure(curves), key=state.LOC_CHART)
    st.caption("Green: the box · orange: WSOL's predicted box · cross: the map's maximum (cyan hit, red miss).")
    for start in range(0, len(rows), COLUMNS):
        for col, (item, pg, epg, ext, _prec, ws) in zip(
            st.columns(COLUMNS), rows[start : start + COLUMNS], strict=False
        ):
            picture = viz.overlay(display, viz.normalize(item.map, percentile=99.0), alpha=0.5, cmap="inferno")
            picture = boxes.draw(boxes.draw(picture, found, boxes.TRUTH), [tuple(ws.boxes[0])], boxes.PREDICTED)
            picture = boxes.mark(picture, pg.points[0], pg.value > 0, tolerance)
            col.image(picture, caption=item.method, width="stretch")
            col.caption(
                f"Pointing game: **{'hit' if pg.value > 0 else 'miss'}** at {tuple(int(v) for v in pg.points[0])} · "
                f"energy {epg.value:.3f} · extended AUC {ext.value:.3f} · WSOL IoU {ws.value:.3f}"
            )


def main() -> None:
    st.title("Localization")
    name, model = sidebar.current_model()
    image = st.session_state.get(state.IMAGE)
    if model is None or image is None:
        st.info("Choose a model that loads and a valid image in the sidebar.")
        return
    prepared = compute.prepare(name, image.sha256, model, image.image)
    target, label = prepared.top_k[0][0], prepared.top_k[0][1]
    catalog = {m["name"]: m for m in xai_core.methods.describe()}
    picture, settings = st.columns([1, 2], gap="medium")
    with settings:
        st.markdown(f"**Box** in the displayed {model.input_size[1]}×{model.input_size[0]} image (x1, y1 exclusive)")
        slot = st.container()
        found, from_file = box_source(model, image)
        with slot:
            typed = box_inputs(image, found[0], model.input_size, disabled=from_file)
        if not from_file:
            found = [typed] if typed[2] > typed[0] and typed[3] > typed[1] else []
            if not found:
                st.error("The box needs x1 > x0 and y1 > y0.")
        chosen = st.multiselect(
            "Methods", list(catalog), default=[m for m in DEFAULT_METHODS if m in catalog], key=state.LOC_METHODS
        )
        with st.form(state.LOC_FORM):
            specs = method_form.specs("loc", catalog, chosen)
            submitted = st.form_submit_button("Compute maps", type="primary", key=state.LOC_SUBMIT)
    with picture:
        shown = boxes.draw(prepared.display, found, boxes.TRUTH)
        if from_file:
            st.image(shown, width="stretch")
        else:
            st.plotly_chart(
                boxes.drawing_figure(shown),
                key=state.LOC_DRAW,
                on_select=lambda: take_drawn_box(image.sha256, model.input_size),
                selection_mode="box",
                config={"displayModeBar": False},
            )
        hint = "" if from_file else " Drag a rectangle on the image to draw the box."
        st.caption(f"{image.name}: explaining class {target} · {label}.{hint}")
    if submitted:
        items, bar = [], st.progress(0.0)
        for i, spec in enumerate(specs):
            if isinstance(spec, compute.Failure):
                st.error(spec.message)
                continue
            bar.progress(i / len(specs), text=f"Computing {spec.method} ({i + 1}/{len(specs)})…")
            try:
                items.append(compute.compute_map(name, model, image, spec, target))
            except Exception as exc:  # ParameterError or a failing method: say which, go on with the others
                log.exception("method %s failed", spec.method)
                st.error(f"{spec.method}: {exc}")
        bar.empty()
        st.session_state[state.LOC_RESULTS] = (name, image.sha256, items)
    stored = st.session_state.get(state.LOC_RESULTS)
    if stored is None or stored[:2] != (name, image.sha256) or not stored[2] or not found:
        st.caption("Choose methods and press **Compute maps**.")
        return
    results(prepared.display, stored[2], found)


try:
    main()
except Exception as exc:  # the page boundary: a message for the user, the traceback for the log
    log.exception("localization page failed")
    st.error(f"Something went wrong on this page: {exc}")

"""The Localization page's pieces: where the box comes from (annotations, an upload, a rectangle drawn on the
image, four typed numbers), and the pointing-game family of measures on each map against it.

Measures, titles and defaults come from the metric registry (``xai_core.metrics``); boxes are in the displayed
(model input) coordinates, the maps' (``boxes.to_display`` maps an annotation file's original-image boxes there).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pages.components import boxes, charts, state
from xai_core import metrics, viz

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
            "method": item.title,
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
    curves = [(item.title, prec.fractions, prec.scores[0], prec.value) for item, _pg, _epg, _ext, prec, _ws in rows]
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
            col.image(picture, caption=item.title, width="stretch")
            col.caption(
                f"Pointing game: **{'hit' if pg.value > 0 else 'miss'}** at {tuple(int(v) for v in pg.points[0])} · "
                f"energy {epg.value:.3f} · extended AUC {ext.value:.3f} · WSOL IoU {ws.value:.3f}"
            )

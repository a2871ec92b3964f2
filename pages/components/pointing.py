"""The Localization page's pieces: where the box comes from (annotations, an upload, a rectangle drawn on the
image, four typed numbers), and each map drawn with the box, the mask and what the measures found.

Boxes are in the displayed (model input) coordinates, the maps' (``boxes.to_display`` maps an annotation file's
original-image boxes there). The measures themselves are the registry's (``measures``); their records are drawn by
what they carry (``points``: the map's maximum; ``boxes``: a box drawn from the map), never by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import streamlit as st

from pages.components import boxes, masks_view, state
from xai_core import viz

COLUMNS = 3
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


def marks(picture: np.ndarray, scored: Any, settings: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """What the records say about the map, drawn on its overlay: a record's ``points`` (the map's maximum, with the
    tolerance circle of its settings) and ``boxes`` (a box drawn from the map)."""
    for name, result in scored.results.items():
        points, drawn = getattr(result, "points", None), getattr(result, "boxes", None)
        if points is not None:
            tolerance = float(settings.get(name, {}).get("tolerance", 0.0))
            picture = boxes.mark(picture, np.asarray(points)[0], float(result.value) > 0, tolerance)
        if drawn is not None and np.asarray(drawn).ndim == 2:
            picture = boxes.draw(picture, [tuple(np.asarray(drawn)[0])], boxes.PREDICTED)
    return picture


def gallery(display: np.ndarray, run: Any, found: list[boxes.Coords], mask: np.ndarray | None) -> None:
    """Each map over the image with the box, the mask and the records' marks; its values in the caption."""
    st.caption("Green: the box · blue: the mask · orange: a box drawn from the map · cross: the map's maximum "
               "(cyan hit, red miss).")  # fmt: skip
    for start in range(0, len(run.scored), COLUMNS):
        for col, scored in zip(st.columns(COLUMNS), run.scored[start : start + COLUMNS], strict=False):
            picture = viz.overlay(display, viz.normalize(scored.item.map, percentile=99.0), alpha=0.5, cmap="inferno")
            picture = marks(boxes.draw(masks_view.tinted(picture, mask), found, boxes.TRUTH), scored, run.settings)
            col.image(picture, caption=scored.item.title, width="stretch")

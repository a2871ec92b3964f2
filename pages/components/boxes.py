"""Bounding boxes for the Localization page: the bundled annotations, uploaded box files, drawing.

Annotation files give boxes ``(x0, y0, x1, y1)`` (x1/y1 exclusive) in the ORIGINAL image's pixels, keyed by image
name (``assets/annotations.json`` uses the sample ids); ``to_display`` maps them through the model's resize and
centre crop (``ModelWrapper.box_to_input``) into the displayed input, the coordinates of the maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from xai_core import metrics

ANNOTATIONS = Path(__file__).resolve().parents[2] / "assets" / "annotations.json"
Coords = tuple[float, float, float, float]

TRUTH = (0, 200, 0)
PREDICTED = (255, 140, 0)
HIT, MISS = (0, 230, 255), (255, 40, 40)


@st.cache_data(show_spinner=False)
def _annotations(path: str, mtime: float) -> dict[str, list[metrics.Box]]:
    return metrics.load_boxes(path)


def annotations() -> dict[str, list[metrics.Box]]:
    """The bundled sample annotations (original image coordinates), or ``{}`` without the file."""
    if not ANNOTATIONS.is_file():
        return {}
    return _annotations(str(ANNOTATIONS), ANNOTATIONS.stat().st_mtime)


def parse_upload(uploaded: Any) -> dict[str, list[metrics.Box]]:
    """Boxes per image name from an uploaded ``.csv`` or ``.json`` file (``metrics.parse_boxes``).

    Raises:
        ValueError: the file is not UTF-8 text or not a valid box file; the message names the line.
    """
    fmt = Path(uploaded.name).suffix.lower().lstrip(".")
    try:
        text = uploaded.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{uploaded.name}: not a UTF-8 text file") from None
    try:
        return metrics.parse_boxes(text, fmt)
    except ValueError as exc:
        raise ValueError(f"{uploaded.name}: {exc}") from None


def find(found: dict[str, list[metrics.Box]], names: Sequence[str]) -> list[metrics.Box] | None:
    """The boxes of the first of ``names`` (an image's name, file name, stem, sample id) present in ``found``."""
    return next((found[n] for n in names if n in found), None)


def image_names(image: Any, sample_id: str | None) -> list[str]:
    name = str(image.name)
    names = [name, Path(name).name, Path(name).stem]
    return [n for n in dict.fromkeys([*names, sample_id] if sample_id else names) if n]


def to_display(model: Any, found: Sequence[metrics.Box], image_size: tuple[int, int]) -> list[Coords]:
    """Boxes in the model input's pixels; boxes that fall outside the centre crop are dropped."""
    out = []
    for box in found:
        x0, y0, x1, y1 = model.box_to_input((box.x0, box.y0, box.x1, box.y1), image_size)
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1, y1))
    return out


def draw(rgb: np.ndarray, found: Sequence[Coords], colour: tuple[int, int, int], thickness: int = 2) -> np.ndarray:
    """Outlines of ``found`` (x1/y1 exclusive: the last covered pixel is x1 - 1) on a copy of ``rgb``."""
    out = np.ascontiguousarray(rgb).copy()
    for x0, y0, x1, y1 in found:
        top_left = (round(x0), round(y0))
        bottom_right = (max(round(x1) - 1, round(x0)), max(round(y1) - 1, round(y0)))
        cv2.rectangle(out, top_left, bottom_right, colour, thickness, lineType=cv2.LINE_AA)
    return out


def mark(rgb: np.ndarray, point: Sequence[int], hit: bool, tolerance: float) -> np.ndarray:
    """The map's maximum as a cross, with the pointing game's tolerance circle around it."""
    out = np.ascontiguousarray(rgb).copy()
    colour, centre = (HIT if hit else MISS), (int(point[0]), int(point[1]))
    cv2.drawMarker(out, centre, (0, 0, 0), cv2.MARKER_CROSS, 17, 4, cv2.LINE_AA)
    cv2.drawMarker(out, centre, colour, cv2.MARKER_CROSS, 15, 2, cv2.LINE_AA)
    if tolerance > 0:
        cv2.circle(out, centre, round(tolerance), colour, 1, cv2.LINE_AA)
    return out


GRID_STEP = 4  # px between the invisible points that make the image selectable (plotly selects traces' points)


def drawing_figure(rgb: np.ndarray) -> go.Figure:
    """The image in a Plotly figure in box-select mode: dragging a rectangle on it draws a box (in its pixels).

    An image trace is not selectable in plotly.js, so a grid of invisible points lies over it; the event's box is
    what counts (``selected_box``), not the points.
    """
    height, width = rgb.shape[:2]
    ys, xs = np.mgrid[0:height:GRID_STEP, 0:width:GRID_STEP]
    fig = go.Figure(go.Image(z=rgb, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="markers", marker={"opacity": 0, "size": 1}, hoverinfo="skip")
    )
    fig.update_layout(
        dragmode="select",
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        height=round(320 * height / width),
        showlegend=False,
        xaxis={"visible": False, "range": [-0.5, width - 0.5]},
        yaxis={"visible": False, "range": [height - 0.5, -0.5], "scaleanchor": "x"},
    )
    return fig


def selected_box(event: Any, size: tuple[int, int]) -> Coords | None:
    """The last rectangle drawn on ``drawing_figure`` as (x0, y0, x1, y1) integer pixels clipped to ``size``
    (height, width), x1/y1 exclusive; None when nothing (or a zero-area box) was drawn."""
    drawn = ((event or {}).get("selection") or {}).get("box") or []
    if not drawn:
        return None
    xs, ys = drawn[-1]["x"], drawn[-1]["y"]
    height, width = size
    x0, x1 = (min(max(round(v), 0), width) for v in sorted(xs))
    y0, y1 = (min(max(round(v), 0), height) for v in sorted(ys))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None

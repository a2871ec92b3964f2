"""Segmentation masks for the Localization page: upload a PNG, or draw on the image (a freehand polygon with the
lasso, a rectangle, an eraser), combined into one mask per image in the displayed input's pixels (the maps').

Drawing uses Plotly's selections on the image (``boxes.drawing_figure``): each lasso or rectangle drawn is added to
(or, with the eraser, removed from) the image's mask, so several strokes build a mask as a brush would. A mask PNG
(any non-zero pixel is foreground) either has the original image's size (it is resized and centre-cropped as the
model's preprocessing does the image, nearest neighbour) or the displayed input's (taken as it is).
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import cv2
import numpy as np
import streamlit as st
from PIL import Image

from pages.components import boxes, state

BOX, POLYGON, RECTANGLE, ERASE = "box", "polygon", "rectangle", "erase"
TOOLS = {
    BOX: "the box",
    POLYGON: "mask: freehand polygon",
    RECTANGLE: "mask: rectangle",
    ERASE: "mask: erase (freehand)",
}
MAX_PIXELS = 40_000_000
TINT = np.array([0, 170, 255], dtype=np.float64)  # mask pixels shown tinted in this colour


def current(image_sha256: str) -> np.ndarray | None:
    """The image's mask (bool ``[H, W]``), or None when nothing was drawn or uploaded."""
    found = st.session_state.get(state.mask_key(image_sha256))
    return found if found is not None and found.any() else None


def fingerprint(mask: np.ndarray | None) -> str:
    """A short hash of the mask (a cache key part of the measures computed with it)."""
    return "" if mask is None else hashlib.sha256(np.packbits(mask).tobytes()).hexdigest()[:16]


def polygon(points_x: Any, points_y: Any, size: tuple[int, int]) -> np.ndarray:
    """The pixels inside a closed polygon (a lasso's path, in image pixels) as bool ``[H, W]``."""
    mask = np.zeros(size, dtype=np.uint8)
    points = np.round(np.stack([np.asarray(points_x, float), np.asarray(points_y, float)], axis=1)).astype(np.int32)
    if len(points) >= 3:
        cv2.fillPoly(mask, [points], 1)
    return mask.astype(bool)


def stroke(event: Any, size: tuple[int, int]) -> np.ndarray | None:
    """The region of the last lasso or rectangle of a selection event, or None."""
    selection = (event or {}).get("selection") or {}
    lassos, rectangles = selection.get("lasso") or [], selection.get("box") or []
    if lassos:
        return polygon(lassos[-1]["x"], lassos[-1]["y"], size)
    found = boxes.selected_box(event, size)
    if rectangles and found is not None:
        x0, y0, x1, y1 = (int(v) for v in found)
        region = np.zeros(size, dtype=bool)
        region[y0:y1, x0:x1] = True
        return region
    return None


def take_stroke(image_sha256: str, size: tuple[int, int], erase: bool) -> None:
    """on_select of the mask drawing: add the stroke to the image's mask (or remove it)."""
    region = stroke(st.session_state.get(state.LOC_MASK_DRAW), size)
    if region is None:
        return
    key = state.mask_key(image_sha256)
    mask = st.session_state.get(key)
    mask = np.zeros(size, dtype=bool) if mask is None else mask.copy()
    st.session_state[key] = mask & ~region if erase else mask | region


def from_upload(data: bytes, name: str, model: Any, image_size: tuple[int, int]) -> np.ndarray:
    """A mask PNG as bool ``[H, W]`` in the displayed input's pixels; ``ValueError`` naming what is wrong."""
    try:
        picture = Image.open(io.BytesIO(data))
        if picture.width * picture.height > MAX_PIXELS:  # the header's size, before decoding
            raise ValueError(f"{name} is {picture.width}x{picture.height}: more than {MAX_PIXELS:,} pixels")
        picture.load()
    except (OSError, SyntaxError, Image.DecompressionBombError):  # PIL's ways of saying "not an image I can read"
        raise ValueError(f"{name}: not a PNG image that can be read") from None
    gray = np.asarray(picture.convert("L")) > 0
    height, width = model.input_size
    if gray.shape == (height, width):
        return gray
    if (gray.shape[1], gray.shape[0]) != tuple(image_size):
        raise ValueError(
            f"{name} is {gray.shape[1]}x{gray.shape[0]}; a mask must have the image's size "
            f"({image_size[0]}x{image_size[1]}) or the model input's ({width}x{height})"
        )
    short, long = min(image_size), max(image_size)
    new_long = int(model.resize * long / short)  # torchvision's resize of the shorter side, then the centre crop
    new_w, new_h = (model.resize, new_long) if image_size[0] <= image_size[1] else (new_long, model.resize)
    resized = np.asarray(Image.fromarray(gray).resize((new_w, new_h), Image.Resampling.NEAREST))
    top, left = round((new_h - height) / 2.0), round((new_w - width) / 2.0)
    return resized[top : top + height, left : left + width].astype(bool)


def source(model: Any, image: Any) -> np.ndarray | None:
    """The mask upload, its clear and download buttons; the image's mask or None."""
    key = state.mask_key(image.sha256)
    uploaded = st.file_uploader("Mask (PNG): any non-zero pixel is the object", ["png"], key=state.LOC_MASK_UPLOAD)
    applied = st.session_state.get(state.LOC_MASK_APPLIED)
    if uploaded is not None and applied != (uploaded.file_id, image.sha256):
        st.session_state[state.LOC_MASK_APPLIED] = (uploaded.file_id, image.sha256)
        try:
            st.session_state[key] = from_upload(uploaded.getvalue(), uploaded.name, model, image.image.size)
        except ValueError as exc:
            st.error("The mask file could not be used.")
            st.text(str(exc))  # the file's name is the user's: plain text
    mask = current(image.sha256)
    left, right = st.columns(2)
    if left.button("Clear the mask", key=state.LOC_MASK_CLEAR, disabled=mask is None):
        st.session_state.pop(key, None)
        st.rerun()
    if mask is not None:
        buffer = io.BytesIO()
        Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
        right.download_button("Download the mask (PNG)", buffer.getvalue(), "mask.png", "image/png",
                              key=state.LOC_MASK_DOWNLOAD)  # fmt: skip
        st.caption(f"Mask: {int(mask.sum())} pixels ({mask.mean():.0%} of the image).")
    return mask


def tinted(rgb: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``rgb`` with the mask's pixels tinted and its outline drawn."""
    if mask is None:
        return rgb
    out = rgb.astype(np.float64)
    out[mask] = 0.55 * out[mask] + 0.45 * TINT
    out = np.clip(out, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, tuple(int(v) for v in TINT), 1, cv2.LINE_AA)
    return out


def drawing(shown: np.ndarray, image_sha256: str, size: tuple[int, int], tool: str, on_box: Any) -> None:
    """The image to draw on: dragging draws the box, or a stroke of the mask, as ``tool`` says."""
    figure = boxes.drawing_figure(shown)
    if tool == BOX:
        st.plotly_chart(figure, key=state.LOC_DRAW, on_select=on_box, selection_mode="box",
                        config={"displayModeBar": False})  # fmt: skip
        return
    figure.update_layout(dragmode="select" if tool == RECTANGLE else "lasso")
    st.plotly_chart(
        figure, key=state.LOC_MASK_DRAW, selection_mode="box" if tool == RECTANGLE else "lasso",
        on_select=lambda: take_stroke(image_sha256, size, tool == ERASE), config={"displayModeBar": False},
    )  # fmt: skip

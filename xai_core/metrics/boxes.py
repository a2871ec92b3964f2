"""Annotated bounding boxes: the ``Box`` record, box files (CSV/JSON) and box masks.

Boxes are ``(x0, y0, x1, y1)`` in pixel coordinates of the map, inclusive-exclusive: a box covers the columns
``x0 <= x < x1`` and the rows ``y0 <= y < y1`` (so ``(0, 0, W, H)`` is the whole map and the area is
``(x1 - x0) * (y1 - y0)``). ``boxes`` is one entry per image: a single box, or a list of boxes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np


class Box(NamedTuple):
    """An annotated box ``(x0, y0, x1, y1)``, inclusive-exclusive pixel coordinates, with an optional label."""

    x0: float
    y0: float
    x1: float
    y1: float
    label: str | None = None


def as_boxes(boxes: Any, batch: int) -> list[list[tuple[float, float, float, float]]]:
    """One list of ``(x0, y0, x1, y1)`` per image from ``[B, 4]``, ``[B, M, 4]`` or nested sequences."""
    if hasattr(boxes, "tolist"):  # numpy array or torch tensor
        boxes = boxes.tolist()
    if len(boxes) != batch:
        raise ValueError(f"boxes must give one entry per image: {batch} images, {len(boxes)} entries")
    out = []
    for i, entry in enumerate(boxes):
        items = [entry] if len(entry) and np.isscalar(entry[0]) else list(entry)
        if not items:
            raise ValueError(f"image {i} has no boxes")
        parsed = []
        for box in items:
            x0, y0, x1, y1 = (float(v) for v in tuple(box)[:4])
            if not (x1 > x0 and y1 > y0):
                raise ValueError(f"image {i}: box {tuple(box)[:4]} must have x1 > x0 and y1 > y0 (x0, y0, x1, y1)")
            parsed.append((x0, y0, x1, y1))
        out.append(parsed)
    return out


def box_mask(boxes: Sequence[Sequence[float]], shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``[H, W]``: the union of ``boxes``; pixel ``(x, y)`` is inside when ``x0 <= x < x1, y0 <= y < y1``."""
    h, w = shape
    cols, rows = np.arange(w), np.arange(h)
    mask = np.zeros((h, w), dtype=bool)
    for x0, y0, x1, y1 in (tuple(b)[:4] for b in boxes):
        mask |= ((rows >= y0) & (rows < y1))[:, None] & ((cols >= x0) & (cols < x1))[None, :]
    return mask


def _box_from(values: Sequence[Any], where: str) -> Box:
    if len(values) not in (4, 5):
        raise ValueError(f"{where}: expected x0, y0, x1, y1 and an optional label; got {list(values)!r}")
    try:
        x0, y0, x1, y1 = (float(v) for v in values[:4])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: coordinates must be numbers; got {list(values[:4])!r}") from None
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"{where}: box must have x1 > x0 and y1 > y0; got {(x0, y0, x1, y1)}")
    label = str(values[4]).strip() if len(values) == 5 and str(values[4]).strip() else None
    return Box(x0, y0, x1, y1, label)


def parse_boxes(text: str, fmt: str) -> dict[str, list[Box]]:
    """Boxes per image name from CSV (``image,x0,y0,x1,y1[,label]``, optional header) or JSON text.

    JSON is ``{"image.jpg": [[x0, y0, x1, y1], ...], ...}`` (a fifth entry is a label). Errors name the line
    (CSV) or the image and box index (JSON).
    """
    out: dict[str, list[Box]] = {}
    if fmt == "csv":
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if number == 1 and row[0].strip().lower() == "image":
                continue  # header
            if len(row) not in (5, 6):
                raise ValueError(f"line {number}: expected image,x0,y0,x1,y1[,label]; got {','.join(row)!r}")
            out.setdefault(row[0].strip(), []).append(_box_from(row[1:], f"line {number}"))
        return out
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"line {err.lineno}: invalid JSON ({err.msg})") from None
        if not isinstance(data, dict):
            raise ValueError(
                f"JSON boxes must be an object {{image: [[x0, y0, x1, y1], ...]}}; got {type(data).__name__}"
            )
        for image, items in data.items():
            if not isinstance(items, list):
                raise ValueError(f"image {image!r}: expected a list of boxes; got {items!r}")
            out[image] = [
                _box_from(b if isinstance(b, list) else [b], f"image {image!r}, box {j}") for j, b in enumerate(items)
            ]
        return out
    raise ValueError(f"fmt must be 'csv' or 'json'; got {fmt!r}")


def load_boxes(path: str | Path) -> dict[str, list[Box]]:
    """Read a box file (``.csv`` or ``.json``, see ``parse_boxes``); errors name the file and the bad line."""
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in ("csv", "json"):
        raise ValueError(f"box file must end in .csv or .json; got {p.name!r}")
    try:
        return parse_boxes(p.read_text(encoding="utf-8"), fmt)
    except ValueError as err:
        raise ValueError(f"{p}: {err}") from None

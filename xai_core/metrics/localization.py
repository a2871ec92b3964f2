"""Localisation metrics against annotated bounding boxes: pointing games and weakly supervised localisation.

Boxes are ``(x0, y0, x1, y1)`` in pixel coordinates of the map, inclusive-exclusive: a box covers the columns
``x0 <= x < x1`` and the rows ``y0 <= y < y1`` (so ``(0, 0, W, H)`` is the whole map and the area is
``(x1 - x0) * (y1 - y0)``). An image may have several boxes: a point hits if it hits any of them, and energy
inside counts the union. ``boxes`` is one entry per image: a single box, or a list of boxes. Maps are not
resized: give boxes in the map's coordinates.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage

from xai_core.metrics.records import BoxResult, CurveResult, PointingResult, ScoreResult, as_maps, trapezoid_auc

TOLERANCE = 15  # pixels, TorchRay's default (Zhang et al. 2016)


class Box(NamedTuple):
    """An annotated box ``(x0, y0, x1, y1)``, inclusive-exclusive pixel coordinates, with an optional label."""

    x0: float
    y0: float
    x1: float
    y1: float
    label: str | None = None


def _as_boxes(boxes: Any, batch: int) -> list[list[tuple[float, float, float, float]]]:
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


def _inputs(saliency: Any, boxes: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    maps = as_maps(saliency)
    masks = [box_mask(b, maps.shape[1:]) for b in _as_boxes(boxes, maps.shape[0])]
    for i, mask in enumerate(masks):
        if not mask.any():
            raise ValueError(f"image {i}: its boxes cover no pixel of the {maps.shape[2]}x{maps.shape[1]} map")
    return maps, masks


def pointing_game(saliency: Any, boxes: Any, *, tolerance: float = TOLERANCE) -> PointingResult:
    """Pointing game (Zhang et al. 2016, https://arxiv.org/abs/1608.00507), TorchRay's semantics.

    The point is the map's maximum, the first in row-major order on ties (``argmax``). It is a hit when some pixel
    of a box lies at Euclidean distance strictly less than ``tolerance`` from it (TorchRay's
    ``(v + u) < tolerance ** 2``), i.e. the box dilated by a disc of radius ``tolerance``; ``tolerance=0`` asks for
    the point itself inside. ``value`` is the hit rate (higher is better), ``points`` the ``(x, y)`` per image.
    """
    maps, masks = _inputs(saliency, boxes)
    h, w = maps.shape[1:]
    rows, cols = np.mgrid[0:h, 0:w]
    hits, points = [], []
    for m, mask in zip(maps, masks, strict=True):
        y, x = divmod(int(np.argmax(m)), w)
        accept = (rows - y) ** 2 + (cols - x) ** 2 < tolerance**2 if tolerance > 0 else (rows == y) & (cols == x)
        hits.append(float((mask & accept).any()))
        points.append((x, y))
    per_image = np.array(hits)
    return PointingResult(
        name="pointing_game",
        value=float(per_image.mean()),
        per_image=per_image,
        higher_is_better=True,
        points=np.array(points, dtype=np.int64),
    )


def energy_pointing_game(saliency: Any, boxes: Any) -> ScoreResult:
    """Energy-based pointing game (Wang et al. 2020, Score-CAM, https://arxiv.org/abs/1910.01279).

    ``E = Σ_{p in boxes} max(m_p, 0) / Σ_p max(m_p, 0)``: the share of the map's positive energy inside the union
    of the boxes; higher is better. A map with no positive energy scores 0.
    """
    maps, masks = _inputs(saliency, boxes)
    per = []
    for m, mask in zip(maps, masks, strict=True):
        pos = np.clip(m, 0.0, None)
        total = pos.sum()
        per.append(float(pos[mask].sum() / total) if total > 0 else 0.0)
    per_image = np.array(per)
    return ScoreResult(
        name="energy_pointing_game", value=float(per_image.mean()), per_image=per_image, higher_is_better=True
    )


def extended_pointing_game(saliency: Any, boxes: Any, *, points: int = 21) -> CurveResult:
    """Extended pointing game: precision of the energy-thresholded map as a function of the energy fraction ``p``.

    Following Gu, Yang & Tresp (ACCV 2018, "Understanding individual decisions of CNNs via contrastive
    backpropagation") as summarised in the survey (section 3.2), made precise here: with the positive
    energy ``e = max(m, 0)`` sorted in descending order (stable: ties in row-major order), ``S_p`` is the
    smallest set of top pixels whose energy reaches ``p * Σ e``, and at least one pixel (so ``p = 0`` is the
    tolerance-free pointing game). Its precision is ``|S_p ∩ boxes| / |S_p|``. The curve is taken at ``points``
    evenly spaced ``p`` from 0 to 1; ``auc`` is its trapezoid area (higher is better) and ``counts`` the set
    sizes ``|S_p|``. A map without positive energy has ``S_p`` = its first maximum for every ``p``.
    """
    if points < 2:
        raise ValueError(f"points must be at least 2; got {points}")
    maps, masks = _inputs(saliency, boxes)
    fractions = np.linspace(0.0, 1.0, points)
    scores, counts = np.zeros((len(maps), points)), np.zeros((len(maps), points), dtype=np.int64)
    for i, (m, mask) in enumerate(zip(maps, masks, strict=True)):
        energy = np.clip(m.reshape(-1), 0.0, None)
        order = np.argsort(-energy, kind="stable") if energy.any() else np.array([int(np.argmax(m))])
        cumulative = np.cumsum(energy[order])
        total = cumulative[-1]
        # The first k with cumulative[k-1] >= p * total, with a relative slack for rounding of p * total.
        k = np.searchsorted(cumulative, fractions * total - 1e-9 * total, side="left") + 1
        k = np.clip(k, 1, len(order))
        inside = np.cumsum(mask.reshape(-1)[order])
        scores[i], counts[i] = inside[k - 1] / k, k
    return CurveResult(
        name="extended_pointing_game",
        fractions=fractions,
        scores=scores,
        auc=trapezoid_auc(fractions, scores),
        higher_is_better=True,
        counts=counts,
    )


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def wsol(saliency: Any, boxes: Any, *, threshold: float = 0.2, iou_threshold: float = 0.5) -> BoxResult:
    """Weakly supervised localisation (Zhou et al. 2016, CAM, https://arxiv.org/abs/1512.04150).

    Pixels with ``m >= threshold * max(m)`` form the foreground; the predicted box is the tightest
    inclusive-exclusive box around its largest 8-connected component (``scipy.ndimage.label``; the first by label
    order on ties). ``per_image`` is the IoU with the best-matching annotated box, ``value`` its mean (higher is
    better) and ``accuracy`` the fraction with IoU ``>= iou_threshold``. A map whose maximum is not positive has
    no foreground: box ``(0, 0, 0, 0)``, IoU 0.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}")
    maps = as_maps(saliency)
    gt = _as_boxes(boxes, maps.shape[0])
    ious, predicted = [], []
    for m, gt_boxes in zip(maps, gt, strict=True):
        peak = m.max()
        box = (0, 0, 0, 0)
        if peak > 0:
            labels, n = ndimage.label(m >= threshold * peak, structure=np.ones((3, 3), dtype=int))
            sizes = np.bincount(labels.reshape(-1), minlength=n + 1)[1:]
            ys, xs = np.nonzero(labels == int(np.argmax(sizes)) + 1)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        predicted.append(box)
        ious.append(max(_iou(box, g) for g in gt_boxes) if peak > 0 else 0.0)
    per_image = np.array(ious)
    return BoxResult(
        name="wsol_iou",
        value=float(per_image.mean()),
        per_image=per_image,
        higher_is_better=True,
        boxes=np.array(predicted, dtype=np.int64),
        accuracy=float((per_image >= iou_threshold).mean()),
        iou_threshold=iou_threshold,
    )


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

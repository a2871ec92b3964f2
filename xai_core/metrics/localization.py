"""Localisation metrics against annotated bounding boxes: pointing games and weakly supervised localisation.

Boxes are ``(x0, y0, x1, y1)`` inclusive-exclusive pixel coordinates of the map (see ``boxes``). An image may have
several boxes: a point hits if it hits any of them, and energy inside counts the union. Maps are not resized: give
boxes in the map's coordinates.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from scipy import ndimage

from xai_core.metrics.base import Metric, MetricContext, MetricResult
from xai_core.metrics.boxes import as_boxes, box_mask
from xai_core.metrics.records import BoxResult, CurveResult, PointingResult, ScoreResult, as_maps, trapezoid_auc
from xai_core.metrics.registry import documented, evaluate, register
from xai_core.params import ChoiceParam, FloatParam, IntParam

NEEDS = ("maps", "boxes")
TOLERANCE = FloatParam(
    "tolerance", 15.0, "a hit when a box pixel lies closer than this to the maximum, in pixels (TorchRay: 15)",
    low=0.0, high=1000.0,
)  # fmt: skip
TIES = ChoiceParam(
    "ties", "first",
    "several maxima: 'first' takes the first in row-major order (TorchRay, argmax); 'any' hits if any of them hits "
    "(Quantus)",
    choices=("first", "any"),
)  # fmt: skip
POINTS = IntParam("points", 21, "energy fractions p, evenly spaced from 0 to 1", low=2, high=1001)
ZHANG = "Zhang, Bargal, Lin, Brandt, Shen, Sclaroff. Top-down Neural Attention by Excitation Backprop. IJCV 2018"
ZHANG_URL = "https://arxiv.org/abs/1608.00507"
GU = "Gu, Yang, Tresp. Understanding Individual Decisions of CNNs via Contrastive Backpropagation. ACCV 2018"
GU_URL = "https://arxiv.org/abs/1812.02100"


def _inputs(ctx: MetricContext) -> tuple[np.ndarray, list[np.ndarray]]:
    maps = as_maps(ctx.maps)
    masks = [box_mask(b, maps.shape[1:]) for b in as_boxes(ctx.boxes, maps.shape[0])]
    for i, mask in enumerate(masks):
        if not mask.any():
            raise ValueError(f"image {i}: its boxes cover no pixel of the {maps.shape[2]}x{maps.shape[1]} map")
    return maps, masks


@register
class PointingGame(Metric):
    """The point is the map's maximum. It is a hit when some pixel of a box lies at Euclidean distance strictly less
    than ``tolerance`` from it (TorchRay's ``(v + u) < tolerance ** 2``), i.e. the box dilated by a disc of radius
    ``tolerance``; ``tolerance=0`` asks for the point itself inside.

    Ties: with ``ties="first"`` (the default, TorchRay's ``argmax``) the point is the first maximum in row-major
    order; with ``ties="any"`` (Quantus' ``PointingGame``) the image scores a hit if any of the tied maxima does.
    ``points`` is always the first maximum ``(x, y)``.
    """

    name, title, family = "pointing_game", "Pointing game", "localization"
    paper, url = ZHANG, ZHANG_URL
    summary = "Hit rate of the map's maximum falling in (or within a tolerance of) the annotated box."
    higher_is_better = True
    needs, params = NEEDS, (TOLERANCE, TIES)

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        tolerance, ties = settings["tolerance"], settings["ties"]
        maps, masks = _inputs(ctx)
        h, w = maps.shape[1:]
        rows, cols = np.mgrid[0:h, 0:w]
        hits, points = [], []
        for m, mask in zip(maps, masks, strict=True):
            y, x = divmod(int(np.argmax(m)), w)
            peaks = m == m.max() if ties == "any" else (rows == y) & (cols == x)
            if tolerance > 0:  # the squared distance to the nearest box pixel, exact in integers
                near_y, near_x = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
                accept = (near_y - rows) ** 2 + (near_x - cols) ** 2 < tolerance**2
            else:
                accept = mask
            hits.append(float((accept & peaks).any()))
            points.append((x, y))
        per_image = np.array(hits)
        return PointingResult(
            name=self.name,
            value=float(per_image.mean()),
            per_image=per_image,
            higher_is_better=True,
            points=np.array(points, dtype=np.int64),
        )


@register
class EnergyPointingGame(Metric):
    """``E = Σ_{p in boxes} max(m_p, 0) / Σ_p max(m_p, 0)``: the share of the map's positive energy inside the union
    of the boxes. A map with no positive energy scores 0."""

    name, title, family = "energy_pointing_game", "Energy pointing game", "localization"
    paper = "Wang, Wang, Du, Yang, Zhang, Ding, Mardziel, Hu. Score-CAM. CVPR Workshops 2020"
    url = "https://arxiv.org/abs/1910.01279"
    summary = "Share of the map's positive energy inside the annotated boxes."
    higher_is_better = True
    needs = NEEDS

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        maps, masks = _inputs(ctx)
        per = []
        for m, mask in zip(maps, masks, strict=True):
            pos = np.clip(m, 0.0, None)
            total = pos.sum()
            per.append(float(pos[mask].sum() / total) if total > 0 else 0.0)
        per_image = np.array(per)
        return ScoreResult(name=self.name, value=float(per_image.mean()), per_image=per_image, higher_is_better=True)


def energy_sets(ctx: MetricContext, points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energy fractions ``p`` ``[P]``; sizes ``|S_p|`` and box pixels ``|S_p ∩ boxes|`` per image ``[B, P]``.

    With the positive energy ``e = max(m, 0)`` sorted in descending order (stable: ties in row-major order),
    ``S_p`` is the smallest set of top pixels whose energy reaches ``p * Σ e``, and at least one pixel (so ``p = 0``
    is the tolerance-free pointing game). A map without positive energy has ``S_p`` = its first maximum.
    """
    maps, masks = _inputs(ctx)
    fractions = np.linspace(0.0, 1.0, points)
    sizes, inside = np.zeros((len(maps), points), dtype=np.int64), np.zeros((len(maps), points), dtype=np.int64)
    for i, (m, mask) in enumerate(zip(maps, masks, strict=True)):
        energy = np.clip(m.reshape(-1), 0.0, None)
        order = np.argsort(-energy, kind="stable") if energy.any() else np.array([int(np.argmax(m))])
        cumulative = np.cumsum(energy[order])
        total = cumulative[-1]
        # The first k with cumulative[k-1] >= p * total, with a relative slack for rounding of p * total.
        k = np.searchsorted(cumulative, fractions * total - 1e-9 * total, side="left") + 1
        k = np.clip(k, 1, len(order))
        sizes[i], inside[i] = k, np.cumsum(mask.reshape(-1)[order])[k - 1]
    return fractions, sizes, inside


def _curve(name: str, fractions: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> CurveResult:
    return CurveResult(
        name=name,
        fractions=fractions,
        scores=scores,
        auc=trapezoid_auc(fractions, scores),
        higher_is_better=True,
        counts=counts,
    )


@register
class ExtendedPointingGame(Metric):
    """The survey's extended pointing game (section 3.2, after Gu, Yang & Tresp 2018): the foreground ``S_p`` holds a
    fraction ``p`` of the map's energy (see ``energy_sets``); an image scores a hit at ``p`` when its foreground
    lies within the boxes, ``S_p ⊆ boxes``, and a miss otherwise. ``scores`` are the hits (1.0 / 0.0) per image at
    each ``p``, their mean over images is the pointing game accuracy curve, and ``auc`` (trapezoid over ``p``, per
    image; ``value`` its mean, the AUC of the accuracy curve) is the reported score. ``counts`` are ``|S_p|``.

    Energy is the positive part of the map (the survey says "the sum of all importance values"; the two agree on
    non-negative maps, and a negative value cannot hold energy).
    """

    name, title, family = "extended_pointing_game", "Extended pointing game (AUC)", "localization"
    paper, url = GU, GU_URL
    summary = "AUC over p of the hit rate of the foreground holding a fraction p of the map's energy lying in the box."
    higher_is_better = True
    needs, params = NEEDS, (POINTS,)

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        fractions, sizes, inside = energy_sets(ctx, settings["points"])
        return _curve(self.name, fractions, (inside == sizes).astype(np.float64), sizes)


@register
class ExtendedPointingPrecision(Metric):
    """The precision variant: ``|S_p ∩ boxes| / |S_p|`` at each ``p`` (not a hit/miss), a graded version of the
    extended pointing game; ``auc`` is the trapezoid area per image, ``counts`` the set sizes ``|S_p|``."""

    name, title, family = "extended_pointing_precision", "Extended pointing precision (AUC)", "localization"
    paper, url = GU, GU_URL
    summary = "AUC over p of the share of the foreground holding a fraction p of the map's energy inside the box."
    higher_is_better = True
    needs, params = NEEDS, (POINTS,)

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        fractions, sizes, inside = energy_sets(ctx, settings["points"])
        return _curve(self.name, fractions, inside / sizes, sizes)


def _iou(a: Any, b: Any) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@register
class Wsol(Metric):
    """Pixels with ``m >= threshold * max(m)`` form the foreground; the predicted box is the tightest
    inclusive-exclusive box around its largest 8-connected component (``scipy.ndimage.label``; the first by label
    order on ties). ``per_image`` is the IoU with the best-matching annotated box, ``value`` its mean and
    ``accuracy`` the fraction with IoU ``>= iou_threshold``. A map whose maximum is not positive has no foreground:
    box ``(0, 0, 0, 0)``, IoU 0."""

    name, title, family = "wsol", "WSOL IoU", "localization"
    paper = (
        "Zhou, Khosla, Lapedriza, Oliva, Torralba. Learning Deep Features for Discriminative Localization. CVPR 2016"
    )
    url = "https://arxiv.org/abs/1512.04150"
    summary = "IoU of the box around the largest region above a fraction of the map's maximum with the annotation."
    higher_is_better = True
    needs = NEEDS
    params = (
        FloatParam("threshold", 0.2, "foreground: pixels at or above this fraction of the map's maximum", 0.01, 1.0),
        FloatParam("iou_threshold", 0.5, "IoU counted as a correct localisation (accuracy)", 0.0, 1.0),
    )

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        threshold = settings["threshold"]
        maps = as_maps(ctx.maps)
        ious, predicted = [], []
        for m, gt_boxes in zip(maps, as_boxes(ctx.boxes, maps.shape[0]), strict=True):
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
            name=self.name,
            value=float(per_image.mean()),
            per_image=per_image,
            higher_is_better=True,
            boxes=np.array(predicted, dtype=np.int64),
            accuracy=float((per_image >= settings["iou_threshold"]).mean()),
            iou_threshold=settings["iou_threshold"],
        )


# --- the public functions ----------------------------------------------------------------------------------------


@documented("pointing_game")
def pointing_game(saliency: Any, boxes: Any, **settings: Any) -> PointingResult:
    """Pointing game (Zhang et al. 2016, https://arxiv.org/abs/1608.00507), TorchRay's semantics by default.

    ``value`` is the hit rate (higher is better), ``per_image`` 1.0 for a hit and 0.0 for a miss, ``points`` the
    ``(x, y)`` of each map's first maximum. See ``PointingGame`` for the tolerance and the ties.
    """
    return cast(PointingResult, evaluate("pointing_game", maps=saliency, boxes=boxes, **settings))


@documented("energy_pointing_game")
def energy_pointing_game(saliency: Any, boxes: Any) -> ScoreResult:
    """Energy-based pointing game (Wang et al. 2020, Score-CAM, https://arxiv.org/abs/1910.01279); higher is better.

    ``E = Σ_{p in boxes} max(m_p, 0) / Σ_p max(m_p, 0)`` per image; a map with no positive energy scores 0.
    """
    return cast(ScoreResult, evaluate("energy_pointing_game", maps=saliency, boxes=boxes))


@documented("extended_pointing_game")
def extended_pointing_game(saliency: Any, boxes: Any, **settings: Any) -> CurveResult:
    """Extended pointing game as the survey defines it: per image a hit (1.0) or a miss (0.0) at each energy fraction
    ``p``, a hit when the foreground holding ``p`` of the energy lies within the boxes; ``value`` is the AUC of the
    accuracy curve. See ``ExtendedPointingGame``; the graded variant is ``extended_pointing_precision``.
    """
    return cast(CurveResult, evaluate("extended_pointing_game", maps=saliency, boxes=boxes, **settings))


@documented("extended_pointing_precision")
def extended_pointing_precision(saliency: Any, boxes: Any, **settings: Any) -> CurveResult:
    """Precision of the energy-thresholded map as a function of the energy fraction ``p`` (this module's extended
    pointing game before it followed the survey): ``|S_p ∩ boxes| / |S_p|``; higher AUC is better."""
    return cast(CurveResult, evaluate("extended_pointing_precision", maps=saliency, boxes=boxes, **settings))


@documented("wsol")
def wsol(saliency: Any, boxes: Any, **settings: Any) -> BoxResult:
    """Weakly supervised localisation (Zhou et al. 2016, CAM, https://arxiv.org/abs/1512.04150); higher IoU is better.

    See ``Wsol``; ``accuracy`` is the fraction of images whose IoU reaches ``iou_threshold`` (the CAM paper's).
    """
    return cast(BoxResult, evaluate("wsol", maps=saliency, boxes=boxes, **settings))

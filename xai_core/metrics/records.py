"""Frozen result records shared by every metric (a curve, a score, localisation extras) and map input coercion.

Every record declares ``higher_is_better`` so that a table of metrics can be ranked without knowing each one.
Arrays are made read-only so a record stays what was computed (they are often cached by the app).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


def _freeze(record: object) -> None:
    for f in fields(record):  # type: ignore[arg-type]
        value = getattr(record, f.name)
        if isinstance(value, np.ndarray):
            value.setflags(write=False)


def as_maps(saliency: Any) -> np.ndarray:
    """2-D maps ``[B, H, W]`` (float64) from a tensor, an array or an ``Attribution`` (``to_maps()``).

    ``[H, W]`` gains a batch axis and ``[B, 1, H, W]`` loses its channel axis; per-channel attributions must be
    reduced first (pass the ``Attribution`` itself, or ``viz.reduce``). Non-finite values are refused.
    """
    if hasattr(saliency, "to_maps"):
        raw = saliency.to_maps()
    elif hasattr(saliency, "detach"):
        raw = saliency.detach().double().cpu().numpy()
    else:
        raw = saliency
    maps = np.array(raw, dtype=np.float64)
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(
            f"saliency must be maps [batch, height, width] (or an Attribution); got shape {tuple(maps.shape)}; "
            "reduce per-channel attributions with xai_core.viz.reduce first"
        )
    if not np.isfinite(maps).all():
        raise ValueError("saliency maps contain NaN or infinite values")
    return maps


def trapezoid_auc(fractions: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Trapezoid area under ``scores`` ``[B, K+1]`` over ``fractions`` ``[K+1]`` (``0`` to ``1``), per row.

    With uniform fractions this is RISE's normalised ``auc``: ``(sum - first/2 - last/2) / K``.
    """
    s = np.asarray(scores, dtype=np.float64)
    dx = np.diff(np.asarray(fractions, dtype=np.float64))
    return ((s[:, 1:] + s[:, :-1]) / 2.0 * dx).sum(axis=1)


@dataclass(frozen=True, kw_only=True)
class CurveResult:
    """A perturbation or threshold curve per image and the area under it.

    Attributes:
        name: metric id, e.g. ``"insertion"``, ``"deletion"``, ``"deletion_lerf"``, ``"extended_pointing_game"``.
        fractions: x axis ``[K+1]`` from 0 to 1 (fraction of steps done, or of energy for the pointing curve).
        scores: y values ``[B, K+1]`` (target score, or precision).
        auc: trapezoid area under each curve over ``fractions``, ``[B]``.
        higher_is_better: how to read ``auc``.
        counts: features perturbed (or pixels kept) at each point, ``[B, K+1]``, where meaningful.
        settings: the settings that produced the curve (substrate, granularity, ...), as plain data.
    """

    name: str
    fractions: np.ndarray
    scores: np.ndarray
    auc: np.ndarray
    higher_is_better: bool
    counts: np.ndarray | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze(self)

    @property
    def value(self) -> float:
        """The mean AUC over images: the curve's one-number summary."""
        return float(np.mean(self.auc))


@dataclass(frozen=True, kw_only=True)
class ScoreResult:
    """A scalar metric over a batch with its per-image values.

    Attributes:
        name: metric id, e.g. ``"aopc_morf"``, ``"average_drop"``, ``"energy_pointing_game"``.
        value: the summary over images (mean, or a percentage for Average Drop / IC / ADD).
        per_image: one value per image ``[B]`` (``value`` is their mean).
        higher_is_better: how to read ``value``.
        unit: ``"%"`` for percentages, ``""`` otherwise.
        curves: the curves the score was computed from, if any (AOPC: one; ABPC: MoRF then LeRF).
    """

    name: str
    value: float
    per_image: np.ndarray
    higher_is_better: bool
    unit: str = ""
    curves: tuple[CurveResult, ...] = ()

    def __post_init__(self) -> None:
        _freeze(self)


@dataclass(frozen=True, kw_only=True)
class PointingResult(ScoreResult):
    """Pointing game: ``per_image`` is 1.0 for a hit and 0.0 for a miss; ``points`` the ``(x, y)`` maxima ``[B, 2]``."""

    points: np.ndarray


@dataclass(frozen=True, kw_only=True)
class BoxResult(ScoreResult):
    """Weakly supervised localisation: ``per_image`` IoU, ``boxes`` the predicted ``(x0, y0, x1, y1)`` ``[B, 4]``.

    ``accuracy`` is the fraction of images whose IoU reaches ``iou_threshold`` (the CAM paper's criterion).
    """

    boxes: np.ndarray
    accuracy: float
    iou_threshold: float

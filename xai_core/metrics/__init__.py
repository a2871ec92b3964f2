"""Metrics of saliency maps: faithfulness by perturbation and localisation against boxes.

Metrics take maps (``[B, H, W]`` tensors or arrays, or an ``Attribution``), never methods, and return frozen
records (``CurveResult``, ``ScoreResult``, ...) that declare ``higher_is_better``.

    from xai_core import metrics
    curve = metrics.insertion(model, x, result, steps=100)          # result: an Attribution
    report = metrics.faithfulness_report(model, x, result)          # every faithfulness metric, shared work
    metrics.pointing_game(result, boxes=[[(40, 30, 120, 110)]])
"""

from xai_core.metrics.faithfulness import (
    abpc,
    abpc_from_curves,
    aopc,
    aopc_from_curve,
    average_drop,
    average_drop_in_deletion,
    deletion,
    faithfulness_report,
    increase_in_confidence,
    insertion,
)
from xai_core.metrics.localization import (
    Box,
    energy_pointing_game,
    extended_pointing_game,
    load_boxes,
    parse_boxes,
    pointing_game,
    wsol,
)
from xai_core.metrics.perturbation import GRANULARITIES, ORDERS, SUBSTRATES, gaussian_kernel
from xai_core.metrics.records import BoxResult, CurveResult, PointingResult, ScoreResult, trapezoid_auc

__all__ = [
    "GRANULARITIES",
    "ORDERS",
    "SUBSTRATES",
    "Box",
    "BoxResult",
    "CurveResult",
    "PointingResult",
    "ScoreResult",
    "abpc",
    "abpc_from_curves",
    "aopc",
    "aopc_from_curve",
    "average_drop",
    "average_drop_in_deletion",
    "deletion",
    "energy_pointing_game",
    "extended_pointing_game",
    "faithfulness_report",
    "gaussian_kernel",
    "increase_in_confidence",
    "insertion",
    "load_boxes",
    "parse_boxes",
    "pointing_game",
    "trapezoid_auc",
    "wsol",
]

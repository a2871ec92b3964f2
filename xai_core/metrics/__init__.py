"""Metrics of saliency maps: faithfulness by perturbation, information curves, localisation against boxes.

Metrics take maps (``[B, H, W]`` tensors or arrays, or an ``Attribution``), never methods, and return frozen
records (``CurveResult``, ``ScoreResult``, ...) that declare ``higher_is_better``. Each metric is registered once
with its family, paper, needs and settings schema (``registry.py``); the functions below are the same metrics
under their names, their settings validated by that schema.

    from xai_core import metrics
    curve = metrics.insertion(model, x, result, steps=100)          # result: an Attribution
    report = metrics.faithfulness_report(model, x, result)          # every faithfulness metric, shared work
    metrics.pointing_game(result, boxes=[[(40, 30, 120, 110)]])
    metrics.available()                                             # every metric id
    metrics.get("insertion").params                                 # its settings schema
    metrics.evaluate("deletion", model=model, inputs=x, maps=result, steps=50)
"""

from xai_core.metrics.base import (
    FAMILIES,
    NEEDS,
    Explainer,
    Metric,
    MetricContext,
    MetricNotApplicable,
    MetricResult,
    ModelFactory,
    Progress,
)
from xai_core.metrics.boxes import Box, box_mask, load_boxes, parse_boxes
from xai_core.metrics.faithfulness import (
    REPORT,
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
from xai_core.metrics.information import PicResult, combine_pic, pic
from xai_core.metrics.localization import (
    energy_pointing_game,
    extended_pointing_game,
    extended_pointing_precision,
    pointing_game,
    wsol,
)
from xai_core.metrics.perturbation import (
    CURVE_PARAMS,
    GRANULARITIES,
    ORDERS,
    SUBSTRATES,
    PerturbationPlan,
    gaussian_kernel,
    perturbation_plan,
)
from xai_core.metrics.records import BoxResult, CurveResult, PointingResult, ScoreResult, trapezoid_auc
from xai_core.metrics.registry import (
    available,
    describe,
    evaluate,
    evaluate_many,
    get,
    markdown_table,
    register,
    register_suite,
    resolve,
    resolve_many,
    settings_from_text,
)

# isort: split
# Registered after the measures above: registration order is the order metrics.available() lists them in.
from xai_core.metrics.complexity import normalized_relevance
from xai_core.metrics.masks import as_masks, mask_from_image
from xai_core.metrics.randomization import RandomLogitResult
from xai_core.metrics.robustness import RobustnessResult
from xai_core.metrics.wsol_topk import TopKBoxResult

__all__ = [
    "CURVE_PARAMS",
    "FAMILIES",
    "GRANULARITIES",
    "NEEDS",
    "ORDERS",
    "REPORT",
    "SUBSTRATES",
    "Box",
    "BoxResult",
    "CurveResult",
    "Explainer",
    "Metric",
    "MetricContext",
    "MetricNotApplicable",
    "MetricResult",
    "ModelFactory",
    "PerturbationPlan",
    "PicResult",
    "PointingResult",
    "Progress",
    "RandomLogitResult",
    "RobustnessResult",
    "ScoreResult",
    "TopKBoxResult",
    "abpc",
    "abpc_from_curves",
    "aopc",
    "aopc_from_curve",
    "as_masks",
    "available",
    "average_drop",
    "average_drop_in_deletion",
    "box_mask",
    "combine_pic",
    "deletion",
    "describe",
    "energy_pointing_game",
    "evaluate",
    "evaluate_many",
    "extended_pointing_game",
    "extended_pointing_precision",
    "faithfulness_report",
    "gaussian_kernel",
    "get",
    "increase_in_confidence",
    "insertion",
    "load_boxes",
    "markdown_table",
    "mask_from_image",
    "normalized_relevance",
    "parse_boxes",
    "perturbation_plan",
    "pic",
    "pointing_game",
    "register",
    "register_suite",
    "resolve",
    "resolve_many",
    "settings_from_text",
    "trapezoid_auc",
    "wsol",
]

# The faithfulness measures of issue 14, registered after the metrics above (``available()`` lists in this order).
from xai_core.metrics import correlation as correlation  # registers faithfulness_correlation, faithfulness_estimate
from xai_core.metrics import infidelity as infidelity  # registers infidelity
from xai_core.metrics import irof as irof  # registers irof
from xai_core.metrics import monotonicity as monotonicity  # registers monotonicity, monotonicity_correlation
from xai_core.metrics import named_curves as named_curves  # pixel_flipping, region_perturbation, selectivity
from xai_core.metrics import road as road  # registers road_morf, road_lerf, road_combined
from xai_core.metrics import sensitivity_n as sensitivity_n  # registers sensitivity_n

"""Top-k localisation accuracy of weakly supervised localisation (the CAM paper's "top-5 localization"): an image
counts when the true class is among the model's ``k`` highest-scoring classes *and* the box drawn from the map of
the true class overlaps an annotated box by at least ``iou_threshold``.

This is the ILSVRC localisation criterion (Russakovsky et al. 2015, sec. 4.1: an image is correct when one of the
``k`` guesses has the right class and a box with IoU >= 0.5) with the box of a guess drawn from that class's map, as
Zhou et al. report it for CAM. Only the guess of the true class can be correct, so one map per image, the map of
the true class, suffices. ``wsol`` (the box alone, "GT-known" localisation) draws the boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from xai_core.metrics.base import Metric, MetricContext, MetricResult
from xai_core.metrics.explanations import logits_of
from xai_core.metrics.localization import Wsol
from xai_core.metrics.perturbation import inference_chunk_size, on_model_device
from xai_core.metrics.records import BoxResult
from xai_core.metrics.registry import evaluate, register
from xai_core.params import IntParam, ParameterError
from xai_core.targets import resolve_target


@dataclass(frozen=True, kw_only=True)
class TopKBoxResult(BoxResult):
    """``per_image`` is 1.0 where the image counts (true class in the top ``k`` and IoU >= ``iou_threshold``),
    ``value`` and ``accuracy`` their mean (1 - the top-k localisation error); ``ious`` the IoU of each predicted box
    with the best annotated box ``[B]`` and ``in_top_k`` whether the true class is among the top ``k`` ``[B]``."""

    ious: np.ndarray
    in_top_k: np.ndarray
    k: int


@register
class WsolTopK(Metric):
    """See the module notes. ``target`` (the true class of each image) must be given: the predicted class is in its
    own top-k by definition. ``maps`` are the maps of the true class."""

    name, title, family = "wsol_top5", "WSOL top-5 localisation accuracy", "localization"
    paper = "Russakovsky, Deng, Su, et al. ImageNet Large Scale Visual Recognition Challenge. IJCV 2015"
    url = "https://arxiv.org/abs/1409.0575"
    summary = "Share of images whose true class is in the top 5 predictions and whose map's box has IoU >= 0.5."
    higher_is_better = True
    needs = ("model", "inputs", "maps", "boxes")
    params = (
        *Wsol.params,
        IntParam("k", 5, "the true class must be among this many highest-scoring classes (1: top-1)", low=1, high=100),
    )

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        if ctx.target is None:
            raise ValueError(f"{self.name} needs target: the true class of each image")
        assert ctx.inputs is not None  # the registry checked the metric's needs
        module, x = on_model_device(ctx.model, ctx.inputs)
        logits = logits_of(module, x, ctx.chunk_size or inference_chunk_size(module, x))
        k = settings["k"]
        if k > logits.shape[1]:
            raise ParameterError(f"{self.name}: parameter 'k' must be an integer in [1, {logits.shape[1]}]; got {k}")
        classes = resolve_target(cast(Any, ctx.target), x.shape[0], None).classes
        in_top = (logits.topk(k, dim=1).indices == classes.view(-1, 1)).any(dim=1).numpy()
        boxes = evaluate(
            "wsol", maps=ctx.maps, boxes=ctx.boxes, threshold=settings["threshold"],
            iou_threshold=settings["iou_threshold"],
        )  # fmt: skip
        assert isinstance(boxes, BoxResult)
        correct = (in_top & (boxes.per_image >= settings["iou_threshold"])).astype(np.float64)
        return TopKBoxResult(
            name=self.name, value=float(correct.mean()), per_image=correct, higher_is_better=True,
            boxes=boxes.boxes, accuracy=float(correct.mean()), iou_threshold=settings["iou_threshold"],
            ious=boxes.per_image, in_top_k=in_top, k=k,
        )  # fmt: skip

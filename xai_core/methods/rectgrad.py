"""RectGrad: pass R through a ReLU only where its importance a * R exceeds the q-th percentile (survey eq. 5)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from xai_core.gradients import input_gradient
from xai_core.methods.base import Context, Method
from xai_core.params import FloatParam
from xai_core.registry import register


@register
class RectGrad(Method):
    name = "rectgrad"
    title = "Rectified Gradient (RectGrad)"
    family = "vanilla"
    paper = (
        "Kim, Seo, Jeong, Kim, Yoon. Why are Saliency Maps Noisy? Cause of and Solution to Noisy Saliency Maps. 2019"
    )
    url = "https://arxiv.org/abs/1902.04893"
    summary = "Backward pass keeping, at each ReLU, only entries whose a * R is above the layer's q-th percentile."
    reduction = "abs_sum"
    params = (
        FloatParam("q", 98.0, "percentile of a * R per layer and sample below which the signal is dropped", 0.0, 100.0),
    )

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        grad, _ = input_gradient(ctx.model, inputs, ctx.target, rule="rectgrad", q=params["q"], method=self.name)
        return grad

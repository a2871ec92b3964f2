"""Deconvnet: backpropagate through each ReLU only the positive part of the incoming signal (survey Fig. 3)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from xai_core.gradients import input_gradient
from xai_core.methods.base import Context, Method
from xai_core.registry import register


@register
class Deconvnet(Method):
    name = "deconvnet"
    title = "Deconvnet"
    family = "vanilla"
    paper = "Zeiler, Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014"
    url = "https://arxiv.org/abs/1311.2901"
    summary = "Backward pass where ReLU/ReLU6 pass max(R, 0) regardless of the forward activation."
    reduction = "abs_sum"

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        grad, _ = input_gradient(ctx.model, inputs, ctx.target, rule="deconvnet", method=self.name)
        return grad

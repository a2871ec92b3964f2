"""Guided backpropagation: zero the signal where the forward input or the backward signal is negative."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from xai_core.gradients import input_gradient
from xai_core.methods.base import Context, Method
from xai_core.registry import register


@register
class GuidedBackprop(Method):
    name = "guided_backprop"
    title = "Guided Backpropagation"
    family = "vanilla"
    paper = "Springenberg, Dosovitskiy, Brox, Riedmiller. Striving for Simplicity: The All Convolutional Net. 2015"
    url = "https://arxiv.org/abs/1412.6806"
    summary = "Backward pass where ReLU/ReLU6 pass R only where both the activation and R are positive."
    reduction = "abs_sum"

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        grad, _ = input_gradient(ctx.model, inputs, ctx.target, rule="guided", method=self.name)
        return grad

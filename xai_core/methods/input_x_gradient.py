"""Input x Gradient: the feature-wise product x * d f / d x (equal to epsilon-LRP up to scale, survey 2.2)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from xai_core.gradients import input_gradient
from xai_core.methods.base import Context, Method
from xai_core.registry import register


@register
class InputXGradient(Method):
    name = "input_x_gradient"
    title = "Gradient × Input"
    family = "vanilla"
    paper = "Shrikumar, Greenside, Shcherbina, Kundaje. Not Just a Black Box. arXiv 2016"
    url = "https://arxiv.org/abs/1605.01713"
    summary = "Input times its gradient; signed, summed over colour channels."
    reduction = "sum"

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        grad, _ = input_gradient(ctx.model, inputs, ctx.target)
        return inputs * grad

"""Squared gradient: the sensitivity (d f / d x)^2 of Gevrey et al.'s "PaD" family of methods."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from xai_core.gradients import input_gradient
from xai_core.methods.base import Context, Method
from xai_core.registry import register


@register
class SquaredGradient(Method):
    name = "squared_gradient"
    title = "Squared Gradient"
    family = "vanilla"
    paper = "Gevrey, Dimopoulos, Lek. Review and comparison of methods to study the contribution of variables. 2003"
    url = "https://doi.org/10.1016/S0304-3800(02)00257-0"
    summary = "Squared input gradient, summed over colour channels: magnitude of local sensitivity."
    reduction = "sum"  # per-pixel sum of squared partial derivatives

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        grad, _ = input_gradient(ctx.model, inputs, ctx.target)
        return grad.square()

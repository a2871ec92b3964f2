"""Saliency: the raw gradient of the class score w.r.t. the input (Simonyan et al., survey eq. 4)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from xai_core.gradients import input_gradient
from xai_core.methods.base import Context, Method
from xai_core.registry import register


@register
class Saliency(Method):
    name = "saliency"
    title = "Vanilla gradient"
    family = "vanilla"
    paper = "Simonyan, Vedaldi, Zisserman. Deep Inside Convolutional Networks. ICLR Workshop 2014"
    url = "https://arxiv.org/abs/1312.6034"
    summary = "Gradient of the class score w.r.t. the pixels; shown as max |.| over colour channels."
    reduction = "max_abs"  # the paper's map: max_c |w(i, j, c)|

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        grad, _ = input_gradient(ctx.model, inputs, ctx.target)
        return grad

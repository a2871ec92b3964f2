"""FullGrad: input-gradient plus bias-gradient terms (Srinivas & Fleuret 2019, survey eqs. 38-39).

For a piecewise-linear, positively homogeneous network (ReLU, conv, linear, eval-mode batch norm)
f(x) = grad_x f . x + sum_l grad_{b_l} f . b_l exactly; the raw gap of that identity is reported in
``Attribution.completeness`` (ReLU6 clips at 6, an implicit bias, so Lite0 has a small nonzero gap).
The map is S(x) = psi(grad_x f * x) + sum_l sum_c psi(grad_b f * b)_l,c with psi = |.|, min-max rescaling and
bilinear upsampling, only for layers with spatial structure (the paper drops fully connected biases).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from xai_core.extras import COMPLETENESS, Completeness
from xai_core.hooks import capture_biases
from xai_core.methods.base import Context, Method
from xai_core.params import ChoiceParam
from xai_core.registry import register

EPS_PAPER = 1e-6  # the rescaling epsilon of the paper's code (per layer tensor)
EPS_CHANNEL = 1e-7  # pytorch-grad-cam's (per channel); it matters for layers whose |b * grad| is tiny


def _rescaled_channel_sum(term: Tensor, per_channel: bool) -> Tensor:
    """sum_c psi(term)_c before upsampling: |term| min-max rescaled per sample (or per sample and channel).

    Rescaling is affine and interpolation linear, so summing channels first gives the same map for less work.
    """
    magnitude = term.abs()
    dims = (2, 3) if per_channel else (1, 2, 3)
    low = magnitude.amin(dim=dims, keepdim=True)
    high = magnitude.amax(dim=dims, keepdim=True)
    eps = EPS_CHANNEL if per_channel else EPS_PAPER
    return ((magnitude - low) / (high - low + eps)).sum(dim=1, keepdim=True)


@register
class FullGrad(Method):
    name = "fullgrad"
    title = "FullGrad"
    records = ("completeness",)
    family = "bias"
    paper = "Srinivas, Fleuret. Full-Gradient Representation for Neural Network Visualization. NeurIPS 2019"
    url = "https://arxiv.org/abs/1905.00780"
    summary = "|input x gradient| plus |bias x bias-gradient| of every conv and batch-norm layer, upsampled and summed."
    kind = "cam"
    reduction = "none"
    params = (
        ChoiceParam(
            "normalize",
            "layer",
            "min-max per layer tensor (the paper's code) or per channel (pytorch-grad-cam's FullGrad)",
            choices=("layer", "channel"),
        ),
    )

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        per_channel = params["normalize"] == "channel"
        x = inputs.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            with capture_biases() as terms:
                scores = ctx.target(ctx.model(x))
            (grad_x,) = torch.autograd.grad(scores.sum(), x)  # bias gradients arrive through tensor hooks
        size = inputs.shape[-2:]
        input_term = grad_x * inputs
        explained = input_term.flatten(1).sum(1)
        saliency = _rescaled_channel_sum(input_term, per_channel)
        for term in terms:
            if term.grad is None:  # a bias the target does not depend on
                continue
            shape = [1, -1] + [1] * (term.grad.ndim - 2)
            contribution = term.grad * term.bias.view(shape)  # grad_b f . b, laid out like the layer output
            explained = explained + contribution.flatten(1).sum(1)
            if contribution.ndim == 4:
                # The paper's code upsamples with align_corners=True; pytorch-grad-cam resizes with OpenCV.
                layer_map = _rescaled_channel_sum(contribution, per_channel)
                saliency = saliency + F.interpolate(
                    layer_map, size=size, mode="bilinear", align_corners=not per_channel
                )
        # FullGrad's completeness (its eq. 2): f(x) = sum of the input and bias terms, with no baseline (f(x') = 0).
        f_input = scores.detach().double().cpu()
        ctx.extras[COMPLETENESS] = Completeness(explained.detach().double().cpu() - f_input, f_input, 0 * f_input)
        return saliency.detach()

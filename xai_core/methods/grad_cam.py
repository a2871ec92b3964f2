"""Grad-CAM: channel weights from the spatially averaged gradient at a layer (survey eqs. 6-7)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from xai_core.gradients import layer_gradient, upsample
from xai_core.methods.base import Context, Method
from xai_core.registry import register


def weighted_activation_map(activation: Tensor, weights: Tensor) -> Tensor:
    """ReLU(sum_k w_k A_k) for ``A`` ``[B, K, h, w]`` and ``w`` ``[B, K, 1, 1]``: the CAM of eq. 6."""
    return (weights * activation).sum(dim=1, keepdim=True).clamp(min=0)


@register
class GradCam(Method):
    name = "grad_cam"
    title = "Grad-CAM"
    family = "vanilla"
    paper = (
        "Selvaraju et al. Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization. ICCV 2017"
    )
    url = "https://arxiv.org/abs/1610.02391"
    summary = "Layer activations weighted by their average gradient, ReLU, upsampled to the image."
    kind = "cam"
    reduction = "none"
    needs_layer = True

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        assert ctx.layer is not None
        activation, grad = layer_gradient(ctx.model, inputs, ctx.target, ctx.layer)
        weights = grad.mean(dim=(2, 3), keepdim=True)  # eq. 7: global average pooling of dF/dA_k
        return upsample(weighted_activation_map(activation, weights), inputs.shape[-2:])

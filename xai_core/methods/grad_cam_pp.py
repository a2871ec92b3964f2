"""Grad-CAM++: pixel-wise weighting of positive gradients (Chattopadhay et al. 2018, eqs. 19-20).

With the class score passed through exp, the higher derivatives reduce to powers of the first one:
alpha_ij^k = g^2 / (2 g^2 + sum_ab A_ab^k g^3), w_k = sum_ij alpha_ij^k relu(g_ij^k).
SmoothGrad over this method, ``noise=Noise("smoothgrad")`` (titled "grad_cam_pp + SmoothGrad" in the app), averages
whole Grad-CAM++ maps of noisy copies; Smooth Grad-CAM++ (Omeiza et al. 2019) is another method,
``smooth_grad_cam_pp``: it averages the gradient powers and computes the weights once on the clean activations.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from xai_core.gradients import layer_gradient, upsample
from xai_core.methods.base import Context, Method
from xai_core.methods.grad_cam import weighted_activation_map
from xai_core.registry import register

EPS = 1e-6  # keeps alpha finite where the denominator vanishes (pytorch-grad-cam uses the same)


@register
class GradCamPlusPlus(Method):
    name = "grad_cam_pp"
    title = "Grad-CAM++"
    family = "vanilla"
    paper = "Chattopadhay, Sarkar, Howlader, Balasubramanian. Grad-CAM++. WACV 2018"
    url = "https://arxiv.org/abs/1710.11063"
    summary = "Grad-CAM with per-location weights from second and third powers of the gradient."
    kind = "cam"
    reduction = "none"
    needs_layer = True

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        assert ctx.layer is not None
        activation, grad = layer_gradient(ctx.model, inputs, ctx.target, ctx.layer)
        grad2 = grad.square()
        denominator = 2 * grad2 + activation.sum(dim=(2, 3), keepdim=True) * grad2 * grad + EPS
        alpha = torch.where(grad != 0, grad2 / denominator, torch.zeros_like(grad))
        weights = (alpha * grad.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
        return upsample(weighted_activation_map(activation, weights), inputs.shape[-2:])

"""Smooth Grad-CAM++ (Omeiza, Speakman, Cintas, Weldemariam 2019): Grad-CAM++ with noise-averaged gradient powers.

With D_p = 1/n sum_m (dY^c/dA^k_ij at x + e_m)^p for p = 1, 2, 3 and noisy copies e_m ~ N(0, s^2) of the input,

    alpha^k_ij = D_2 / (2 D_2 + sum_ab A^k_ab D_3)        (0 where D_2 = 0)
    w_k        = sum_ij alpha^k_ij relu(D_1)
    L          = relu(sum_k w_k A^k)                       upsampled to the input,

where A are the *clean* activations: the weights are computed once, on the image itself, from derivatives averaged
over the noise. ``grad_cam_pp`` with ``noise=Noise("smoothgrad")`` is another thing: the mean of whole Grad-CAM++
maps of the noisy copies (each with its own activations and weights), which the app titles "grad_cam_pp +
SmoothGrad". The noise is SmoothGrad's: s = sigma * (max x - min x) per image, drawn per image from the seeded
generator, so ``sigma`` means what ``Noise``'s sigma means and sigma = 0 gives Grad-CAM++ exactly.

TorchCAM's ``SmoothGradCAMpp`` (``torchcam/methods/gradient.py``) is the reference port; it and this file agree on
the averaged powers and on the numerator D_2 (TorchCAM's correction of the paper, which prints D_1 there: with D_1 the
method would not reduce to Grad-CAM++). Where they differ, on purpose:

- denominator: TorchCAM sums D_3 * A over the map (sum_ab A_ab D_3,ab, also in its ``GradCAMpp``); here it is
  sum_ab A_ab times D_3,ij, Grad-CAM++'s eq. 19 as in ``grad_cam_pp`` (checked against pytorch-grad-cam);
- the relu term: TorchCAM uses the gradient of the last noisy copy (``hook_g`` after its loop), here D_1;
- the map: TorchCAM weights the activations hooked last (the last noisy copy's), here the clean ones, as alpha;
- noise: TorchCAM adds N(0, 0.3^2) in input units to 4 copies; here sigma is relative to the image's range, as
  SmoothGrad (25 copies at 0.15 by default).

``tests/test_smooth_grad_cam_pp.py`` checks a re-implementation of TorchCAM's loop with these four choices.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from xai_core.batching import chunks
from xai_core.gradients import layer_gradient, upsample
from xai_core.methods.base import Context, Method
from xai_core.methods.grad_cam import weighted_activation_map
from xai_core.methods.grad_cam_pp import EPS
from xai_core.params import FloatParam, IntParam
from xai_core.registry import register
from xai_core.targets import Target

SAMPLES = IntParam("samples", 25, "noisy copies the gradient powers are averaged over", low=1, high=10000)
SIGMA = FloatParam("sigma", 0.15, "noise std as a fraction of the input's value range (max - min)", low=0.0, high=1.0)
SEED = IntParam("seed", 0, "seed of the noise", low=0, high=2**31 - 1)


def gradient_powers(
    ctx: Context, inputs: Tensor, samples: int, sigma: float, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """D_1, D_2, D_3 ``[B, K, h, w]`` (float64): the layer gradient's powers averaged over noisy copies."""
    assert ctx.layer is not None
    batch = inputs.shape[0]
    flat = inputs.flatten(1)
    spread = (flat.max(dim=1).values - flat.min(dim=1).values).view(-1, *([1] * (inputs.ndim - 1)))
    draws = torch.stack([torch.randn((samples, *inputs.shape[1:]), generator=generator) for _ in range(batch)])
    noisy = (inputs.unsqueeze(1) + draws.to(inputs) * (sigma * spread).unsqueeze(1)).flatten(0, 1)  # image-major
    owner = torch.arange(batch * samples) // samples
    powers: Tensor | None = None  # [3, B, K, h, w]: sums of g, g^2, g^3 per image
    for part in chunks(batch * samples, ctx.chunk_size):
        rows = owner[part].to(inputs.device)
        _, grad = layer_gradient(ctx.model, noisy[part], Target(ctx.target.classes[rows], ctx.target.output), ctx.layer)
        grad = grad.double()
        if powers is None:
            powers = torch.zeros(3, batch, *grad.shape[1:], dtype=torch.float64, device=grad.device)
        powers.index_add_(1, rows, torch.stack([grad, grad**2, grad**3]))
        ctx.report(part.stop / (batch * samples))
    assert powers is not None
    d1, d2, d3 = powers / samples
    return d1, d2, d3


@register
class SmoothGradCamPlusPlus(Method):
    name = "smooth_grad_cam_pp"
    family = "vanilla"
    paper = (
        "Omeiza, Speakman, Cintas, Weldemariam. Smooth Grad-CAM++: An Enhanced Inference Level Visualization "
        "Technique for Deep Convolutional Neural Network Models. 2019"
    )
    url = "https://arxiv.org/abs/1908.01224"
    summary = "Grad-CAM++ weights from first, second and third gradient powers averaged over noisy copies."
    kind = "cam"
    reduction = "none"
    needs_layer = True
    params = (SAMPLES, SIGMA, SEED)

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        assert ctx.layer is not None
        activation, _ = layer_gradient(ctx.model, inputs, ctx.target, ctx.layer)  # the clean A (also checks target)
        generator = ctx.generator or torch.Generator().manual_seed(params["seed"])
        d1, d2, d3 = gradient_powers(ctx, inputs, params["samples"], params["sigma"], generator)
        clean = activation.double()
        denominator = 2 * d2 + clean.sum(dim=(2, 3), keepdim=True) * d3 + EPS
        alpha = torch.where(d2 > 0, d2 / denominator, torch.zeros_like(d2))
        weights = (alpha * d1.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
        cam = weighted_activation_map(clean, weights).to(inputs.dtype)
        return upsample(cam, inputs.shape[-2:])

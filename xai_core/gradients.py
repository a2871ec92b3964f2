"""Gradients of the target w.r.t. the input, optionally under an activation backward rule.

``torch.autograd.grad`` (not ``.backward()``) so that parameters' ``.grad`` stay untouched and only the nodes
on the path to the requested tensors run.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xai_core.hooks import activation_rule, capture_layer
from xai_core.params import ParameterError
from xai_core.targets import Target


def input_gradient(
    model: nn.Module, inputs: Tensor, target: Target, *, rule: str | None = None, q: float = 0.0, method: str = ""
) -> tuple[Tensor, Tensor]:
    """``(d target / d inputs, target scores)``; under ``rule`` every ReLU/ReLU6 uses that backward rule."""
    x = inputs.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        with activation_rule(rule, q, method) if rule else nullcontext():
            scores = target(model(x))
        (grad,) = torch.autograd.grad(scores.sum(), x)
    return grad, scores.detach()


def layer_gradient(model: nn.Module, inputs: Tensor, target: Target, layer: nn.Module) -> tuple[Tensor, Tensor]:
    """``(A, d target / d A)`` for the output ``A`` of ``layer`` ``[B, K, h, w]``; the backward pass stops there.

    A layer without spatial axes (a ``Linear`` output ``[B, K]``) is a ``1 x 1`` feature map, as Captum's
    ``LayerGradCam`` treats it: its CAM is then one value per image, spread over the whole image. Any other shape
    (a transformer's ``[B, tokens, D]``) is a ``ParameterError`` naming the shape.
    """
    # The input requires grad only so that a graph exists when the model's parameters are frozen.
    x = inputs.detach().requires_grad_(True)
    with torch.enable_grad(), capture_layer(layer) as capture:
        scores = target(model(x))
    activation = capture.output
    (grad,) = torch.autograd.grad(scores.sum(), activation)
    if activation.ndim == 2:
        return activation.detach()[:, :, None, None], grad[:, :, None, None]
    if activation.ndim != 4:
        raise ParameterError(
            f"the chosen layer ({type(layer).__name__}) outputs shape {tuple(activation.shape)}; CAM methods need a "
            "feature map [batch, channels, height, width] (or [batch, channels]): choose a convolutional layer"
        )
    return activation.detach(), grad


def upsample(maps: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Bilinear upsampling of ``[B, 1, h, w]`` maps to the input size (half-pixel centres, as OpenCV)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)

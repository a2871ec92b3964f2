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
    """``(A, d target / d A)`` for the output ``A`` of ``layer``; the backward pass stops at the layer."""
    # The input requires grad only so that a graph exists when the model's parameters are frozen.
    x = inputs.detach().requires_grad_(True)
    with torch.enable_grad(), capture_layer(layer) as capture:
        scores = target(model(x))
    activation = capture.output
    (grad,) = torch.autograd.grad(scores.sum(), activation)
    return activation.detach(), grad


def upsample(maps: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Bilinear upsampling of ``[B, 1, h, w]`` maps to the input size (half-pixel centres, as OpenCV)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)

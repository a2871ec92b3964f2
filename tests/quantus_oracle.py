"""Shared by the faithfulness tests against Quantus 0.6.0: a small seeded one-channel model and inputs whose
minimum is 0 (Quantus' "black" baseline is each image's minimum, ours black pixels: the same here)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor, nn


def gray_cnn(seed: int = 0, classes: int = 3) -> nn.Module:
    """Conv-Softplus x2, pool, linear on ``[B, 1, H, W]``: smooth, so no two perturbations score alike."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.Softplus(), nn.Conv2d(4, 4, 3, padding=1, stride=2), nn.Softplus(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, classes),
    )  # fmt: skip
    with torch.no_grad():
        model[-1].weight.mul_(5.0)
    return model.eval()


def gray_images(batch: int = 2, size: int = 12, seed: int = 0, channels: int = 1) -> Tensor:
    x = torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))
    x[:, :, 0, 0] = 0.0  # every image's minimum is 0: Quantus' "black"
    return x


def gray_maps(batch: int = 2, size: int = 12, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, size, size))


def quantus_call(metric: object, model: nn.Module, x: Tensor, y: Tensor, maps: np.ndarray, softmax: bool) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metric(  # type: ignore[operator]
            model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=maps[:, None].astype(np.float32),
            softmax=softmax, device="cpu",
        )  # fmt: skip

"""Small seeded toy models and inputs whose answers are known in closed form or by a reference library."""

from __future__ import annotations

import torch
from torch import nn


def relu_cnn(
    seed: int = 0, *, activation: type[nn.Module] = nn.ReLU, inplace: bool = False, classes: int = 4
) -> nn.Module:
    """Conv-BN-ReLU x2, max pool, conv, global pool, linear: a small CNN with biases everywhere."""
    torch.manual_seed(seed)
    act = (lambda: activation(inplace=True)) if inplace else activation
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        act(),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        act(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1),
        act(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, classes),
    )
    # Non-trivial batch-norm statistics so that implicit biases matter.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


CAM_LAYER_INDEX = 7  # the last conv of relu_cnn


def linear_model(seed: int = 0, shape: tuple[int, int, int] = (3, 6, 6), classes: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(shape[0] * shape[1] * shape[2], classes)).eval()


def images(batch: int = 2, size: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def smooth_cnn(seed: int = 0, classes: int = 3) -> nn.Module:
    """A smooth (Softplus) CNN whose outputs move by O(0.1-1) between a black baseline and the input."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.Softplus(),
        nn.Conv2d(8, 8, 3, padding=1, stride=2),
        nn.Softplus(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, classes),
    ).eval()
    with torch.no_grad():  # a larger read-out so that completeness is measured on a visible change
        model[-1].weight.mul_(10.0)
    return model


class PixelWrapper:
    """The parts of a load_model wrapper that baselines use: inputs live in [-1, 1], pixels in [0, 1]."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def to_pixels(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs * 0.5 + 0.5

    def to_model_space(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - 0.5) / 0.5

"""Small seeded toy models and inputs whose answers are known in closed form or by a reference library."""

from __future__ import annotations

from typing import Any

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
    return _random_batch_norms(model).eval()


def _random_batch_norms(model: nn.Module) -> nn.Module:
    """Non-trivial batch-norm statistics and affine parameters, so that implicit biases matter."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return model


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


class Add(nn.Module):
    """``a + b`` as a module, so that a reference library can attach its sum rule (Captum's ``Addition_Module``)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class ResidualCNN(nn.Module):
    """Conv-BN-ReLU stem, one residual block (conv-BN-ReLU-conv-BN plus the stem), ReLU, global average pool, linear.

    ``adder`` computes the residual sum (a plain ``a + b`` by default); reference libraries swap in their own sum
    module. The weights depend on ``seed`` only.
    """

    def __init__(self, seed: int = 0, classes: int = 4, adder: nn.Module | None = None) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.stem, self.bn0, self.act0 = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU()
        self.conv1, self.bn1, self.act1 = nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU()
        self.conv2, self.bn2 = nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.add, self.act2 = adder if adder is not None else Add(), nn.ReLU()
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(6, classes)
        _random_batch_norms(self).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act0(self.bn0(self.stem(x)))
        r = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(h)))))
        return self.fc(torch.flatten(self.pool(self.act2(self.add(r, h))), 1))


def toy_wrapper(size: int = 12, labels: list[str] | None = None) -> Any:
    """``relu_cnn`` behind the same ``ModelWrapper`` the bundled model has (CAM layer "7", ``size`` x ``size``
    inputs, normalisation 0.5/0.25): what the app and the study see, at a toy's cost. Ten classes by default."""
    from xai_core.models import ModelWrapper

    labels = labels or [f"class {i}" for i in range(10)]
    module = relu_cnn(classes=len(labels))
    return ModelWrapper("toy", module, labels, "7", (size, size), size, "bilinear", (0.5,) * 3, (0.25,) * 3)

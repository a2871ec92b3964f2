"""Shared fixtures; the toy models themselves live in toys.py."""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch
from torch import nn
from toys import images, relu_cnn

# Two xdist workers on a 2-core machine: one intra-op thread each avoids oversubscription.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture
def cnn() -> nn.Module:
    return relu_cnn()


@pytest.fixture
def x() -> torch.Tensor:
    return images()


@pytest.fixture(scope="session")
def lite0() -> Any:
    """The bundled EfficientNet-Lite0 wrapper on the CPU, loaded once per session (offline, bundled weights)."""
    from xai_core.models import load_model

    return load_model(device="cpu")


@pytest.fixture(scope="session")
def chelsea_224(lite0: Any) -> torch.Tensor:
    """The 'chelsea' sample preprocessed for Lite0: ``[1, 3, 224, 224]``."""
    from xai_core.images import load_sample

    return lite0.preprocess(load_sample("chelsea").image)

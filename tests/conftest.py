"""Shared fixtures; the toy models themselves live in toys.py."""

from __future__ import annotations

import os

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

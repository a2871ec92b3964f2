"""Shared fixtures; the toy models themselves live in toys.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
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


@pytest.fixture
def toy_app(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The app (an ``AppTest`` after its first run) on ``toys.toy_wrapper`` instead of the bundled model; its input
    size is the test module's ``TOY_SIZE`` (12 by default). The toy sits in the app's caches under the bundled
    model's name, so they are cleared before and after: a later app test must not get it."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest
    from toys import toy_wrapper

    import xai_core
    from pages.components import compute

    size = getattr(request.module, "TOY_SIZE", 12)
    st.cache_data.clear()
    compute.forget_models()
    monkeypatch.setattr(xai_core, "load_model", lambda *args, **kwargs: toy_wrapper(size))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    yield at
    st.cache_data.clear()
    compute.forget_models()

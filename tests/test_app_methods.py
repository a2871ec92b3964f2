"""Every registered method x {no post-processing, SmoothGrad, SmoothGrad squared, VarGrad} through the Explain page.

The form builds one typed ``Request`` per method (its parameters and the noise setting apart), so a method that
declares ``seed`` or ``samples`` can no longer collide with SmoothGrad's (issue 11, seam 1: 9 of 22 methods failed
with "got multiple values for keyword argument 'seed'"). The app runs on a small toy classifier here so that the
whole matrix stays cheap; what is tested is the path from the widgets to the engine and back to the overlays.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from toys import relu_cnn

import xai_core
from pages.components import compute, state
from xai_core import models, noise

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "app.py")
MODES = ("none", *noise.MODES)
METHODS = xai_core.methods.available()


def toy_wrapper() -> models.ModelWrapper:
    """A 12x12 ReLU CNN with ten classes behind the same wrapper the bundled model has."""
    labels = [f"class {i}" for i in range(10)]
    module = relu_cnn(classes=10)
    return models.ModelWrapper("toy", module, labels, "7", (12, 12), 12, "bilinear", (0.5,) * 3, (0.25,) * 3)


@pytest.fixture
def toy_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    st.cache_data.clear()
    compute.forget_models()
    monkeypatch.setattr(xai_core, "load_model", lambda *args, **kwargs: toy_wrapper())
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    yield at
    # The toy sits in the app's model cache under the bundled model's name: a later app test would get it.
    st.cache_data.clear()
    compute.forget_models()


def _cheapen(at: AppTest, method: str) -> None:
    """Cut iteration counts to the schema's minimum-or-2 so 100 maps stay fast (behaviour, not accuracy)."""
    for param in xai_core.methods.get(method).params:
        if isinstance(param, xai_core.params.IntParam) and param.name != "seed" and param.default > 4:
            widget = next(
                w
                for kind in ("number_input", "slider")
                for w in at.get(kind)
                if w.key == state.method_key("explain", method, param.name)
            )
            widget.set_value(max(param.low or 1, 2))


@pytest.mark.parametrize("mode", MODES)
def test_every_method_with_every_post_processing(toy_app: AppTest, mode: str) -> None:
    at = toy_app
    at.multiselect(key=state.EXPLAIN_METHODS).set_value(METHODS).run()
    for method in METHODS:
        _cheapen(at, method)
        at.selectbox(key=state.method_key("explain", method, "noise.mode")).set_value(mode)
        if mode != "none":
            at.number_input(key=state.method_key("explain", method, "noise.samples")).set_value(2)
    at.button(key=state.EXPLAIN_SUBMIT).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    run = at.session_state[state.EXPLAIN_RESULTS]
    assert [item.method for item in run.items] == METHODS
    for item in run.items:
        assert (item.request.noise is None) == (mode == "none"), item.method
        if mode != "none":
            assert item.request.noise.mode == mode and item.request.noise.samples == 2

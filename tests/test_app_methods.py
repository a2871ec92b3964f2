"""Every registered method x {no post-processing, SmoothGrad, SmoothGrad squared, VarGrad} through the Explain page.

The form builds one typed ``Request`` per method (its parameters and the noise setting apart), so a method that
declares ``seed`` or ``samples`` can no longer collide with SmoothGrad's (issue 11, seam 1: 9 of 22 methods failed
with "got multiple values for keyword argument 'seed'"). The app runs on a small toy classifier here so that the
whole matrix stays cheap; what is tested is the path from the widgets to the engine and back to the overlays.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import xai_core
from pages.components import state
from xai_core import noise

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "app.py")
MODES = ("none", *noise.MODES)
METHODS = xai_core.methods.available()


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

"""AppTest of the Learn page's "epsilon-LRP = gradient x input" tab on the sidebar's photo (survey section 2.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import xai_core
from pages.components import lrp_demo, state
from xai_core import teaching
from xai_core.teaching import lrp_vs_gradient_x_input

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_learn() -> AppTest:
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("pages/learn.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_comparison_shows_the_engines_numbers_for_the_sample_photo(lite0: Any, chelsea_224: Any) -> None:
    at = open_learn()
    assert "relative difference" not in [m.label for m in at.metric]  # nothing is computed until the toggle is on
    at.toggle(key=state.LEARN_LRP_RUN).set_value(True).run()
    assert not at.exception and not at.error
    as_is = lrp_vs_gradient_x_input(lite0, chelsea_224, epsilon=lrp_demo.EPSILON)  # the default sample: chelsea
    relu = lrp_vs_gradient_x_input(lite0, chelsea_224, epsilon=lrp_demo.EPSILON, relu_copy=True)
    shown = {m.label: m.value for m in at.metric}
    assert shown["max |LRP − G×I|"] == f"{as_is.max_abs_diff:.3g}"
    assert shown["relative difference"] == f"{as_is.relative_diff:.1%}"
    assert shown["ReLU6 inputs above 6"] == f"{as_is.clipped_fraction:.2%}"
    assert as_is.relative_diff > 0.1 and relu.relative_diff < 1e-3  # Lite0 saturates; its ReLU copy does not part
    text = " ".join(m.value for m in at.markdown)
    assert f"relative difference {relu.relative_diff:.1e}" in text
    assert any("gradient is 0" in c.value for c in at.caption)


def test_a_model_lrp_cannot_explain_gets_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise xai_core.HookError("lrp has no relevance rule for silu (x49) in this model")

    monkeypatch.setattr(teaching, "lrp_vs_gradient_x_input", refuse)
    at = open_learn()
    at.toggle(key=state.LEARN_LRP_RUN).set_value(True).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "LRP cannot explain this model: lrp has no relevance rule for silu (x49) in this model"
    ]

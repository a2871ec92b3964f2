"""AppTest of the Sanity checks page: model randomization on tiny settings, data randomization on two digits."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import xai_core.sanity
from pages.components import randomization, state

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/sanity.py"
METHODS = ["saliency", "guided_backprop"]
TOP_LAYERS = ["classifier", "bn2", "conv_head"]  # the bundled Lite0 from the logits down


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240).run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Sanity checks"
    return at


def captions(at: AppTest) -> list[list[str]]:
    return [list(image.captions) for image in at.image if image.captions and image.captions[0] == "original"]


def test_layer_plan() -> None:
    names = [f"l{i}" for i in range(25)]
    assert randomization.plan(names, randomization.EVERY, 10, 0) == ["l0", "l10", "l20", "l24"]
    assert randomization.plan(names, randomization.EVERY, 12, 0) == ["l0", "l12", "l24"]
    assert randomization.plan(names, randomization.TOP, 0, 3) == ["l0", "l1", "l2"]
    assert randomization.plan(names, randomization.ALL, 0, 0) == names
    with pytest.raises(ValueError, match="layer choice"):
        randomization.plan(names, "some", 1, 1)
    per_map = 1 * randomization.SECONDS_PER_PASS + randomization.SIMILARITY_SECONDS
    assert randomization.estimate_seconds([1, 1], 3) == pytest.approx(8 * per_map)  # 2 methods x (3 layers + 1)
    assert randomization.estimate_seconds([51], 0, per_pass=0.1) == pytest.approx(51 * 0.1 + 0.5)


@pytest.mark.slow
def test_cascading_randomization_of_two_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    st.cache_data.clear()
    calls: list[str] = []
    real = xai_core.sanity.model_randomization

    def counting(model, inputs, method, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(method)
        return real(model, inputs, method, **kwargs)

    monkeypatch.setattr(xai_core.sanity, "model_randomization", counting)
    at = open_page()
    assert at.multiselect(key=state.SANITY_METHODS).value == METHODS
    at.radio(key=state.SANITY_MODE).set_value("cascading")
    at.radio(key=state.SANITY_LAYER_CHOICE).set_value(randomization.TOP)
    at.number_input(key=state.SANITY_FIRST).set_value(3)
    at.button(key=state.SANITY_SUBMIT).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert calls == METHODS

    rows = captions(at)
    assert len(rows) == len(METHODS)
    for row in rows:
        assert [c.split("  \n")[0].replace("\u200b", "") for c in row] == ["original", *TOP_LAYERS]
    assert len(at.get("plotly_chart")) == 1
    _, _, items = at.session_state[state.SANITY_RESULTS]
    assert [r.method for r in items] == METHODS
    assert all(r.maps.shape == (3, 224, 224) and len(r.table["ssim"]) == 4 for r in items)

    # display toggles redraw the stored maps; nothing is recomputed
    at.toggle(key=state.SANITY_ON_IMAGE).set_value(True).run()
    at.toggle(key=state.SANITY_SHARED).set_value(True).run()
    assert not at.exception
    assert len(captions(at)) == len(METHODS) and calls == METHODS


@pytest.mark.slow
def test_data_randomization_on_two_digits(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # the cache directory of test_sanity_data.py: in a full run the digits CNNs train once for both modules
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "xai-cache"))
    st.cache_data.clear()
    at = open_page()
    at.number_input(key=state.SANITY_DATA_IMAGES).set_value(2)
    at.button(key=state.SANITY_DATA_SUBMIT).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]

    runs = at.session_state[state.SANITY_DATA_RESULTS]
    assert [r.method for r in runs] == METHODS
    assert all(r.true_maps.shape == r.permuted_maps.shape == (2, 32, 32) for r in runs)
    accuracy = {m.label: float(m.value) for m in at.metric}
    assert accuracy["True labels · test"] > 0.9 and accuracy["Permuted labels · train"] > 0.9
    assert accuracy["Permuted labels · test"] < 0.3
    tables = [d.value for d in at.dataframe if "method" in d.value.columns]  # not the measures tab's "about" table
    assert len(tables) == 1 and list(tables[0]["method"]) == METHODS
    digit_captions = [c for image in at.image for c in image.captions if c.startswith("label ")]
    assert len(digit_captions) == 2


def test_an_undefined_rank_correlation_reads_as_a_constant_map() -> None:
    from pages.components.randomization import rho_caption

    assert rho_caption(float("nan")) == "ρ n/a (constant map)"
    assert rho_caption(0.4567) == "ρ 0.46"

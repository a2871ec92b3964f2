"""The Evaluate pages are generic over the metric registry: every registered measure of a page's family renders its
settings form with its schema's defaults and computes on a toy model with cheap settings, whatever measures other
branches register. The app runs on a 32x32 toy classifier here; the numbers are tested in tests/test_metrics_*.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

import xai_core
from pages.components import checks_compute, masks_view, measures, state, worst_case
from xai_core import metrics

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SIZE = 32
TOY_SIZE = SIZE  # the toy_app fixture (conftest.py) builds its model at this input size
KINDS = ("number_input", "slider", "selectbox", "checkbox", "text_input", "radio")


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def widget(at: AppTest, key: str) -> Any:
    found = [w for kind in KINDS for w in at.get(kind) if w.key == key]
    assert len(found) == 1, key
    return found[0]


def cheap(spec: dict[str, Any]) -> Any:
    """A setting's cheapest sensible value: counts of steps, samples, points cut to 2 (or the minimum above)."""
    if spec["type"] == "int" and spec["name"] != "seed" and spec["default"] > 4:
        return max(spec.get("low") or 1, 2)
    return spec["default"]


def set_cheap(at: AppTest, scope: str, names: list[str]) -> None:
    """Every setting widget of ``names`` shows its schema default; then set to ``cheap``."""
    for setting in measures.settings_of(scope, names):
        found = widget(at, setting.key)
        assert found.value == setting.spec["default"], (setting.key, found.value)
        if cheap(setting.spec) != setting.spec["default"]:
            found.set_value(cheap(setting.spec))


def every_measure_has_a_row(at: AppTest, key: str, names: list[str], methods: list[str]) -> None:
    run = at.session_state[key]
    assert [s.item.method for s in run.scored] == methods
    for scored in run.scored:
        assert set(scored.results) | set(scored.skipped) == set(names)
        for name, result in scored.results.items():
            assert result.name == name  # a record names its measure
            assert result.higher_is_better == metrics.get(name).higher_is_better, name
        for name, why in scored.skipped.items():
            assert why, name  # a left-out measure says why
    table = measures.table(run)
    assert len(table) == len(names) * len(methods)
    assert set(table["measure"]) == {measures.title(n) for n in names}


def test_every_faithfulness_measure_renders_its_defaults_and_computes(toy_app: AppTest) -> None:
    names = measures.available("faithfulness", ("model", "inputs", "maps", "explainer"))
    assert set(metrics.REPORT) <= set(names)
    at = toy_app
    at.switch_page("pages/faithfulness.py").run()
    at.multiselect(key=state.FAITH_METHODS).set_value(["saliency"])
    at.multiselect(key=state.FAITH_MEASURES).set_value(names).run()
    ok(at)
    set_cheap(at, "faith", names)
    at.button(key=state.FAITH_SUBMIT).click().run()
    ok(at)
    every_measure_has_a_row(at, state.FAITH_RESULTS, names, ["saliency"])
    run = at.session_state[state.FAITH_RESULTS]
    curves = measures.curves(run)
    drawn = {name for name, _, _ in curves}
    assert {"insertion", "deletion"} <= drawn
    for name in names:  # every curve measure and every score that carries curves is drawn
        result = run.scored[0].results.get(name)
        own = [result] if isinstance(result, metrics.CurveResult) else list(getattr(result, "curves", ()))
        assert {c.name for c in own} <= drawn, name
    assert len(at.get("plotly_chart")) == 1
    rows = measures.table(run)
    assert np.isfinite(rows[rows["note"] == ""]["value"]).all()  # a value, or the reason there is none
    assert rows[rows["note"] != ""]["value"].isna().all()


def test_every_robustness_and_complexity_measure_computes_with_its_worst_case(toy_app: AppTest) -> None:
    names = measures.available(("robustness", "complexity"), ("model", "inputs", "maps", "explainer"))
    at = toy_app
    at.switch_page("pages/robustness.py").run()
    ok(at)
    if not names:
        assert any("No robustness or complexity measure" in i.value for i in at.info)
        return
    assert at.multiselect(key=state.ROBUST_MEASURES).value == names  # all of them by default
    at.multiselect(key=state.ROBUST_METHODS).set_value(["saliency", "grad_cam"]).run()
    set_cheap(at, "robust", names)
    at.button(key=state.ROBUST_SUBMIT).click().run()
    ok(at)
    every_measure_has_a_row(at, state.ROBUST_RESULTS, names, ["saliency", "grad_cam"])
    run = at.session_state[state.ROBUST_RESULTS]
    worst = worst_case.measures_with_worst(run)
    assert worst == [n for n in names if metrics.get(n).family == "robustness"]  # each perturbs the image
    for scored in run.scored:
        for name in worst:
            record = scored.results[name]
            if int(record.worst[0]) >= 0:  # the copy's own explanation was kept when the measure computed it
                assert scored.worst_maps[name].shape == (1, SIZE, SIZE), name
    captions = [c for image in at.image for c in image.captions]
    assert sum(c.startswith("worst copy #") or c.startswith("no perturbed copy") for c in captions) == 2


def _png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
    return buffer.getvalue()


def test_every_localization_measure_computes_with_a_box_and_an_uploaded_mask(toy_app: AppTest) -> None:
    names = measures.available("localization", ("model", "inputs", "maps", "boxes", "masks"))
    with_mask = [n for n in names if "masks" in metrics.get(n).needs]
    at = toy_app
    at.switch_page("pages/localization.py").run()
    at.multiselect(key=state.LOC_METHODS).set_value(["saliency", "grad_cam"])
    at.button(key=state.LOC_SUBMIT).click().run()
    ok(at)
    assert at.multiselect(key=state.LOC_MEASURES).value == names
    set_cheap(at, "loc", names)
    at.run()
    ok(at)
    table = at.dataframe[-1].value  # before a mask: its measures wait, with the reason
    waiting = table[table["note"].str.startswith("needs a mask")]
    assert set(waiting["measure"]) == {measures.title(n) for n in with_mask}
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[8:20, 10:26] = True
    at.file_uploader(key=state.LOC_MASK_UPLOAD).upload("mask.png", _png(mask), "image/png").run()
    ok(at)
    sha = at.session_state[state.IMAGE].sha256
    assert (at.session_state[state.mask_key(sha)] == mask).all()
    every_measure_has_a_row(at, state.LOC_SCORES, names, ["saliency", "grad_cam"])
    at.file_uploader(key=state.LOC_MASK_UPLOAD).upload("<b>bad</b>.png", b"not a png", "image/png").run()
    assert not at.exception and at.error
    assert "<b>bad</b>.png: not a PNG image that can be read" in [t.value for t in at.text]  # the name: plain text


def test_a_mask_is_drawn_by_strokes_and_uploads_follow_the_crop() -> None:
    size = (20, 30)
    lasso = {"selection": {"lasso": [{"x": [2, 12, 12, 2], "y": [3, 3, 9, 9]}], "box": []}}
    region = masks_view.stroke(lasso, size)
    assert region.shape == size and region[3:10, 2:13].all() and region.sum() == 7 * 11  # edges included
    rectangle = {"selection": {"box": [{"x": [20.2, 25.6], "y": [1.0, 4.0]}], "lasso": []}}
    assert masks_view.stroke(rectangle, size).sum() == (26 - 20) * (4 - 1)  # x1, y1 exclusive, as boxes
    assert masks_view.stroke({"selection": {}}, size) is None
    model = xai_core.load_model()
    original = np.zeros((300, 400), dtype=bool)  # an object drawn on the original image (400 x 300)
    original[100:200, 150:300] = True
    found = masks_view.from_upload(_png(original), "m.png", model, (400, 300))
    x0, y0, x1, y1 = model.box_to_input((150, 100, 300, 200), (400, 300))
    rows, cols = np.nonzero(found)
    assert abs(cols.min() - x0) <= 1 and abs(cols.max() + 1 - x1) <= 1 and abs(rows.min() - y0) <= 1
    assert abs(rows.max() + 1 - y1) <= 1
    with pytest.raises(ValueError, match=r"m.png is 10x10; a mask must have the image's size \(400x300\)"):
        masks_view.from_upload(_png(np.ones((10, 10), bool)), "m.png", model, (400, 300))


def test_every_randomization_measure_computes_on_the_sanity_page(toy_app: AppTest) -> None:
    names = measures.available("randomization", ("model", "inputs", "maps", "explainer"))
    at = toy_app
    at.switch_page("pages/sanity.py").run()
    ok(at)
    if not names:
        assert any("No randomization measure" in i.value for i in at.info)
        return
    scope = state.SANITY_MEASURES_SCOPE
    assert at.multiselect(key=state.SANITY_MEASURES).value == names
    at.multiselect(key=state.methods_key(scope)).set_value(["saliency"]).run()
    set_cheap(at, scope, names)
    at.button(key=state.SANITY_MEASURES_SUBMIT).click().run()
    ok(at)
    every_measure_has_a_row(at, state.SANITY_MEASURES_RESULTS, names, ["saliency"])


def test_send_to_localization_and_axioms_carries_the_exact_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    st.cache_data.clear()
    seen: list[Any] = []

    def recording(*args: Any) -> checks_compute.Timed:  # the axioms themselves are tested in test_checks.py
        seen.append(args[-1])
        return checks_compute.Timed([], 0.0)

    monkeypatch.setattr(checks_compute, "axioms", recording)
    for scope, submit in (("loc", state.LOC_SUBMIT), ("axioms.check", state.AXIOMS_SUBMIT)):
        at = AppTest.from_file(APP, default_timeout=300).run()  # a new session each: AppTest reruns its own page
        at.multiselect(key=state.EXPLAIN_METHODS).set_value(["saliency"]).run()
        at.selectbox(key=state.method_key("explain", "saliency", "noise.mode")).set_value("smoothgrad")
        at.number_input(key=state.method_key("explain", "saliency", "noise.samples")).set_value(2)
        at.button(key=state.EXPLAIN_SUBMIT).click().run()
        ok(at)
        explained = at.session_state[state.EXPLAIN_RESULTS].items[0].request
        at.selectbox(key=state.EXPLAIN_SEND).set_value(scope)
        at.button(key=state.EXPLAIN_SEND_BUTTON).click().run()
        ok(at)
        assert at.multiselect(key=state.methods_key(scope)).value == ["saliency"]
        assert at.selectbox(key=state.method_key(scope, "saliency", "noise.mode")).value == "smoothgrad"
        assert at.number_input(key=state.method_key(scope, "saliency", "noise.samples")).value == 2
        at.button(key=submit).click().run()
        ok(at)
        if scope == "loc":
            (item,) = at.session_state[state.LOC_RESULTS][2]
            assert item.request == explained and item.cached  # the Explain page's map, from the cache
    assert seen == [explained]  # the axioms checked the very request

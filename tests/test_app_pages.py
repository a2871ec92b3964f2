"""AppTest for the Path inspector, Faithfulness and Localization pages and the Explain page's completeness caption.

Each page is reached with ``switch_page`` after a first run (its URL is ``<section>-<file stem>``, see ``app.py``),
computes with two cheap settings and must show its charts and tables without an exception. The step viewer shows
the engine's own perturbed images (``metrics.perturbation_plan``, checked in ``test_metrics_faithfulness.py``); the
bundled annotations are checked against the images.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import xai_core
from pages.components import boxes, state
from xai_core import metrics

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "app.py")
GAP = "sum(attr) - (f(x) - f(x'))"


def page(path: str, sample: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    if sample:
        at.selectbox(key=state.SAMPLE_ID).set_value(sample).run()
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def values(data: object) -> np.ndarray:
    """A trace's x or y: Plotly 6 sends numpy arrays as ``{"dtype", "bdata"}`` (base64), lists as lists."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
    return np.asarray(data)


def test_explain_shows_the_completeness_gap_of_integrated_gradients() -> None:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.multiselect(key=state.EXPLAIN_METHODS).set_value(["integrated_gradients", "saliency"]).run()
    at.number_input(key=state.method_key("explain", "integrated_gradients", "steps")).set_value(4)
    at.button(key=state.EXPLAIN_SUBMIT).click().run()
    ok(at)
    gaps = [c.value for c in at.caption if GAP in c.value]
    assert len(gaps) == 1 and "relative" in gaps[0] and "%" in gaps[0]  # under IG only, not under saliency


def test_path_inspector_plots_the_path_and_alpha_star() -> None:
    at = page("pages/path_inspector.py")
    assert at.selectbox(key=state.PATH_METHOD).value == "integrated_gradients"
    assert "saliency" not in at.selectbox(key=state.PATH_METHOD).options  # path methods only
    at.number_input(key=state.method_key("path", "integrated_gradients", "steps")).set_value(4)
    at.button(key=state.PATH_SUBMIT).click().run()
    ok(at)
    assert GAP in captions(at) and len(at.get("plotly_chart")) == 1
    (spec,) = chart_specs(at)
    assert [len(values(t["x"])) for t in spec["data"][:3]] == [4, 4, 4]  # f, |grad f| and the running total at 4 nodes
    assert not any("α*" in a.get("text", "") for a in spec["layout"].get("annotations", []))

    at.selectbox(key=state.PATH_METHOD).set_value("split_ig").run()
    at.number_input(key=state.method_key("path", "split_ig", "steps")).set_value(4)
    at.button(key=state.PATH_SUBMIT).click().run()
    ok(at)
    assert "α* =" in captions(at) and GAP in captions(at)
    (spec,) = chart_specs(at)
    assert any("α*" in a.get("text", "") for a in spec["layout"]["annotations"])
    assert any(
        shape.get("type") == "line" and shape.get("line", {}).get("dash") == "dash"
        for shape in spec["layout"]["shapes"]
    )


def test_faithfulness_curves_table_step_viewer_and_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    st.cache_data.clear()
    calls: list[tuple[list[str], int]] = []
    real = metrics.evaluate_many

    def counting(names, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((list(names), kwargs["overrides"][names[0]].get("steps", 0)))
        return real(names, **kwargs)

    monkeypatch.setattr(metrics, "evaluate_many", counting)
    at = page("pages/faithfulness.py")
    assert at.multiselect(key=state.FAITH_METHODS).value == ["saliency", "grad_cam"]
    assert at.multiselect(key=state.FAITH_MEASURES).value == list(metrics.REPORT)
    at.number_input(key=state.FAITH_STEPS).set_value(10)
    at.selectbox(key=state.FAITH_GRANULARITY).set_value("patch")
    at.button(key=state.FAITH_SUBMIT).click().run()
    ok(at)
    assert calls == [(list(metrics.REPORT), 10)] * 2  # one shared computation per map
    (spec,) = chart_specs(at)
    assert {t["name"] for t in spec["data"]} == {"saliency", "grad_cam"}
    titles = {a["text"] for a in spec["layout"]["annotations"]}
    assert {"Insertion AUC ↑", "Deletion AUC ↓", "Deletion AUC (LeRF) ↑"} <= titles  # LeRF: inside AOPC and ABPC
    table = at.dataframe[-1].value
    assert len(table) == 16 and set(table["method"]) == {"saliency", "grad_cam"}
    better = dict(zip(table["measure"], table["better"], strict=False))
    assert better["Insertion AUC"] == "↑ higher" and better["Deletion AUC"] == "↓ lower"
    assert better["Average Drop (AD, %)"] == "↓ lower" and better["ABPC"] == "↑ higher"
    assert sorted(table["rank"]) == [1] * 8 + [2] * 8

    at.selectbox(key=state.FAITH_VIEW_METHOD).set_value("grad_cam")
    at.radio(key=state.FAITH_VIEW_CURVE).set_value("deletion")
    at.slider(key=state.FAITH_VIEW_STEP).set_value(10).run()
    ok(at)
    assert any(c == "grad_cam, deletion, step 10/10" for image in at.image for c in image.captions)
    assert "**784 of 784** patch features" in "\n".join(m.value for m in at.markdown)  # 8 px: the engine's default

    at.multiselect(key=state.FAITH_MEASURES).set_value([*metrics.REPORT, "deletion_lerf"]).run()
    at.button(key=state.FAITH_SUBMIT).click().run()  # the others come from the cache: the new measure alone
    ok(at)
    assert calls[2:] == [(["deletion_lerf"], 10)] * 2 and len(at.dataframe[-1].value) == 18


def test_a_box_dragged_on_the_image_becomes_integer_pixels_inside_it() -> None:
    event = {"selection": {"box": [{"x": [10.0, 20.0]}, {"x": [150.4, 30.6], "y": [-5.0, 99.5]}]}}
    assert boxes.selected_box(event, (224, 224)) == (31, 0, 150, 100)  # the last box, sorted, clipped, rounded
    assert boxes.selected_box({"selection": {"box": [{"x": [5, 5.2], "y": [1, 9]}]}}, (224, 224)) is None
    assert boxes.selected_box({"selection": {"box": []}}, (224, 224)) is None
    assert boxes.selected_box(None, (224, 224)) is None


def test_localization_prefills_the_annotation_and_scores_two_maps() -> None:
    at = page("pages/localization.py", sample="coffee")
    sha = at.session_state[state.IMAGE].sha256
    typed = [at.number_input(key=state.box_key(sha, c)).value for c in ("x0", "y0", "x1", "y1")]
    model = xai_core.load_model()
    cup = boxes.annotations()["coffee"][0]
    expected = model.box_to_input((cup.x0, cup.y0, cup.x1, cup.y1), xai_core.load_sample("coffee").image.size)
    assert typed == [round(v) for v in expected]
    at.button(key=state.LOC_SUBMIT).click().run()
    ok(at)
    table = at.dataframe[-1].value
    pointing = table[table["measure"] == "Pointing game"]
    assert list(pointing["method"]) == ["saliency", "grad_cam"]
    assert set(pointing["value"]) <= {0.0, 1.0}
    wsol = table[table["measure"] == "WSOL IoU"]["value"]
    assert ((wsol >= 0) & (wsol <= 1)).all()
    drawing, spec = chart_specs(at)  # the image to draw a box on, then the extended pointing game curves
    assert drawing["data"][0]["type"] == "image" and drawing["layout"]["dragmode"] == "select"
    assert {t["name"] for t in spec["data"]} == {"saliency", "grad_cam"}
    titles = {a["text"] for a in spec["layout"]["annotations"]}
    assert {"Extended pointing game (AUC) ↑", "Extended pointing precision (AUC) ↑"} <= titles
    assert sum(1 for image in at.image for c in image.captions if c in ("saliency", "grad_cam")) == 2
    assert any("Extended pointing game (the survey's definition)" in c for c in captions(at).splitlines())

    # a typed box moves the metrics without recomputing the maps
    before, maps = at.dataframe[-1].value, at.session_state[state.LOC_RESULTS]
    at.number_input(key=state.box_key(sha, "x1")).set_value(int(typed[0]) + 20).run()
    ok(at)
    after = at.dataframe[-1].value
    assert len(after) == len(before) and not after["value"].equals(before["value"])
    assert at.session_state[state.LOC_RESULTS] is maps  # the same maps, not recomputed

    # an uploaded box file (original image coordinates) replaces the typed box; a bad one gives a message
    at.file_uploader(key=state.LOC_UPLOAD).upload("boxes.csv", b"image,x0,y0,x1,y1\ncoffee,0,0,600,400\n", "text/csv")
    at.run()
    ok(at)
    assert "1 box(es) from boxes.csv" in captions(at)
    assert at.number_input(key=state.box_key(sha, "x1")).disabled
    at.file_uploader(key=state.LOC_UPLOAD).upload("bad.json", b"[1, 2]", "application/json").run()
    assert not at.exception and any("bad.json" in e.value for e in at.error)


def test_the_bundled_annotations_cover_every_sample_inside_the_crop() -> None:
    found = boxes.annotations()
    assert set(found) == set(xai_core.sample_images())
    model = xai_core.load_model()
    for sample, annotated in found.items():
        width, height = xai_core.load_sample(sample).image.size
        for box in annotated:
            assert 0 <= box.x0 < box.x1 <= width and 0 <= box.y0 < box.y1 <= height, sample
            assert box.label
        assert boxes.to_display(model, annotated, (width, height)), f"{sample}: the box misses the centre crop"


def test_parse_upload_names_the_file() -> None:
    class Upload:
        name = "boxes.csv"

        def getvalue(self) -> bytes:
            return b"image,x0,y0,x1,y1\ncat.png,10,10,5,20\n"

    with pytest.raises(ValueError, match=r"boxes.csv: line 2"):
        boxes.parse_upload(Upload())
    assert boxes.image_names(xai_core.load_image(_png(), name="cat.png"), None) == ["cat.png", "cat"]


def _png() -> bytes:
    buf = io.BytesIO()
    xai_core.load_sample("chelsea").image.save(buf, format="PNG")
    return buf.getvalue()


def test_explain_shows_integrated_hessians_pairs_and_a_region_map() -> None:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.multiselect(key=state.EXPLAIN_METHODS).set_value(["integrated_hessians"]).run()
    at.number_input(key=state.method_key("explain", "integrated_hessians", "steps")).set_value(1)
    patch = state.method_key("explain", "integrated_hessians", "patch_size")
    at.number_input(key=patch).set_value(112)  # 2 x 2 regions
    at.button(key=state.EXPLAIN_SUBMIT).click().run()
    ok(at)
    assert any("Strongest interacting region pairs" in c for c in captions(at).splitlines())
    pairs = at.dataframe[-1].value  # the first table is the top-5 predictions
    assert list(pairs.columns) == ["region i", "region j", "Gamma_ij"] and len(pairs) == 6  # 4 regions: 6 pairs
    picker = at.selectbox(key=state.interaction_region_key(0))
    assert picker.options == ["0", "1", "2", "3"]
    picker.set_value(3).run()
    ok(at)
    assert picker.value == 3
    image_captions = [c for image in at.image for c in image.captions]
    assert "interactions with region 3" in image_captions

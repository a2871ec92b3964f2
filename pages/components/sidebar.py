"""The shared sidebar rendered by ``app.py`` on every page: model picker, image picker, device.

The chosen model id and ``LoadedImage`` live in session state (keys in ``state.py``), so they survive page switches.
Bad input (a model that cannot load offline, a corrupt or empty upload) ends in an ``st.error`` message.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

import xai_core
from pages.components import incident, safe_text, state
from pages.components.compute import get_model

log = logging.getLogger(__name__)

HELP_MODEL = (
    "The bundled EfficientNet-Lite0 always works offline; the other architectures need their pretrained weights "
    "in the local torch hub cache."
)
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"]


def load_upload(uploaded: Any) -> xai_core.LoadedImage:
    """Decode an ``st.file_uploader`` file (anything with ``name`` and ``getvalue()``) into a ``LoadedImage``.

    Raises:
        xai_core.ImageError: the file is empty, not an image, or an image the app cannot use; the message says which.
    """
    return xai_core.load_image(uploaded.getvalue(), name=uploaded.name)


def _model_names() -> list[str]:
    names = xai_core.available_models()
    return list(names.keys()) if isinstance(names, dict) else [str(n) for n in names]


def pick_model() -> tuple[str, Any | None]:
    """Model selectbox; returns (model id, wrapper) or (model id, None) with an error shown when it cannot load."""
    names = _model_names()
    name = st.sidebar.selectbox("Model", names, key=state.MODEL_NAME, help=HELP_MODEL)
    try:
        model = get_model(name)
    except xai_core.ModelError as exc:
        st.sidebar.error(str(exc))
        return name, None
    except Exception as exc:  # a broken checkpoint or an unexpected failure: message, not traceback
        log.exception("loading model %s failed", name)
        st.sidebar.error(f"Could not load model '{name}': {exc}")
        return name, None
    st.sidebar.caption(f"Device: `{model.device}`")
    return name, model


def _set_image(image: xai_core.LoadedImage | None, origin: tuple[str, str] | None) -> None:
    st.session_state[state.IMAGE] = image
    st.session_state[state.IMAGE_ORIGIN] = origin


def pick_image() -> xai_core.LoadedImage | None:
    """Sample selectbox, uploader and camera (a photo, then an upload, take precedence over the sample); stores the
    result under ``state.IMAGE``."""
    st.session_state.setdefault(state.IMAGE, None)
    st.session_state.setdefault(state.IMAGE_ORIGIN, None)
    st.session_state.setdefault(state.IMAGE_ERROR, None)
    samples = xai_core.sample_images()
    sample_id = st.sidebar.selectbox(
        "Sample image", list(samples), format_func=lambda s: f"{s}: {samples[s]}", key=state.SAMPLE_ID
    )
    uploaded = st.sidebar.file_uploader(
        "…or upload an image", type=UPLOAD_TYPES, key=state.UPLOAD, help="JPEG, PNG, WebP, BMP or TIFF; up to 25 MB."
    )
    if st.sidebar.toggle("…or take a photo", key=state.CAMERA_ON, help="Uses this browser's camera."):
        photo = st.sidebar.camera_input("Camera", key=state.CAMERA, label_visibility="collapsed")
        uploaded = photo if photo is not None else uploaded  # a photo taken now comes first
    if uploaded is not None:
        origin = ("upload", uploaded.file_id)
        if st.session_state[state.IMAGE_ORIGIN] != origin:
            try:
                _set_image(load_upload(uploaded), origin)
                st.session_state[state.IMAGE_ERROR] = None
            except xai_core.ImageError as exc:
                st.session_state[state.IMAGE_ERROR] = str(exc)
                _set_image(None, origin)
            except Exception:
                error_id = incident.report("reading an upload failed")
                st.session_state[state.IMAGE_ERROR] = f"Could not read the upload (error id {error_id})."
                _set_image(None, origin)
    elif st.session_state[state.IMAGE_ORIGIN] != ("sample", sample_id):
        st.session_state[state.IMAGE_ERROR] = None
        _set_image(xai_core.load_sample(sample_id), ("sample", sample_id))
    if st.session_state[state.IMAGE_ERROR]:  # it names the uploaded file: shown as text, never as Markdown
        st.sidebar.error(safe_text.text(st.session_state[state.IMAGE_ERROR], limit=500))
    image: xai_core.LoadedImage | None = st.session_state[state.IMAGE]
    if image is not None:
        for notice in image.notices:
            st.sidebar.caption(notice)
    return image


def current_model() -> tuple[str, Any | None]:
    """The model chosen in the sidebar, or None when it cannot load (the sidebar already shows why)."""
    name = st.session_state.get(state.MODEL_NAME) or _model_names()[0]
    try:
        return name, get_model(name)
    except Exception:
        return name, None


def render() -> tuple[str, Any | None, xai_core.LoadedImage | None]:
    """The whole sidebar: returns (model id, model wrapper or None, image or None)."""
    st.sidebar.title("Saliency Studio")
    name, model = pick_model()
    image = pick_image()
    return name, model, image

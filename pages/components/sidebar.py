"""The shared sidebar rendered by ``app.py`` on every page: model picker (with weights files), image picker, device.

The chosen model id and ``LoadedImage`` live in session state (keys in ``state.py``), so they survive page switches.
The picker says which models work offline (the packaged EfficientNet-Lites, and torchvision models whose weights
are in torch hub's cache); the others need a weights file, uploaded or picked from ``XAI_WEIGHTS_DIR``. Bad input (a
wrong weights file, a corrupt or empty upload) ends in an ``st.error`` message naming the fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

import xai_core
from pages.components import compute, incident, presentation, safe_text, state, widgets

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"]
WEIGHTS_TYPES = ["pt", "pth", "bin"]
HELP_MODEL = (
    "Models marked offline load as they are (packaged ImageNet weights, or torchvision's file in torch hub's cache); "
    "the others need a state-dict file, read with torch.load(weights_only=True) so it cannot run code."
)


def load_upload(uploaded: Any) -> xai_core.LoadedImage:
    """Decode an ``st.file_uploader`` file (anything with ``name`` and ``getvalue()``) into a ``LoadedImage``.

    Raises:
        xai_core.ImageError: the file is empty, not an image, or an image the app cannot use; the message says which.
    """
    return xai_core.load_image(uploaded.getvalue(), name=uploaded.name)


def _catalog() -> dict[str, xai_core.ModelInfo]:
    return {info.name: info for info in xai_core.model_catalog()}


def _weights_files() -> list[Path]:
    folder = xai_core.settings.weights_dir()
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lstrip(".") in WEIGHTS_TYPES and p.is_file())


def _weights(name: str) -> tuple[bytes | str | None, str]:
    """A weights file for ``name`` from the uploader or ``XAI_WEIGHTS_DIR``: (bytes or path, its name)."""
    uploaded = st.sidebar.file_uploader(
        f"Weights file for {name}", type=WEIGHTS_TYPES, key=state.WEIGHTS_UPLOAD,
        help="A state dict saved with torch.save(model.state_dict(), path); read with weights_only=True.",
    )  # fmt: skip
    if uploaded is not None:
        return uploaded.getvalue(), f"{uploaded.name} ({uploaded.file_id[:8]})"
    files = _weights_files()
    if files:
        chosen = st.sidebar.selectbox("…or a file on the server", [None, *files], key=state.WEIGHTS_PATH,
                                      format_func=lambda p: "—" if p is None else p.name)  # fmt: skip
        if chosen is not None:
            return str(chosen), str(chosen)
    return None, ""


def pick_model() -> tuple[str, Any | None]:
    """Model selectbox; returns (model id, wrapper) or (model id, None) with the reason shown when it cannot load."""
    catalog = _catalog()
    names = list(catalog)
    name = widgets.kept(
        st.sidebar.selectbox, "Model", state.MODEL_NAME, names[0], options=names, help=HELP_MODEL,
        format_func=lambda n: f"{n} · offline" if catalog[n].offline else f"{n} · needs a weights file",
    )  # fmt: skip
    info = catalog[name]
    weights, label = (None, "") if info.offline else _weights(name)
    if not info.offline and weights is None:
        st.sidebar.info(f"{info.note}. Upload a weights file for {name} above, or pick a packaged model.")
        return name, None
    try:
        model = compute.get_model(name, weights, label)
    except xai_core.ModelError as exc:
        st.sidebar.error(str(exc))
        return name, None
    st.session_state[state.WEIGHTS] = (name, label) if label else None
    st.sidebar.caption(f"Device: `{model.device}` · input {model.input_size[1]}×{model.input_size[0]}")
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
    sample_id = widgets.kept(
        st.sidebar.selectbox, "Sample image", state.SAMPLE_ID, next(iter(samples)), options=list(samples),
        format_func=lambda s: f"{s}: {samples[s]}",
    )  # fmt: skip
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
    name = st.session_state.get(state.MODEL_NAME) or xai_core.available_models()[0]
    chosen = st.session_state.get(state.WEIGHTS)
    if chosen is not None and chosen[0] == name:
        return name, compute.loaded(name, chosen[1])
    info = _catalog().get(name)
    if info is None or not info.offline:
        return name, None
    try:
        return name, compute.get_model(name)
    except xai_core.ModelError:
        return name, None


def render() -> tuple[str, Any | None, xai_core.LoadedImage | None]:
    """The whole sidebar: returns (model id, model wrapper or None, image or None)."""
    st.sidebar.title("Saliency Studio")
    name, model = pick_model()
    image = pick_image()
    presentation.toggle()
    return name, model, image

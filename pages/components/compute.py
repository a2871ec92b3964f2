"""The app's cached computations: models in ``st.cache_resource``, predictions and maps in ``st.cache_data``.

Cached functions return plain numpy/Python data (pickled by ``st.cache_data``), never tensors. Cache keys are the
model id, the image's SHA-256 and the settings; the image and the model themselves are passed as ``_``-prefixed
arguments, which Streamlit does not hash. Nothing here calls an ``st.*`` element: Streamlit replays elements
created inside cached functions, and a progress bar made outside one cannot be replayed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

import xai_core

PREDICTIONS_K = 5


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def get_model(name: str) -> Any:
    """The model wrapper for ``name``, loaded once and shared by every browser session (hooks run under a lock)."""
    return xai_core.load_model(name)


@dataclass(frozen=True)
class Prepared:
    """What the page shows before any map: the model's view of the image and its top predictions."""

    display: np.ndarray  # uint8 [H, W, 3]: the preprocessed input, as the model sees it
    top_k: list[tuple[int, str, float]]  # (class index, label, probability)


@dataclass(frozen=True)
class MapResult:
    """One computed map, as plain data: safe to pickle into the cache and to keep in session state."""

    method: str
    map: np.ndarray  # float32 [H, W], reduced by the method's convention, not normalised
    params: dict[str, Any]
    postprocess: str | None
    postprocess_params: dict[str, Any]
    target: int
    kind: str
    reduction: str
    runtime_ms: float
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """A method that could not be computed, with the message shown in its place."""

    method: str
    message: str


@dataclass(frozen=True)
class ExplainRun:
    """The maps (or failures) of one submit, kept in session state so display changes need no recomputation."""

    model_name: str
    image_sha256: str
    target: int
    items: list[MapResult | Failure]


@st.cache_data(show_spinner=False, max_entries=64)
def prepare(model_name: str, image_sha256: str, _model: Any, _image: Image.Image) -> Prepared:
    """Preprocess once per (model, image): display image and top-k predictions."""
    x = _model.preprocess(_image)
    display = np.asarray(_model.to_display(x))
    if display.ndim == 4:
        display = display[0]
    top = _model.top_k(x, k=PREDICTIONS_K)[0]
    return Prepared(display=display, top_k=[(int(c), str(label), float(p)) for c, label, p in top])


def _freeze(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


@st.cache_data(show_spinner=False, max_entries=256)
def _compute(
    model_name: str,
    image_sha256: str,
    method: str,
    params_json: str,
    postprocess: str | None,
    post_json: str,
    target: int,
    _model: Any,
    _image: Image.Image,
) -> MapResult:
    params = json.loads(params_json)
    post_params = json.loads(post_json) if postprocess else {}
    x = _model.preprocess(_image)
    start = time.perf_counter()
    result = xai_core.attribute(_model, x, method, target=target, postprocess=postprocess, **params, **post_params)
    runtime_ms = (time.perf_counter() - start) * 1000.0
    return MapResult(
        method=method,
        map=result.to_maps()[0],
        params=dict(result.params),
        postprocess=result.postprocess,
        postprocess_params=dict(result.postprocess_params),
        target=int(result.target[0]),
        kind=result.kind,
        reduction=result.reduction,
        runtime_ms=runtime_ms,
        settings=result.settings(),
    )


@dataclass(frozen=True)
class Spec:
    """What to compute for one method: its parameters and the optional SmoothGrad/VarGrad wrapper."""

    method: str
    params: dict[str, Any]
    postprocess: str | None = None
    post_params: dict[str, Any] = field(default_factory=dict)


def compute_map(model_name: str, model: Any, image: Any, spec: Spec, target: int) -> MapResult:
    """The map of ``spec`` for a ``LoadedImage``, cached by (model, image hash, method, params, target).

    Raises whatever ``xai_core.attribute`` raises (``ParameterError`` for bad parameters); failures are not cached.
    """
    return _compute(
        model_name,
        image.sha256,
        spec.method,
        _freeze(spec.params),
        spec.postprocess,
        _freeze(spec.post_params if spec.postprocess else {}),
        int(target),
        model,
        image.image,
    )

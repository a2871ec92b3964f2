"""The app's cached computations: models in a process-wide dict, predictions and maps in ``st.cache_data``.

A map is asked for by an ``xai_core.Request`` (what the user chose) and a target class; it is cached under (model
id, image SHA-256, ``request.key()``, target), the same key whichever page asks. ``compute_map`` is the one way a
page gets a map: it looks the cache up first and computes outside the cached function (see ``memo``), so the
engine's progress callback can drive a progress bar, as a job of the fair-use scheduler (``fair``: the queue, a
replica of the model per running job, cancellation). Cached values are plain data (numpy maps and the engine's
typed records), never live tensors on a device.

Models are not in ``st.cache_resource``: any browser can send Streamlit's clear-cache message, which empties that
cache for every session (page loads went from 0.9 s to 2.8-5.0 s after it); a dict of this module is out of its
reach (and app.py refuses the message anyway, see ``cache_guard``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

import xai_core
from pages.components import fair, memo

PREDICTIONS_K = 5
MAX_MODELS = 4
_MODELS: OrderedDict[tuple[str, str], Any] = OrderedDict()
_MODELS_GUARD = threading.Lock()
_LOADING: dict[tuple[str, str], threading.Lock] = {}


def get_model(name: str, weights: bytes | str | None = None, weights_name: str = "") -> Any:
    """The model wrapper for ``name`` (with a weights file's bytes or path, for models that need one), loaded once
    per process and shared by every browser session (each running job computes on its own replica).

    Raises:
        xai_core.ModelError: the model cannot be loaded; the message says why.
    """
    key = (name, weights_name or (str(weights) if isinstance(weights, str) else ""))
    with _MODELS_GUARD:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
        loading = _LOADING.setdefault(key, threading.Lock())
    with loading:  # two sessions asking for the same model at once load it once
        with _MODELS_GUARD:
            if key in _MODELS:
                return _MODELS[key]
        model = xai_core.load_model(name, weights, weights_name=weights_name)
        with _MODELS_GUARD:
            _MODELS[key] = model
            while len(_MODELS) > MAX_MODELS:
                _MODELS.popitem(last=False)
        return model


def forget_models() -> None:
    """Drop every loaded model (tests that swap the model behind a name)."""
    with _MODELS_GUARD:
        _MODELS.clear()


def loaded(name: str, weights_name: str = "") -> Any | None:
    """A model already loaded by ``get_model`` (with that weights name), or None."""
    with _MODELS_GUARD:
        return _MODELS.get((name, weights_name))


@dataclass(frozen=True)
class Prepared:
    """What the page shows before any map: the model's view of the image and its top predictions."""

    display: np.ndarray  # uint8 [H, W, 3]: the preprocessed input, as the model sees it
    top_k: list[tuple[int, str, float]]  # (class index, label, probability)


@dataclass(frozen=True)
class MapResult:
    """One computed map with the request that made it and the typed records the method kept beside it."""

    request: xai_core.Request
    map: np.ndarray  # float32 [H, W], reduced by the method's convention, not normalised
    target: int
    kind: str
    reduction: str
    runtime_ms: float
    completeness: xai_core.Completeness | None = None
    path: xai_core.PathProfile | None = None
    interactions: xai_core.Interactions | None = None
    cached: bool = False  # came from the cache in this run (computed earlier, by this or another session)
    passes: int = 1  # forward+backward passes per image (xai_core.jobs.passes)

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.request.params)

    @property
    def title(self) -> str:
        return self.request.title

    @property
    def settings(self) -> dict[str, Any]:
        """What reproduces the map: ``attribute(model, x, Request.from_dict(s["request"]), target=s["target"])``."""
        return {"request": self.request.to_dict(), "target": [self.target]}


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


def map_key(model_name: str, image_sha256: str, request: xai_core.Request, target: int) -> str:
    """The cache key of a map: the same for every page that asks for it."""
    return memo.key("map", model_name, image_sha256, request.key(), int(target))


def cached_map(model_name: str, image: Any, request: xai_core.Request, target: int) -> MapResult | None:
    """The map if it is already cached (no computation), else None."""
    found: MapResult | None = memo.lookup(map_key(model_name, image.sha256, request, target))
    return found


def compute_map(
    model_name: str,
    model: Any,
    image: Any,
    request: xai_core.Request,
    target: int,
    progress: Callable[[float], None] | None = None,
    on_wait: Callable[[int], None] | None = None,
) -> MapResult:
    """The map of ``request`` for a ``LoadedImage``, from the cache (``cached=True``) or computed now (then cached).

    A computation is a job of the fair-use scheduler: it may wait in line (``on_wait(position)``), it runs on a
    replica of ``model``, and it is cancelled (``xai_core.Cancelled``) when this session ends or starts another run.

    Raises:
        xai_core.ParameterError: bad parameters, or a fair-use limit (``xai_core.jobs.LimitError``).
        xai_core.Cancelled: the job was stopped.
    """
    key = map_key(model_name, image.sha256, request, target)
    found: MapResult | None = memo.lookup(key)
    if found is not None:
        return replace(found, cached=True)
    fair.limits().check(request)
    cost = xai_core.jobs.passes(request)
    x = model.preprocess(image.image)
    with fair.job(model, on_wait) as job:
        start = time.perf_counter()
        result = xai_core.attribute(job.model, x, request, target=int(target), progress=job.progress(progress))
        seconds = time.perf_counter() - start
    fair.timer().record(model_name, cost, seconds)
    value = MapResult(
        request=result.request,
        map=result.to_maps()[0],
        target=int(result.target[0]),
        kind=result.kind,
        reduction=result.reduction,
        runtime_ms=seconds * 1000.0,
        completeness=result.completeness,
        path=result.path,
        interactions=result.interactions,
        passes=cost,
    )
    return memo.remember(key, value)

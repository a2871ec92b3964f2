"""The app's cached computations: models in ``st.cache_resource``, predictions and maps in ``st.cache_data``.

A map is asked for by an ``xai_core.Request`` (what the user chose) and a target class; it is cached under (model
id, image SHA-256, ``request.key()``, target), the same key whichever page asks. ``compute_map`` is the one way a
page gets a map: it looks the cache up first and computes outside the cached function (see ``memo``), so the
engine's progress callback can drive a progress bar. Cached values are plain data (numpy maps and the engine's
typed records), never live tensors on a device.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

import xai_core
from pages.components import memo

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
) -> MapResult:
    """The map of ``request`` for a ``LoadedImage``, from the cache or computed now (then cached).

    Raises whatever ``xai_core.attribute`` raises (``ParameterError`` for bad parameters); failures are not cached.
    """
    key = map_key(model_name, image.sha256, request, target)
    found: MapResult | None = memo.lookup(key)
    if found is not None:
        return found
    x = model.preprocess(image.image)
    start = time.perf_counter()
    result = xai_core.attribute(model, x, request, target=int(target), progress=progress)
    value = MapResult(
        request=result.request,
        map=result.to_maps()[0],
        target=int(result.target[0]),
        kind=result.kind,
        reduction=result.reduction,
        runtime_ms=(time.perf_counter() - start) * 1000.0,
        completeness=result.completeness,
        path=result.path,
        interactions=result.interactions,
    )
    return memo.remember(key, value)

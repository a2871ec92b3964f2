"""Cached runs of ``xai_core.checks`` for the Axioms & robustness page: plain data in, plain data out.

Cache keys are the model id, the image's SHA-256, the request's key (``Request.key()``: method, parameters, noise,
layer) and the check's settings; the model, the image and the request itself are ``_``-prefixed (not hashed). No
``st.*`` element is created inside a cached function (Streamlit would replay it); the page shows spinners and
progress around the calls.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from xai_core import Request, checks


def freeze(values: Any) -> str:
    return json.dumps(values, sort_keys=True, default=str)


def _inputs(model: Any, image: Image.Image) -> Any:
    # contiguous: the wrapper's preprocessing returns a channels-last view, and max_sensitivity reshapes with view()
    return model.preprocess(image).contiguous()


@dataclass(frozen=True)
class Timed:
    value: Any
    seconds: float


@st.cache_data(show_spinner=False, max_entries=64)
def axioms(model_name: str, image_sha256: str, request_key: str, _model: Any, _image: Any, _request: Request) -> Timed:
    """``check_axioms`` of one request: a list of ``AxiomResult`` (nan value: not applicable)."""
    start = time.perf_counter()
    results = checks.check_axioms(_model, _inputs(_model, _image), _request)
    return Timed(results, time.perf_counter() - start)


@st.cache_data(show_spinner=False, max_entries=64)
def sensitivity(
    model_name: str, image_sha256: str, request_key: str, radius: float, samples: int, seed: int,
    _model: Any, _image: Any, _request: Request,
) -> Timed:  # fmt: skip
    """Max-sensitivity of one request (relative change of the map, lower is more stable)."""
    start = time.perf_counter()
    result = checks.max_sensitivity(
        _model, _inputs(_model, _image), _request, radius=radius, samples=samples, seed=seed
    )
    return Timed(result.value, time.perf_counter() - start)


@dataclass(frozen=True)
class Fragility:
    """A fragility attack's outcome as plain data: maps, the attacked image and the comparison numbers."""

    original: np.ndarray  # [H, W] |map| of the image
    attacked: np.ndarray  # [H, W] |map| of the attacked image
    random: np.ndarray  # [H, W] |map| of the image plus random +-epsilon noise (the control)
    attacked_display: np.ndarray  # uint8 [H, W, 3]
    topk_intersection: float
    rank_correlation: float
    random_topk_intersection: float
    random_rank_correlation: float
    class_kept: bool
    moved: float  # L_inf distance of the attacked image from the original, in [0, 1] pixel units
    epsilon: float
    top_k: int
    seconds: float


@st.cache_data(show_spinner=False, max_entries=32)
def fragility(
    model_name: str, image_sha256: str, request_key: str, epsilon: float, steps: int, top_k: int,
    seed: int, _model: Any, _image: Any, _request: Request,
) -> Fragility:  # fmt: skip
    """Ghorbani et al.'s top-k attack on one request's map, with the random-noise control."""
    start = time.perf_counter()
    x = _inputs(_model, _image)
    result = checks.fragility_attack(_model, x, _request, epsilon=epsilon, steps=steps, top_k=top_k, seed=seed)
    attacked = result.attacked_inputs.to(x.device)
    moved = float((_model.to_pixels(attacked) - _model.to_pixels(x)).abs().max())
    display = np.asarray(_model.to_display(attacked.cpu()))
    return Fragility(
        original=result.original_maps[0],
        attacked=result.attacked_maps[0],
        random=result.random_maps[0],
        attacked_display=display[0] if display.ndim == 4 else display,
        topk_intersection=float(result.topk_intersection[0]),
        rank_correlation=float(result.rank_correlation[0]),
        random_topk_intersection=float(result.random_topk_intersection[0]),
        random_rank_correlation=float(result.random_rank_correlation[0]),
        class_kept=bool(result.class_kept[0]),
        moved=moved,
        epsilon=epsilon,
        top_k=result.top_k,
        seconds=time.perf_counter() - start,
    )


@st.cache_data(show_spinner=False, max_entries=32)
def sweep(
    model_name: str, image_sha256: str, request_key: str, param: str, values_json: str,
    faithfulness: bool, _model: Any, _image: Any, _request: Request,
) -> Timed:  # fmt: skip
    """``checks.sweep`` of one parameter: a ``SweepResult`` (maps, rank correlation with the last value, times)."""
    start = time.perf_counter()
    params = {k: v for k, v in _request.params.items() if k != param}
    result = checks.sweep(
        _model, _inputs(_model, _image), _request.method, param, json.loads(values_json), faithfulness=faithfulness,
        **params,
    )  # fmt: skip
    return Timed(result, time.perf_counter() - start)

"""Cached runs of ``xai_core.checks`` for the Axioms & robustness page: plain data in, plain data out.

Cache keys are the model id, the image's SHA-256, the method, its parameters (JSON) and the check's settings; the
model and the image are ``_``-prefixed (not hashed), as in ``compute.py``. No ``st.*`` element is created inside a
cached function (Streamlit would replay it); the page shows spinners and progress around the calls.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image
from torch import Tensor

from xai_core import checks

# Lighter defaults for the bundled model on a CPU: each check runs the method several times.
LIGHT_DEFAULTS = {"steps": 16, "samples": 8, "pgd_steps": 10, "max_iter": 10, "num_classes": 3}


def light_schema(schema: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parameter schema with expensive defaults (path steps, noise samples, attack steps) lowered."""
    out = []
    for spec in schema:
        light = LIGHT_DEFAULTS.get(spec["name"])
        if spec["type"] == "int" and light is not None and spec["default"] > light:
            spec = {**spec, "default": max(light, spec.get("low") or light)}
        out.append(spec)
    return out


def freeze(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _inputs(model: Any, image: Image.Image) -> Tensor:
    # contiguous: the wrapper's preprocessing returns a channels-last view, and max_sensitivity reshapes with view()
    return model.preprocess(image).contiguous()


@dataclass(frozen=True)
class Timed:
    value: Any
    seconds: float


@st.cache_data(show_spinner=False, max_entries=64)
def axioms(model_name: str, image_sha256: str, method: str, params_json: str, _model: Any, _image: Any) -> Timed:
    """``check_axioms`` of one method: a list of ``AxiomResult`` (nan value: not applicable)."""
    start = time.perf_counter()
    results = checks.check_axioms(_model, _inputs(_model, _image), method, **json.loads(params_json))
    return Timed(results, time.perf_counter() - start)


@st.cache_data(show_spinner=False, max_entries=64)
def sensitivity(
    model_name: str, image_sha256: str, method: str, params_json: str, radius: float, samples: int, seed: int,
    _model: Any, _image: Any,
) -> Timed:  # fmt: skip
    """Max-sensitivity of one method (relative change of the map, lower is more stable)."""
    start = time.perf_counter()
    result = checks.max_sensitivity(
        _model, _inputs(_model, _image), method, radius=radius, samples=samples, seed=seed, **json.loads(params_json)
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
    model_name: str, image_sha256: str, method: str, params_json: str, epsilon: float, steps: int, top_k: int,
    seed: int, _model: Any, _image: Any,
) -> Fragility:  # fmt: skip
    """Ghorbani et al.'s top-k attack on one method's map, with the random-noise control."""
    start = time.perf_counter()
    x = _inputs(_model, _image)
    result = checks.fragility_attack(
        _model, x, method, epsilon=epsilon, steps=steps, top_k=top_k, seed=seed, **json.loads(params_json)
    )
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
    model_name: str, image_sha256: str, method: str, params_json: str, param: str, values_json: str,
    faithfulness: bool, _model: Any, _image: Any,
) -> Timed:  # fmt: skip
    """``checks.sweep`` of one parameter: a ``SweepResult`` (maps, rank correlation with the last value, times)."""
    start = time.perf_counter()
    result = checks.sweep(
        _model, _inputs(_model, _image), method, param, json.loads(values_json), faithfulness=faithfulness,
        **json.loads(params_json),
    )  # fmt: skip
    return Timed(result, time.perf_counter() - start)

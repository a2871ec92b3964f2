"""Maps that keep what path methods record in ``Attribution.extras``: the completeness gap and the path profile.

``compute.compute_map`` keeps only the map. Methods that integrate gradients along a path also record
``completeness_gap`` (``sum(attr) - (f(x) - f(x'))``), ``f_input``, ``f_baseline`` and ``path`` (``alphas [K]``,
``scores [B, K]``, ``grad_norms [B, K]``, and ``alpha_star`` for Split IG); ``compute_map`` here returns a
``PathMapResult`` carrying them as plain numbers, cached by (model, image hash, method, params, target) and
computed with an optional progress callback (see ``memo``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import xai_core
from pages.components import memo
from pages.components.compute import MapResult, Spec

# Methods whose extras hold a path profile (paths.record_profile); the inspector offers those that are registered.
PATH_METHODS = ("integrated_gradients", "split_ig", "blur_ig", "guided_ig", "idgi", "big", "idg")


@dataclass(frozen=True)
class Completeness:
    """``gap = sum(attr) - (f(x) - f(x'))`` for one image; zero for an exact path method."""

    gap: float
    f_input: float
    f_baseline: float

    @property
    def total(self) -> float:
        """The sum of the attributions the gap was taken over."""
        return self.gap + self.f_input - self.f_baseline

    @property
    def relative(self) -> float:
        """``|gap| / |f(x) - f(x')|``; NaN when the two scores are equal."""
        change = abs(self.f_input - self.f_baseline)
        return abs(self.gap) / change if change > 0 else math.nan

    def caption(self) -> str:
        relative = "undefined" if math.isnan(self.relative) else f"{100.0 * self.relative:.1f}%"
        return (
            f"Completeness gap: sum(attr) - (f(x) - f(x')) = {self.gap:+.4g}, relative {relative} "
            f"(sum(attr) = {self.total:.4g}, f(x) = {self.f_input:.4g}, f(x') = {self.f_baseline:.4g})"
        )


@dataclass(frozen=True)
class PathProfile:
    """The path as the method walked it, for one image: node positions, f and ``|grad f|`` at each node."""

    alphas: np.ndarray  # [K]
    scores: np.ndarray  # [K]
    grad_norms: np.ndarray  # [K]
    alpha_star: float | None = None  # Split IG's saturation point


@dataclass(frozen=True)
class PathMapResult(MapResult):
    """A ``MapResult`` with the completeness gap and path profile, when the method recorded them."""

    completeness: Completeness | None = None
    profile: PathProfile | None = None
    interactions: Interactions | None = None


@dataclass(frozen=True)
class Interactions:
    """Integrated Hessians of the first image: region pairs and what a region's interaction map needs."""

    top_pairs: tuple[tuple[int, int, float], ...]  # (region i, region j, Gamma_ij), strongest first
    matrix: np.ndarray  # [R, R]
    regions: np.ndarray  # [H, W] region label per pixel

    def region_map(self, region: int) -> np.ndarray:
        """Gamma[region, r] over every region r (0 on the region itself): ``integrated_hessians.interaction_map``."""
        from xai_core.methods.integrated_hessians import interaction_map

        extras = {"interactions": [torch.as_tensor(self.matrix)], "regions": torch.as_tensor(self.regions)[None]}
        return interaction_map(extras, 0, region)


def _number(value: Any) -> float:
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


def _row(value: Any) -> np.ndarray:
    array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=np.float64)
    return array[0] if array.ndim > 1 else array


def summarize(extras: dict[str, Any]) -> tuple[Completeness | None, PathProfile | None]:
    """The first image's completeness and path profile from ``Attribution.extras`` (either may be absent)."""
    completeness = None
    if all(k in extras for k in ("completeness_gap", "f_input", "f_baseline")):
        completeness = Completeness(
            _number(extras["completeness_gap"]), _number(extras["f_input"]), _number(extras["f_baseline"])
        )
    path, profile = extras.get("path"), None
    if isinstance(path, dict) and all(k in path for k in ("alphas", "scores", "grad_norms")):
        star = path.get("alpha_star", extras.get("alpha_star"))
        profile = PathProfile(
            _row(path["alphas"]),
            _row(path["scores"]),
            _row(path["grad_norms"]),
            None if star is None else _number(star),
        )
    return completeness, profile


def _interactions(extras: dict[str, Any]) -> Interactions | None:
    if "top_pairs" not in extras:
        return None
    matrix = extras["interactions"][0].detach().cpu().numpy()
    return Interactions(tuple(extras["top_pairs"][0]), matrix, extras["regions"][0].cpu().numpy())


def compute_map(
    model_name: str,
    model: Any,
    image: Any,
    spec: Spec,
    target: int,
    progress: Callable[[float], None] | None = None,
) -> PathMapResult:
    """The map of ``spec`` with its extras summarised; cached. Raises what ``xai_core.attribute`` raises."""
    post_params = spec.post_params if spec.postprocess else {}
    cache_key = memo.key("path-map", model_name, image.sha256, spec.method, spec.params, spec.postprocess, post_params)
    cache_key += f"|target={int(target)}"
    cached = memo.lookup(cache_key)
    if cached is not None:
        return cached
    x = model.preprocess(image.image)
    start = time.perf_counter()
    result = xai_core.attribute(
        model,
        x,
        spec.method,
        target=int(target),
        postprocess=spec.postprocess,
        progress=progress,
        **spec.params,
        **post_params,
    )
    runtime_ms = (time.perf_counter() - start) * 1000.0
    completeness, profile = summarize(dict(result.extras))
    value = PathMapResult(
        method=spec.method,
        map=result.to_maps()[0],
        params=dict(result.params),
        postprocess=result.postprocess,
        postprocess_params=dict(result.postprocess_params),
        target=int(result.target[0]),
        kind=result.kind,
        reduction=result.reduction,
        runtime_ms=runtime_ms,
        settings=result.settings(),
        completeness=completeness,
        profile=profile,
        interactions=_interactions(dict(result.extras)),
    )
    return memo.remember(cache_key, value)


def records_extras(meta: dict[str, Any]) -> bool:
    """Whether a method (an entry of ``xai_core.methods()``) may record a completeness gap worth showing."""
    return meta.get("family") == "integrated" or meta.get("name") in ("fullgrad",)

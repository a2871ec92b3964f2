"""Model randomization on the Sanity checks page: the layer plan, cached runs with live progress, gallery, curves.

A run is one ``xai_core.sanity.model_randomization`` per method, kept as plain numpy (``MethodRun``) in the
``memo`` cache under (model id, image SHA-256, method, params, mode, layers, seed); see ``memo`` for why a run that
reports progress is stored there instead of inside an ``st.cache_data`` function. Each method is stored as soon as
it finishes, so a run cancelled by a rerun (any input changed) keeps the methods it completed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from pages.components import memo
from pages.components.compute import Failure
from xai_core import sanity, viz

log = logging.getLogger(__name__)

EVERY, TOP, ALL = "every", "top", "all"
LAYER_CHOICES = {
    EVERY: "Every k-th layer (spans the whole depth)",
    TOP: "First N layers from the logits",
    ALL: "All layers (slow)",
}
MEASURE_LABELS = {
    "spearman_abs": "Spearman rank correlation of |map|",
    "spearman": "Spearman rank correlation (signed)",
    "ssim": "SSIM",
    "hog_pearson": "Pearson correlation of HOG features",
}
# Before anything was measured on this server (``fair.timer``): seconds per forward+backward pass of the bundled
# Lite0 at 224 px on a quiet 2-core CPU, and the similarity measures' seconds per map; the progress bar's estimate
# is measured on the run itself.
SECONDS_PER_PASS = 0.15
SIMILARITY_SECONDS = 0.5
THUMB = 100
ZWSP = "\u200b"  # lets a long dotted layer name wrap at its dots under a thumbnail


@dataclass(frozen=True)
class MethodRun:
    """One method's randomization test as plain data: the trained model's map and each randomised model's map."""

    method: str
    mode: str
    target: int
    layers: list[str]  # from the logits down
    original: np.ndarray  # float32 [H, W]
    maps: np.ndarray  # float32 [L, H, W], one per step
    table: dict[str, list[float]]  # measure -> mean similarity per step, "original" (1.0) first
    seconds: float


def layer_names(model: Any) -> list[str]:
    """The model's parameter layers from the logits down (the order the test randomises them in)."""
    return [name for name, _ in reversed(sanity.parameter_layers(model))]


def plan(top_down: Sequence[str], choice: str, every: int, first: int) -> list[str]:
    """The layers to randomise: every ``every``-th from the logits plus the input layer, the first ``first``, or all."""
    names = list(top_down)
    if choice == EVERY:
        chosen = names[:: max(1, every)]
        return chosen if chosen[-1] == names[-1] else [*chosen, names[-1]]
    if choice == TOP:
        return names[: max(1, first)]
    if choice == ALL:
        return names
    raise ValueError(f"layer choice must be one of {list(LAYER_CHOICES)}; got {choice!r}")


def estimate_seconds(passes: Sequence[int], n_layers: int, per_pass: float | None = None) -> float:
    """One map per layer and method plus the trained model's map; ``passes`` per map of each method."""
    per = SECONDS_PER_PASS if per_pass is None else per_pass
    return sum(p * per + SIMILARITY_SECONDS for p in passes) * (n_layers + 1)


def run_key(model_name: str, image_sha256: str, method: str, mode: str, layers: Sequence[str], seed: int) -> str:
    return memo.key("sanity.model", model_name, image_sha256, method, {}, mode, list(layers), seed)


def run_method(
    model_name: str,
    model: Any,
    image: Any,
    method: str,
    mode: str,
    layers: Sequence[str],
    seed: int,
    progress: Callable[[float], None],
) -> MethodRun:
    """``model_randomization`` of ``method`` with its default parameters, from the cache when it was run before."""
    key = run_key(model_name, image.sha256, method, mode, layers, seed)
    cached = memo.lookup(key)
    if cached is not None:
        progress(1.0)
        return cached  # type: ignore[no-any-return]
    x = model.preprocess(image.image)
    start = time.perf_counter()
    result = sanity.model_randomization(model, x, method, mode=mode, layers=list(layers), seed=seed, progress=progress)
    table = result.similarity_table()
    value = MethodRun(
        method=method,
        mode=mode,
        target=int(result.target[0]),
        layers=result.layers,
        original=np.asarray(result.original_map[0], dtype=np.float32),
        maps=np.stack([np.asarray(step.maps[0], dtype=np.float32) for step in result.steps]),
        table={m: [float(v) for v in table[m]] for m in result.measures},
        seconds=time.perf_counter() - start,
    )
    return memo.remember(key, value)


def _reporter(bar: Any, method: str, index: int, total: int, start: float) -> Callable[[float], None]:
    """The engine's progress callback: the bar, and the time left measured on this run."""

    def report(fraction: float) -> None:
        done = (index + min(max(fraction, 0.0), 1.0)) / total
        elapsed = time.perf_counter() - start
        left = f" · about {elapsed * (1 - done) / done:.0f} s left" if done > 0.02 and elapsed > 1 else ""
        bar.progress(done, text=f"Randomizing for {method} ({index + 1}/{total}){left}")

    return report


def run_all(
    model_name: str, model: Any, image: Any, methods: Sequence[str], mode: str, layers: Sequence[str], seed: int
) -> list[MethodRun | Failure]:
    """Every method under one progress bar; a failing method becomes a ``Failure`` and the others still run."""
    bar = st.progress(0.0, text=f"Randomizing for {methods[0]} (1/{len(methods)}): the trained model's map…")
    start = time.perf_counter()
    items: list[MethodRun | Failure] = []
    for i, method in enumerate(methods):
        report = _reporter(bar, method, i, len(methods), start)
        try:
            items.append(run_method(model_name, model, image, method, mode, layers, seed, report))
        except ValueError as exc:  # ParameterError included: a message that names the parameter
            items.append(Failure(method, str(exc)))
        except Exception as exc:
            log.exception("model randomization of %s failed", method)
            items.append(Failure(method, f"{method} failed: {exc}"))
    bar.empty()
    return items


def _picture(display: np.ndarray, normalised: np.ndarray, on_image: bool) -> np.ndarray:
    if on_image:
        return viz.overlay(display, normalised, alpha=0.6, cmap="inferno")
    return viz.colorize(normalised, "inferno")


def rho_caption(rho: float) -> str:
    """A thumbnail's Spearman |.|; undefined when one of the maps is constant (an all-zero map of a dead layer)."""
    return "ρ n/a (constant map)" if np.isnan(rho) else f"ρ {rho:.2f}"


def gallery(display: np.ndarray, run: MethodRun, *, on_image: bool, shared: bool) -> None:
    """One row for one method: the trained model's map, then each randomised model's (Spearman |.| in the caption)."""
    stack = np.concatenate([run.original[None], run.maps])
    normalised = viz.normalize(stack, percentile=99.0, shared=shared)
    spearman = run.table.get("spearman_abs", [float("nan")] * len(stack))
    names = [layer.replace(".", "." + ZWSP) for layer in run.layers]
    captions = ["original"] + [f"{name}  \n{rho_caption(rho)}" for name, rho in zip(names, spearman[1:], strict=True)]
    st.image([_picture(display, m, on_image) for m in normalised], caption=captions, width=THUMB)


def similarity_figure(runs: Sequence[MethodRun]) -> go.Figure:
    """The paper's curves: one panel per similarity measure, one line per method, layers from the logits down."""
    measures = [m for m in MEASURE_LABELS if all(m in r.table for r in runs)]
    rows = -(-len(measures) // 2)
    fig = make_subplots(
        rows=rows,
        cols=2,
        shared_xaxes=True,
        vertical_spacing=0.12,
        horizontal_spacing=0.06,
        subplot_titles=[MEASURE_LABELS[m] for m in measures],
    )
    for index, run in enumerate(runs):
        colour = qualitative.Plotly[index % len(qualitative.Plotly)]
        x = ["original", *run.layers]
        for panel, measure in enumerate(measures):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=run.table[measure],
                    name=run.method,
                    legendgroup=run.method,
                    showlegend=panel == 0,
                    mode="lines+markers",
                    marker={"size": 6},
                    line={"color": colour},
                ),
                row=panel // 2 + 1,
                col=panel % 2 + 1,
            )
    fig.add_hline(y=0.0, line_dash="dot", line_color="gray")
    lowest = min((v for r in runs for m in measures for v in r.table[m] if np.isfinite(v)), default=0.0)
    fig.update_yaxes(range=[min(-0.25, lowest - 0.05), 1.05])
    fig.update_xaxes(tickangle=-40, tickfont={"size": 10})
    fig.update_layout(
        height=300 * rows + 120,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.04, "x": 0.0},
        hovermode="x unified",
    )
    return fig

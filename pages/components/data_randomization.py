"""Data randomization on the Sanity checks page: the digits CNNs' maps side by side, cached as plain numpy.

``xai_core.sanity.data_randomization`` trains the true-label and permuted-label digits CNNs once and caches their
weights on disk; this module keeps each method's maps, similarities and the two models' accuracies in the ``memo``
cache under (method, number of digits, seed), so a rerun of the page draws them without recomputing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import streamlit as st

from pages.components import memo
from pages.components.compute import Failure
from pages.components.randomization import rho_caption
from xai_core import sanity, viz

log = logging.getLogger(__name__)

ACCURACY_LABELS = {
    "true_train": ("True labels · train", "on the labels it was trained with"),
    "true_test": ("True labels · test", "it learned the digits"),
    "permuted_train": ("Permuted labels · train", "on the shuffled labels: memorised"),
    "permuted_test": ("Permuted labels · test", "on the true labels: chance is 0.10"),
}
SCALE = 3  # 32 px digits shown at 96 px, nearest neighbour (no smoothing of the maps' pixels)
THUMB = 84


@dataclass(frozen=True)
class DataRun:
    """One method on the first ``len(labels)`` test digits."""

    method: str
    digits: np.ndarray  # uint8 [B, 32, 32, 3]
    labels: list[int]  # the true test labels
    target: list[int]  # the class explained in both models (the true-label model's prediction)
    true_maps: np.ndarray  # float32 [B, H, W]
    permuted_maps: np.ndarray  # float32 [B, H, W]
    similarity: dict[str, list[float]]  # measure -> per digit
    mean: dict[str, float]
    accuracy: dict[str, float]


def run(method: str, images: int, seed: int, progress: Callable[[float], None]) -> DataRun:
    """The data randomization test of ``method`` on ``images`` test digits (cached; trains on a cold disk cache)."""
    key = memo.key("sanity.data", method, images, seed)
    cached = memo.lookup(key)
    if cached is not None:
        progress(1.0)
        return cached  # type: ignore[no-any-return]
    result = sanity.data_randomization(method, images=images, seed=seed, progress=progress)
    pixels = result.images.detach().cpu().clamp(0, 1).permute(0, 2, 3, 1).numpy()
    labels = sanity.load_digits_data(seed).y_test[:images]
    value = DataRun(
        method=method,
        digits=np.round(pixels * 255).astype(np.uint8),
        labels=[int(v) for v in labels],
        target=[int(v) for v in result.target],
        true_maps=np.asarray(result.true_maps, dtype=np.float32),
        permuted_maps=np.asarray(result.permuted_maps, dtype=np.float32),
        similarity={k: [float(v) for v in values] for k, values in result.similarity.items()},
        mean={k: float(v) for k, v in result.mean.items()},
        accuracy={k: float(v) for k, v in result.accuracy.items()},
    )
    return memo.remember(key, value)


def run_all(methods: Sequence[str], images: int, seed: int) -> list[DataRun | Failure]:
    """Every method under one progress bar (training, on a cold disk cache, is most of the first method's share)."""
    bar = st.progress(0.0, text="Loading or training the digits CNNs…")
    items: list[DataRun | Failure] = []
    for i, method in enumerate(methods):

        def report(fraction: float, i: int = i, method: str = method) -> None:
            text = "Training the digits CNNs (once)…" if fraction < 0.9 and i == 0 else f"Explaining with {method}…"
            bar.progress(min(max((i + fraction) / len(methods), 0.0), 1.0), text=text)

        try:
            items.append(run(method, images, seed, report))
        except Exception as exc:
            log.exception("data randomization of %s failed", method)
            items.append(Failure(method, f"{method} failed: {exc}"))
    bar.empty()
    return items


def _enlarge(picture: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(picture, SCALE, axis=0), SCALE, axis=1)


def _maps(maps: np.ndarray) -> list[np.ndarray]:
    return [_enlarge(viz.colorize(m, "inferno")) for m in viz.normalize(maps, percentile=99.0)]


def _row(label: str, pictures: Sequence[np.ndarray], captions: Sequence[str]) -> None:
    name, images = st.columns([1, 6], vertical_alignment="center")
    name.markdown(label)
    images.image(list(pictures), caption=list(captions), width=THUMB)


def digits_row(run: DataRun) -> None:
    """The test digits with their true label and the explained class."""
    captions = [f"label {y} · explains {t}" for y, t in zip(run.labels, run.target, strict=True)]
    _row("**Test digits**", [_enlarge(d) for d in run.digits], captions)


def maps_rows(run: DataRun) -> None:
    """The true-label model's maps above the permuted-label model's, Spearman |.| per digit under the latter."""
    rho = run.similarity.get("spearman_abs", [float("nan")] * len(run.labels))
    _row(f"**{run.method}**  \ntrue labels", _maps(run.true_maps), [""] * len(run.labels))
    _row(f"**{run.method}**  \npermuted labels", _maps(run.permuted_maps), [rho_caption(r) for r in rho])

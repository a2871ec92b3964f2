"""Similarity of two saliency maps, as in the randomization tests of Adebayo et al. 2018.

Sanity Checks for Saliency Maps, NeurIPS 2018, https://arxiv.org/abs/1810.03292, sec. 3: Spearman rank correlation
with and without absolute values, the structural similarity index (SSIM) and the Pearson correlation of histograms
of oriented gradients (HOGs). Definitions follow Quantus' ``similarity_func.py`` (``correlation_spearman`` is
``scipy.stats.spearmanr`` on the flattened maps, ``ssim`` is ``skimage.metrics.structural_similarity`` with an
explicit ``data_range``), with one difference: SSIM and HOG see each map min-max normalised to ``[0, 1]`` on its own
(``data_range=1``), because a randomised model's map has an arbitrary scale and only its structure is compared.

Degenerate maps: a correlation is undefined when either input is constant (an all-zero map of a dead network,
say); the functions then return ``nan`` without a warning, and aggregates use ``nanmean``. SSIM of two constant maps
is 1 (they are identical after normalisation). Non-finite values count as 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def _as_map(a: np.ndarray) -> np.ndarray:
    m = np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if m.ndim != 2:
        raise ValueError(f"a map must be 2-D [H, W]; got shape {m.shape}")
    return m


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_map(a), _as_map(b)
    if x.shape != y.shape:
        raise ValueError(f"maps must have the same shape; got {x.shape} and {y.shape}")
    return x, y


def _constant(m: np.ndarray) -> bool:
    return bool(np.ptp(m) == 0.0)


def normalize01(a: np.ndarray) -> np.ndarray:
    """Min-max normalise a map to ``[0, 1]``; a constant map becomes zeros."""
    m = _as_map(a)
    low, span = float(m.min()), float(np.ptp(m))
    return (m - low) / span if span > 0 else np.zeros_like(m)


# Each measure is split into ``prepare`` (one map -> what is compared: ranks, a normalised map, a HOG descriptor)
# and ``compare`` (two prepared values -> a number), so a randomization test prepares the trained model's map once
# and every randomised map once, instead of re-ranking and re-describing the reference at every layer.


def _pearson(x: np.ndarray | None, y: np.ndarray | None) -> float:
    """Pearson correlation; nan when either side is missing or constant."""
    if x is None or y is None or _constant(x) or _constant(y):
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _ranks(m: np.ndarray) -> np.ndarray:
    """Average ranks of the flattened map (ties share their mean rank, as in ``scipy.stats.spearmanr``)."""
    from scipy.stats import rankdata

    return np.asarray(rankdata(m.ravel()), dtype=np.float64)


def _ssim_window(shape: tuple[int, ...]) -> int | None:
    side = min(shape)
    if side >= 7:
        return 7  # skimage's default window
    odd = side if side % 2 else side - 1
    return odd if odd >= 3 else None


def _ssim_prepared(x: np.ndarray, y: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    window = _ssim_window(x.shape)
    if window is None:
        return float("nan")
    return float(structural_similarity(x, y, win_size=window, data_range=1.0))


def hog_features(a: np.ndarray) -> np.ndarray:
    """HOG descriptor (9 orientations, 3x3-cell blocks, L2-Hys) of the min-max normalised map.

    Cells are 8x8 pixels for maps of at least 32 pixels a side and ``side // 4`` below that, so small maps still
    have 4 cells a side.
    """
    from skimage.feature import hog

    m = normalize01(a)
    side = min(m.shape)
    if side < 4:
        raise ValueError(f"HOG needs maps of at least 4x4 pixels; got {m.shape}")
    cell = min(8, side // 4)
    return np.asarray(hog(m, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(3, 3)), dtype=np.float64)


def _hog_or_none(m: np.ndarray) -> np.ndarray | None:
    return hog_features(m) if min(m.shape) >= 4 else None


@dataclass(frozen=True)
class Measure:
    """A similarity of two maps, ``measure(a, b)``, in two halves (see above)."""

    prepare: Callable[[np.ndarray], Any]  # a validated 2-D float64 map -> the value compared
    compare: Callable[[Any, Any], float]

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        x, y = _pair(a, b)
        return self.compare(self.prepare(x), self.prepare(y))


MEASURES: dict[str, Measure] = {
    # Spearman = Pearson of the average ranks (Adebayo et al.'s "rank correlation", with and without |.|)
    "spearman_abs": Measure(lambda m: _ranks(np.abs(m)), _pearson),
    "spearman": Measure(_ranks, _pearson),
    # SSIM (Wang et al. 2004, 7x7 uniform window) of the min-max normalised maps, data_range=1
    "ssim": Measure(normalize01, _ssim_prepared),
    # Pearson correlation of the HOG descriptors of the normalised maps
    "hog_pearson": Measure(_hog_or_none, _pearson),
}
DEFAULT_MEASURES: tuple[str, ...] = tuple(MEASURES)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of the signed maps (Quantus ``correlation_spearman``); nan if one is constant."""
    return MEASURES["spearman"](a, b)


def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of ``|a|`` and ``|b|`` (Adebayo et al.'s "rank correlation (abs)")."""
    return MEASURES["spearman_abs"](a, b)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004, 7x7 uniform window) of the maps, each min-max normalised, ``data_range=1``.

    Maps smaller than 7 pixels on a side use the largest odd window that fits; below 3 pixels, nan.
    """
    return MEASURES["ssim"](a, b)


def hog_pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the HOG descriptors of the two maps; nan if either descriptor is constant."""
    return MEASURES["hog_pearson"](a, b)


def check_measures(measures: Sequence[str]) -> tuple[str, ...]:
    """The measure names as a tuple; an error naming the unknown ones."""
    names = (measures,) if isinstance(measures, str) else tuple(measures)
    unknown = [m for m in names if m not in MEASURES]
    if unknown or not names:
        raise ValueError(f"similarity must be a non-empty subset of {list(MEASURES)}; got {list(names)}")
    return names


def _batch(maps: np.ndarray) -> np.ndarray:
    m = np.asarray(maps)
    m = m[None] if m.ndim == 2 else m
    if m.ndim != 3:
        raise ValueError(f"maps must be [B, H, W] (or one [H, W] map); got shape {m.shape}")
    return m


class Reference:
    """Maps ``[B, H, W]`` prepared once for every measure; ``compare(other)`` scores other maps against them."""

    def __init__(self, maps: np.ndarray, measures: Sequence[str] = DEFAULT_MEASURES) -> None:
        self.measures = check_measures(measures)
        self.shape = _batch(maps).shape
        self._prepared = self._prepare(maps)

    def _prepare(self, maps: np.ndarray) -> dict[str, list[Any]]:
        batch = [_as_map(m) for m in _batch(maps)]
        return {name: [MEASURES[name].prepare(m) for m in batch] for name in self.measures}

    def compare(self, maps: np.ndarray) -> dict[str, np.ndarray]:
        """Each measure per image between the reference and ``maps`` (same shape): ``{name: array [B]}``."""
        if _batch(maps).shape != self.shape:
            raise ValueError(f"maps must both be [B, H, W] of the same shape; got {self.shape} and {np.shape(maps)}")
        other = self._prepare(maps)
        return {
            name: np.array(
                [MEASURES[name].compare(p, q) for p, q in zip(self._prepared[name], other[name], strict=True)]
            )
            for name in self.measures
        }


def similarities(a: np.ndarray, b: np.ndarray, measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, np.ndarray]:
    """Each measure per image for maps ``[B, H, W]`` (or a single ``[H, W]`` pair): ``{name: array [B]}``."""
    return Reference(a, measures).compare(b)


def nanmean(values: np.ndarray) -> float:
    """Mean over the defined values; nan (without a warning) when none is defined."""
    v = np.asarray(values, dtype=np.float64)
    if not np.isfinite(v).any():
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(v))

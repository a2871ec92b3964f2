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

import numpy as np

Measure = Callable[[np.ndarray, np.ndarray], float]


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


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of the signed maps (Quantus ``correlation_spearman``); nan if one is constant."""
    from scipy.stats import spearmanr

    x, y = _pair(a, b)
    if _constant(x) or _constant(y):
        return float("nan")
    return float(spearmanr(x.ravel(), y.ravel())[0])


def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of ``|a|`` and ``|b|`` (Adebayo et al.'s "rank correlation (abs)")."""
    x, y = _pair(a, b)
    return spearman(np.abs(x), np.abs(y))


def _ssim_window(shape: tuple[int, ...]) -> int | None:
    side = min(shape)
    if side >= 7:
        return 7  # skimage's default window
    odd = side if side % 2 else side - 1
    return odd if odd >= 3 else None


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004, 7x7 uniform window) of the maps, each min-max normalised, ``data_range=1``.

    Maps smaller than 7 pixels on a side use the largest odd window that fits; below 3 pixels, nan.
    """
    from skimage.metrics import structural_similarity

    x, y = _pair(a, b)
    window = _ssim_window(x.shape)
    if window is None:
        return float("nan")
    return float(structural_similarity(normalize01(x), normalize01(y), win_size=window, data_range=1.0))


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


def hog_pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the HOG descriptors of the two maps; nan if either descriptor is constant."""
    x, y = _pair(a, b)
    if min(x.shape) < 4:
        return float("nan")
    fx, fy = hog_features(x), hog_features(y)
    if _constant(fx) or _constant(fy):
        return float("nan")
    return float(np.corrcoef(fx, fy)[0, 1])


MEASURES: dict[str, Measure] = {
    "spearman_abs": spearman_abs,
    "spearman": spearman,
    "ssim": ssim,
    "hog_pearson": hog_pearson,
}
DEFAULT_MEASURES: tuple[str, ...] = tuple(MEASURES)


def check_measures(measures: Sequence[str]) -> tuple[str, ...]:
    """The measure names as a tuple; an error naming the unknown ones."""
    names = (measures,) if isinstance(measures, str) else tuple(measures)
    unknown = [m for m in names if m not in MEASURES]
    if unknown or not names:
        raise ValueError(f"similarity must be a non-empty subset of {list(MEASURES)}; got {list(names)}")
    return names


def similarities(a: np.ndarray, b: np.ndarray, measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, np.ndarray]:
    """Each measure per image for maps ``[B, H, W]`` (or a single ``[H, W]`` pair): ``{name: array [B]}``."""
    names = check_measures(measures)
    x, y = np.asarray(a), np.asarray(b)
    if x.ndim == 2:
        x, y = x[None], y[None]
    if x.shape != y.shape or x.ndim != 3:
        raise ValueError(f"maps must both be [B, H, W] of the same shape; got {x.shape} and {y.shape}")
    return {name: np.array([MEASURES[name](x[i], y[i]) for i in range(len(x))]) for name in names}


def nanmean(values: np.ndarray) -> float:
    """Mean over the defined values; nan (without a warning) when none is defined."""
    v = np.asarray(values, dtype=np.float64)
    if not np.isfinite(v).any():
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(v))

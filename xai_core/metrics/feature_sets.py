"""What the faithfulness measures that score many perturbed copies of each image share (faithfulness correlation
and estimate, monotonicity correlation, sensitivity-n, infidelity, ROAD): a chunked gradient-free scoring loop that
builds each chunk's images only when it is scored (never all of them at once), feature sets as masks, seeded random
subsets, and row-wise correlations.

Features are the perturbation engine's (``perturbation.features``): pixels, square patches or SLIC superpixels, each
perturbed in all channels at once. A feature's attribution is the sum of the map over its pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import Tensor

from xai_core.batching import chunks
from xai_core.metrics.base import MetricContext
from xai_core.metrics.perturbation import Run, features, setup
from xai_core.params import ChoiceParam, IntParam, ParameterError

# Images for (image row, column) pairs: build(rows [n], cols [n]) -> [n, C, H, W].
Build = Callable[[Tensor, Tensor], Tensor]

LOGIT_OUTPUT = ChoiceParam(
    "output", "logit", "score the target's logit or its softmax probability", ("logit", "probability")
)
SUBSET_SEED = IntParam("seed", 0, "seed of the random feature subsets and noise", low=0, high=2**31 - 1)


def granularity_param(default: str) -> ChoiceParam:
    return ChoiceParam(
        "granularity", default,
        "features perturbed together: pixels, square patches or SLIC superpixels (a feature's attribution is the "
        "sum of the map over it)",
        choices=("pixel", "patch", "superpixel"),
    )  # fmt: skip


def patch_param(default: int) -> IntParam:
    return IntParam("patch_size", default, "granularity=patch: side of the square patches in pixels", low=1, high=512)


N_SEGMENTS = IntParam("n_segments", 100, "granularity=superpixel: approximate number of SLIC superpixels", low=2,
                      high=5000)  # fmt: skip


def prepare(ctx: MetricContext, output: str) -> Run:
    """The shared run: model on its device, maps at the input size, target, unperturbed scores, chunk size."""
    assert ctx.inputs is not None  # the registry checked the needs
    return setup(ctx.model, ctx.inputs, ctx.maps, ctx.target, output, ctx.chunk_size)


def feature_table(run: Run, settings: dict[str, Any]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(labels [B, HW], ranking key [B, N] (-inf padding), attribution sum per feature [B, N], counts [B])``."""
    labels, importance, n = features(
        run.model, run.x, run.maps, settings.get("granularity", "pixel"), settings.get("patch_size", 8),
        settings.get("n_segments", 100),
    )  # fmt: skip
    flat = run.maps.reshape(run.maps.shape[0], -1).double()
    sums = torch.zeros_like(importance).scatter_add_(1, labels, flat)
    return labels, importance, sums, n


def score_images(
    run: Run,
    per_image: int,
    build: Build,
    progress: Callable[[float], None] | None = None,
    scorer: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> np.ndarray:
    """Target scores ``[B, per_image]`` of ``build(rows, cols)``, ``run.chunk`` images per gradient-free forward,
    image-major; ``progress(fraction)`` after each chunk. ``scorer(images, rows)`` replaces ``run.score``."""
    score = scorer or run.score
    b = run.x.shape[0]
    scores = np.full((b, per_image), np.nan)
    rows, cols = torch.arange(b).repeat_interleave(per_image), torch.arange(per_image).repeat(b)
    total = rows.numel()
    with torch.inference_mode():
        for sl in chunks(total, run.chunk):
            r, c = rows[sl], cols[sl]
            scores[r.numpy(), c.numpy()] = score(build(r, c), r).numpy()
            if progress is not None:
                progress(sl.stop / total)
    return scores


def masked(run: Run, mask: Tensor, replacement: Tensor, rows: Tensor) -> Tensor:
    """Images ``rows`` of the run, pixels ``mask`` ``[n, H, W]`` taken from ``replacement`` ``[n or 1, C, H, W]``."""
    device = run.x.device
    return torch.where(mask.to(device).unsqueeze(1), replacement.to(device), run.x[rows.to(device)])


def set_masks(labels: Tensor, members: Tensor, rows: Tensor, cols: Tensor, shape: torch.Size) -> Tensor:
    """Pixel masks ``[n, H, W]`` of feature sets ``members[rows, cols]`` (``members`` ``[B, S, N]`` bool)."""
    chosen = members[rows, cols]  # [n, N]
    return chosen.gather(1, labels[rows].to(chosen.device)).reshape(-1, *shape)


def random_subsets(n: Tensor, sizes: Tensor, seed: int) -> Tensor:
    """``[B, S, N]`` bool: for image ``b`` and sample ``s``, ``sizes[b, s]`` of its ``n[b]`` features drawn uniformly
    without replacement (``n`` ``[B]``, ``sizes`` ``[B, S]``), from a generator seeded with ``seed``."""
    b, s = sizes.shape
    n_max = int(n.max())
    gen = torch.Generator().manual_seed(seed)
    keys = torch.rand(b, s, n_max, generator=gen)
    keys.masked_fill_((torch.arange(n_max)[None] >= n[:, None])[:, None], 2.0)  # padding is never drawn
    order = keys.argsort(dim=2)
    rank = torch.empty_like(order).scatter_(2, order, torch.arange(n_max).expand(b, s, -1))
    return rank < sizes[:, :, None]


def rank_groups(importance: Tensor, n: Tensor, step: int, ascending: bool) -> tuple[Tensor, Tensor]:
    """Features grouped by rank, ``step`` per group (the last group may be smaller): group id per feature
    ``[B, N]`` (-1 for padding) and groups per image ``[B]``. Stable sort, descending unless ``ascending``."""
    key = importance if not ascending else torch.where(importance.isinf(), importance, -importance)
    order = torch.argsort(key, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(order.shape[1]).expand_as(order))
    group = torch.where(rank < n[:, None], rank // step, torch.full_like(rank, -1))
    return group, (n + step - 1) // step


def grouped(ctx: MetricContext, s: dict[str, Any], ascending: bool) -> tuple[Run, Tensor, Tensor, Tensor, Tensor]:
    """The run and its features in groups of ``features_in_step`` by rank: ``(run, labels, sums, group, groups)``
    (see ``feature_table`` and ``rank_groups``); a step that leaves fewer than two groups is refused by name."""
    run = prepare(ctx, s["output"])
    labels, importance, sums, n = feature_table(run, s)
    check_size("features_in_step", s["features_in_step"], int(n.min()) - 1, "fewer than the features of an image")
    group, groups = rank_groups(importance, n, s["features_in_step"], ascending)
    return run, labels, sums, group, groups


def group_masks(group: Tensor, labels: Tensor, rows: Tensor, which: Tensor, shape: torch.Size) -> Tensor:
    """Pixel masks ``[n, H, W]`` of group ``which[k]`` of image ``rows[k]`` (``group`` from ``rank_groups``)."""
    return (group[rows].gather(1, labels[rows]) == which.to(group.device)[:, None]).reshape(-1, *shape)


def group_correlation(
    group: Tensor, groups: Tensor, sums: Tensor, values: np.ndarray, correlate: Callable[..., np.ndarray]
) -> np.ndarray:
    """Per image, ``correlate`` (``pearson_rows`` or ``spearman_rows``) of each group's attribution (the sum of its
    features' ``sums``) with ``values`` ``[B, G]``, over that image's own groups."""
    n_groups = values.shape[1]
    ids = group.cpu()
    attributed = torch.zeros(values.shape[0], n_groups + 1, dtype=torch.float64)
    attributed.scatter_add_(1, torch.where(ids < 0, n_groups, ids), sums.cpu())  # padding -> a dropped column
    att = attributed[:, :n_groups].numpy()
    valid = np.arange(n_groups)[None] < groups.numpy()[:, None]
    return np.array([correlate(att[i : i + 1, v], values[i : i + 1, v])[0] for i, v in enumerate(valid)])


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b``; NaN where either row is constant."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(axis=1) / np.where(denom > 0, denom, 1.0), np.nan)


def nan_mean(values: np.ndarray) -> np.ndarray:
    """Mean of each row over its finite entries (an undefined correlation is left out); NaN for a row with none."""
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    total = np.where(finite, values, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation per row (average ranks for ties, as ``scipy.stats.spearmanr``)."""
    return pearson_rows(rankdata(a, axis=1), rankdata(b, axis=1))


def check_size(name: str, value: int, limit: int, what: str) -> None:
    """A ``ParameterError`` naming setting ``name`` when it exceeds ``limit`` (a property of the inputs)."""
    if value > limit:
        raise ParameterError(f"parameter '{name}' must be at most {limit} ({what}); got {value}")

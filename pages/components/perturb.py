"""The perturbed image at step ``k`` of an insertion or deletion curve, for the Faithfulness page's step viewer.

``xai_core.metrics`` scores these images but does not return them, so this rebuilds one the same way
(``xai_core/metrics/perturbation.py``, RISE's ``CausalMetric``): the map resized to the input, features (pixels,
``patch_size`` squares ranked by their sum, or SLIC superpixels on the displayed image ranked by their mean) ranked
once by a stable descending sort, ``round(k * N / steps)`` of the ``N`` features taken from the image (insertion,
onto the substrate) or from the substrate (deletion, onto the image), and the substrates ``blur`` (RISE's kernel
from ``metrics.gaussian_kernel``, zero padding), ``black``, ``mean`` and seeded ``noise``. The page's tests check
that the model scores these images exactly as the curve does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from xai_core import metrics


def substrate(model: Any, x: Tensor, name: str, sigma: float, seed: int = 0) -> Tensor:
    """The fully perturbed image ``[1, C, H, W]`` in the model's input space."""
    if name == "blur":
        kernel = torch.from_numpy(metrics.gaussian_kernel(sigma)).to(x)
        weight = kernel.expand(x.shape[1], 1, *kernel.shape)
        return F.conv2d(x, weight, padding=kernel.shape[-1] // 2, groups=x.shape[1])
    if name == "black":
        return model.to_model_space(torch.zeros_like(x)).to(x)
    if name == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    if name == "noise":
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype).to(x.device)
        return x.mean(dim=(2, 3), keepdim=True) + x.std(dim=(2, 3), keepdim=True) * z
    raise ValueError(f"substrate must be one of {list(metrics.SUBSTRATES)}; got {name!r}")


def _features(
    model: Any, x: Tensor, flat: Tensor, granularity: str, patch_size: int, n_segments: int
) -> tuple[Tensor, Tensor]:
    """Feature id per pixel ``[HW]`` and importance per feature ``[N]`` (float64)."""
    h, w = x.shape[2:]
    if granularity == "pixel":
        return torch.arange(h * w), flat
    if granularity == "patch":
        rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        n_cols = -(-w // patch_size)
        labels = ((rows // patch_size) * n_cols + cols // patch_size).reshape(-1)
        n = -(-h // patch_size) * n_cols
        return labels, torch.zeros(n, dtype=torch.float64).scatter_add_(0, labels, flat)
    if granularity == "superpixel":
        from skimage.segmentation import slic

        shown = np.asarray(model.to_display(x))[0]
        seg = slic(shown, n_segments=n_segments, start_label=0, channel_axis=-1, convert2lab=True)
        labels = torch.from_numpy(np.unique(seg, return_inverse=True)[1].reshape(-1)).long()
        n = int(labels.max()) + 1
        sums = torch.zeros(n, dtype=torch.float64).scatter_add_(0, labels, flat)
        sizes = torch.zeros(n, dtype=torch.float64).scatter_add_(0, labels, torch.ones_like(flat))
        return labels, sums / sizes.clamp_min(1)
    raise ValueError(f"granularity must be one of {list(metrics.GRANULARITIES)}; got {granularity!r}")


def ranking(
    model: Any, x: Tensor, saliency: np.ndarray, granularity: str, patch_size: int, n_segments: int
) -> tuple[np.ndarray, int]:
    """Each pixel's position in the most-relevant-first order ``[H, W]`` and the number of features ``N``."""
    maps = torch.from_numpy(np.asarray(saliency, dtype=np.float64)).float()[None]
    if tuple(maps.shape[1:]) != tuple(x.shape[2:]):
        maps = F.interpolate(maps[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    flat = maps.reshape(-1).double()
    labels, importance = _features(model, x, flat, granularity, patch_size, n_segments)
    order = torch.argsort(importance, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel()))
    return rank.gather(0, labels).reshape(x.shape[2:]).numpy(), int(importance.numel())


def count(n: int, steps: int, k: int) -> int:
    """Features perturbed at point ``k``: ``round(k * N / steps)``, half up, as the metrics count them."""
    return (2 * k * n + steps) // (2 * steps)


def perturbed(x: Tensor, fill: Tensor, rank: np.ndarray, n: int, steps: int, k: int, curve: str) -> Tensor:
    """The image scored at point ``k`` of ``curve`` (``"insertion"`` or ``"deletion"``), ``[1, C, H, W]``."""
    mask = torch.from_numpy(rank < count(n, steps, k)).to(x.device)[None, None]
    if curve == "insertion":
        return torch.where(mask, x, fill)
    if curve == "deletion":
        return torch.where(mask, fill, x)
    raise ValueError(f"curve must be 'insertion' or 'deletion'; got {curve!r}")

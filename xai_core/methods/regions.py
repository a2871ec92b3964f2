"""Image regions for region-level methods (Integrated Hessians over regions, IDG): patches, superpixels, a tree.

Not a registered method. Every function is deterministic: SLIC initialises its centres on a regular grid (no
random state, so it takes no seed) and the agglomerative merge breaks ties by region ids. Label maps are
``int64`` arrays ``[H, W]`` with consecutive labels ``0 .. R-1``.

Superpixels are SLICO (Achanta et al., TPAMI 2012; ``slic_zero``): it adapts the colour scale per superpixel,
so the count stays near ``n_segments`` on every image, where plain SLIC with a fixed compactness collapses a
noisy or synthetic image into one segment.
"""

from __future__ import annotations

import numpy as np
from skimage.segmentation import slic


def patch_regions(height: int, width: int, patch: int) -> np.ndarray:
    """A grid of ``patch`` x ``patch`` squares, numbered row by row (edge patches are cut to the image)."""
    if patch < 1:
        raise ValueError(f"patch must be at least 1; got {patch}")
    per_row = -(-width // patch)
    rows, cols = np.arange(height)[:, None] // patch, np.arange(width)[None, :] // patch
    return (rows * per_row + cols).astype(np.int64)


def superpixel_regions(image: np.ndarray, n_segments: int) -> np.ndarray:
    """SLICO superpixels of ``image`` ``[H, W, C]`` (scaled to [0, 1] per image first; Lab when C = 3)."""
    span = float(image.max() - image.min())
    scaled = (image - image.min()) / span if span > 0 else np.zeros_like(image)
    labels = slic(
        scaled.astype(np.float64), n_segments=n_segments, slic_zero=True, start_label=0,
        channel_axis=-1, convert2lab=image.shape[-1] == 3,
    )  # fmt: skip
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int64)


def adjacency(labels: np.ndarray) -> set[tuple[int, int]]:
    """Pairs ``(a, b)``, ``a < b``, of labels that touch horizontally or vertically."""
    pairs: set[tuple[int, int]] = set()
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        touching = a != b
        lo, hi = np.minimum(a[touching], b[touching]), np.maximum(a[touching], b[touching])
        pairs.update(zip(lo.tolist(), hi.tolist(), strict=True))
    return pairs


def hierarchical_regions(image: np.ndarray, n_segments: int, levels: int) -> list[np.ndarray]:
    """A region tree: ``levels`` nested label maps, from SLICO superpixels to coarser unions of them.

    Level 0 holds the superpixels; level ``k`` about ``R_0 / 2**k`` regions (at least 1), made by merging
    adjacent regions greedily with Ward's criterion on mean colour, n_a n_b / (n_a + n_b) ||mu_a - mu_b||^2
    (smallest first, ties by ids). Every region of level ``k + 1`` is a union of regions of level ``k``.
    """
    fine = superpixel_regions(image, n_segments)
    count = int(fine.max()) + 1
    pixels = image.reshape(-1, image.shape[-1]).astype(np.float64)
    size = np.bincount(fine.ravel(), minlength=count).astype(np.float64)
    mean = np.stack([np.bincount(fine.ravel(), pixels[:, c], count) for c in range(pixels.shape[1])], 1) / size[:, None]
    group = np.arange(count)  # superpixel -> its current region, named by one of its superpixels
    edges, alive, maps = adjacency(fine), count, [fine]

    def ward(edge: tuple[int, int]) -> tuple[float, tuple[int, int]]:
        a, b = edge
        return size[a] * size[b] / (size[a] + size[b]) * float(((mean[a] - mean[b]) ** 2).sum()), edge

    for level in range(1, levels):
        while alive > max(1, round(count / 2**level)) and edges:
            a, b = min(edges, key=ward)
            mean[a] = (size[a] * mean[a] + size[b] * mean[b]) / (size[a] + size[b])
            size[a] += size[b]
            group[group == b] = a
            renamed = ((a if p == b else p, a if q == b else q) for p, q in edges)
            edges = {(min(e), max(e)) for e in renamed if e[0] != e[1]}
            alive -= 1
        maps.append(np.unique(group, return_inverse=True)[1][fine].astype(np.int64))
    return maps


def parents(fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """For nested label maps: ``parents[i]`` is the coarse region holding fine region ``i``."""
    out = np.zeros(int(fine.max()) + 1, dtype=np.int64)
    out[fine.ravel()] = coarse.ravel()
    return out

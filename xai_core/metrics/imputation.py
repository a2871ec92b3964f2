"""ROAD's noisy linear imputation (Rong, Leemann, Borisov, Kasneci, Kasneci 2022), built without Python loops.

Every removed pixel ``i`` takes the weighted mean of its eight neighbours (weight 1/6 for the four edge neighbours,
1/12 for the four corner ones, only those inside the image): ``Σ_j w_ij v_j - (Σ_j w_ij) v_i = 0``, where ``v_j`` is
a known pixel value (moved to the right-hand side) or another unknown. All removed pixels of one image form one
sparse linear system (one unknown per pixel, one right-hand side per channel), solved by ``scipy.sparse``'s
``spsolve``; Gaussian noise of standard deviation ``noise`` is then added to the imputed values. This is
``NoisyLinearImputer`` of tleemann/road_evaluation (``road/imputations.py``), which pytorch-grad-cam and Quantus
copy; the authors fill the system's sparse matrix entry by entry (``lil_matrix``), here it is built in one COO
call from index arithmetic. Without noise the imputed values agree with theirs to float rounding.

A connected region of removed pixels that touches no known pixel has no defined fill (the system is singular):
removing every pixel is refused.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

# (row offset, column offset) -> weight: the authors' ``neighbors_weights``.
NEIGHBOURS = (
    ((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12),
    ((0, -1), 1 / 6), ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6),
)  # fmt: skip


def linear_imputation(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """The noise-free fill of ``image`` ``[C, H, W]`` where ``removed`` ``[H, W]`` (bool) is set, float64.

    Known pixels are returned unchanged; removed ones solve the neighbour-mean system described in the module
    notes.
    """
    c, h, w = image.shape
    flat_removed = removed.reshape(-1)
    unknown = np.flatnonzero(flat_removed)  # row-major, as the authors' argwhere
    out = image.reshape(c, -1).astype(np.float64, copy=True)
    n = unknown.size
    if n == 0:
        return out.reshape(c, h, w)
    if n == h * w:
        raise ValueError("ROAD's linear imputation needs at least one known pixel; every pixel was removed")
    var_of = np.full(h * w, -1, dtype=np.int64)
    var_of[unknown] = np.arange(n)
    rows0, cols0 = np.divmod(unknown, w)
    diag = np.zeros(n)
    rhs = np.zeros((n, c))
    sys_rows, sys_cols, sys_vals = [], [], []
    for (dr, dc), weight in NEIGHBOURS:
        r, col = rows0 + dr, cols0 + dc
        inside = (r >= 0) & (r < h) & (col >= 0) & (col < w)
        eq = np.flatnonzero(inside)  # equations whose neighbour at this offset exists
        diag[eq] += weight
        neighbour = r[eq] * w + col[eq]
        is_unknown = flat_removed[neighbour]
        known_eq, known_px = eq[~is_unknown], neighbour[~is_unknown]
        rhs[known_eq] -= weight * out[:, known_px].T
        sys_rows.append(eq[is_unknown])
        sys_cols.append(var_of[neighbour[is_unknown]])
        sys_vals.append(np.full(int(is_unknown.sum()), weight))
    idx = np.arange(n)
    matrix = coo_matrix(
        (np.concatenate([*sys_vals, -diag]), (np.concatenate([*sys_rows, idx]), np.concatenate([*sys_cols, idx]))),
        shape=(n, n),
    ).tocsc()
    solution = np.asarray(spsolve(matrix, rhs)).reshape(n, c)
    out[:, unknown] = solution.T
    return out.reshape(c, h, w)


def noisy_linear_imputation(
    image: np.ndarray, removed: np.ndarray, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """``linear_imputation`` plus ``N(0, noise²)`` on every imputed value (one draw per channel and pixel)."""
    out = linear_imputation(image, removed)
    if noise > 0:
        out[:, removed] += noise * rng.standard_normal((image.shape[0], int(removed.sum())))
    return out

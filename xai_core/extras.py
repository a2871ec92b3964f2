"""Typed records that methods keep beside the map: the completeness gap, the path profile, region interactions.

A method stores them in ``ctx.extras`` under ``COMPLETENESS``, ``PATH`` and ``INTERACTIONS``; ``attribute`` lifts
them into the ``Attribution``'s typed fields, and keeps whatever else a method records (attack success, flux, ...)
in ``Attribution.extras``.

Shapes: a record's per-input tensors lead with the batch ``[B, ...]``. Under SmoothGrad/VarGrad every noisy draw is
kept, as Captum's ``NoiseTunnel`` keeps one convergence delta per draw: the leading axes become ``[S, B, ...]`` for
``S`` noise samples, whatever the chunk size (``merge_draws``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

COMPLETENESS = "completeness"
PATH = "path"
INTERACTIONS = "interactions"
TYPED = (COMPLETENESS, PATH, INTERACTIONS)


def completeness_gap(attributions: Tensor, f_input: Tensor, f_baseline: Tensor) -> Tensor:
    """``sum(attr) - (f(x) - f(x'))`` per sample: zero for an exact path method."""
    total = attributions.detach().flatten(1).double().sum(1).cpu()
    return total - (f_input.detach().double().cpu() - f_baseline.detach().double().cpu())


@dataclass(frozen=True)
class Completeness:
    """How far ``sum(attr)`` is from ``f(x) - f(x')`` (survey eq. 9): ``gap`` is zero for an exact method.

    Attributes:
        gap: ``sum(attr) - (f(x) - f(x'))``, ``[B]`` (``[S, B]`` under noise), float64 on the CPU.
        f_input: the explained score at the input, same shape.
        f_baseline: the score at the baseline (or the reference the method integrates from), same shape.
    """

    gap: Tensor
    f_input: Tensor
    f_baseline: Tensor

    @classmethod
    def of(cls, attributions: Tensor, f_input: Tensor, f_baseline: Tensor) -> Completeness:
        """The gap of ``attributions`` ``[B, ...]`` against the two scores ``[B]``."""
        return cls(
            completeness_gap(attributions, f_input, f_baseline),
            f_input.detach().double().cpu(),
            f_baseline.detach().double().cpu(),
        )

    @property
    def total(self) -> Tensor:
        """``sum(attr)``, the quantity the gap was taken of."""
        return self.gap + self.f_input - self.f_baseline

    @property
    def relative(self) -> Tensor:
        """``|gap| / |f(x) - f(x')|``; NaN where the two scores are equal."""
        change = (self.f_input - self.f_baseline).abs()
        return torch.where(change > 0, self.gap.abs() / change.clamp(min=1e-300), torch.nan)

    def caption(self, index: int = 0) -> str:
        """One line for the first (or ``index``-th) input; under noise, the mean over the draws."""
        gap, f_x, f_b, total, rel = (
            float(t.reshape(-1, *t.shape[-1:])[:, index].mean())
            for t in (self.gap, self.f_input, self.f_baseline, self.total, self.relative)
        )
        relative = "undefined" if math.isnan(rel) else f"{100.0 * rel:.1f}%"
        draws = " (mean over noise draws)" if self.gap.ndim > 1 else ""
        return (
            f"Completeness gap{draws}: sum(attr) - (f(x) - f(x')) = {gap:+.4g}, relative {relative} "
            f"(sum(attr) = {total:.4g}, f(x) = {f_x:.4g}, f(x') = {f_b:.4g})"
        )


@dataclass(frozen=True)
class PathProfile:
    """The path as the method walked it: node positions, f and ``|grad f|`` at each node.

    Attributes:
        alphas: node positions in [0, 1], ``[K]`` (shared by every input).
        scores: f at the nodes, ``[B, K]`` (``[S, B, K]`` under noise).
        grad_norms: L2 norm of the gradient at the nodes, same shape.
        alpha_star: Split IG's saturation point per input, ``[B]``; None for other methods.
    """

    alphas: Tensor
    scores: Tensor
    grad_norms: Tensor
    alpha_star: Tensor | None = None
    shared: ClassVar[tuple[str, ...]] = ("alphas",)  # the same for every input and every noise draw

    @classmethod
    def of(cls, alphas: Tensor, scores: Tensor, grad_norms: Tensor, alpha_star: Tensor | None = None) -> PathProfile:
        return cls(
            alphas.detach().cpu(),
            scores.detach().cpu(),
            grad_norms.detach().cpu(),
            None if alpha_star is None else alpha_star.detach().cpu(),
        )

    def row(self, index: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
        """``(alphas, scores, grad_norms, alpha_star)`` of one input as float64 arrays (under noise: draw means)."""

        def one(tensor: Tensor) -> np.ndarray:
            flat = tensor.double().reshape(-1, *tensor.shape[-2:])  # [S, B, K] or [1, B, K]
            return flat[:, index].mean(0).numpy()

        star = None
        if self.alpha_star is not None:
            star = float(self.alpha_star.double().reshape(-1, self.alpha_star.shape[-1])[:, index].mean())
        return self.alphas.double().numpy(), one(self.scores), one(self.grad_norms), star


@dataclass(frozen=True)
class Interactions:
    """Integrated Hessians' pairwise region interactions per input.

    Attributes:
        matrices: Gamma ``[R_b, R_b]`` per input (regions can differ in number between images).
        regions: region label per pixel, ``[B, H, W]``.
        top_pairs: per input, the strongest ``(region i, region j, Gamma_ij)`` pairs, strongest first.
    """

    matrices: tuple[Tensor, ...]
    regions: Tensor
    top_pairs: tuple[tuple[tuple[int, int, float], ...], ...]

    def region_map(self, sample: int, region: int) -> np.ndarray:
        """``Gamma[region, r]`` painted on every pixel of region ``r`` (0 on ``region`` itself), ``[H, W]``."""
        gamma, labels = self.matrices[sample].clone(), self.regions[sample]
        if not 0 <= region < gamma.shape[0]:
            raise ValueError(f"region must lie in [0, {gamma.shape[0] - 1}]; got {region}")
        gamma[region, region] = 0.0
        return gamma[region][labels.long()].double().cpu().numpy()


# --- SmoothGrad/VarGrad: one record per noisy draw ------------------------------------------------------------


def _stack(values: Sequence[Any], draws: Sequence[int], batch: int) -> Any:
    """Values of the chunks laid out ``[draws_i * B, ...]`` -> one value ``[S, B, ...]``; else the first/all."""
    first = values[0]
    if isinstance(first, Tensor):
        if all(
            isinstance(v, Tensor) and v.ndim >= 1 and v.shape[0] == d * batch
            for v, d in zip(values, draws, strict=True)
        ):
            joined = torch.cat(list(values))
            return joined.view(sum(draws), batch, *joined.shape[1:])
        return first if all(isinstance(v, Tensor) and torch.equal(v, first) for v in values) else list(values)
    if dataclasses.is_dataclass(first) and not isinstance(first, type):
        shared = getattr(first, "shared", ())
        merged = {
            f.name: getattr(first, f.name)
            if getattr(first, f.name) is None or f.name in shared
            else _stack([getattr(v, f.name) for v in values], draws, batch)
            for f in dataclasses.fields(first)
        }
        return type(first)(**merged)
    if isinstance(first, (list, tuple)) and all(len(v) == d * batch for v, d in zip(values, draws, strict=True)):
        joined_items = [item for v in values for item in v]
        return type(first)(type(first)(joined_items[s * batch : (s + 1) * batch]) for s in range(sum(draws)))  # [S][B]
    return first if all(_same(v, first) for v in values) else list(values)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (RuntimeError, ValueError):
        return False


def merge_draws(chunks: Sequence[Mapping[str, Any]], draws: Sequence[int], batch: int) -> dict[str, Any]:
    """The extras of every noise chunk as one dict: per-input values become ``[S, B, ...]``.

    ``chunks[i]`` holds what the method recorded for ``draws[i]`` noise draws of a ``batch``-image input (laid out
    draw-major, ``[draws_i * B, ...]``). A value the chunks share (a path's ``alphas``) is kept once; a value of
    another shape is kept as the list of the chunks' values.
    """
    keys = [k for k in chunks[0] if all(k in c for c in chunks)] if chunks else []
    return {key: _stack([c[key] for c in chunks], draws, batch) for key in keys}

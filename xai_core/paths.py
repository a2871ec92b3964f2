"""Baselines, quadrature rules and batched path evaluation for the integrated-gradients family.

Baselines live in the model's *pixel* space ([0, 1] RGB for a wrapper from ``load_model``) and are then
normalised, so a "black" baseline for the bundled model is a black image, not a zero tensor in [-1, 1]. For a
plain ``nn.Module`` the names refer to its raw input space.

Path points are evaluated in chunks of ``chunk_size`` images (``batching.auto_chunk_size``), never one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xai_core.batching import chunks
from xai_core.params import ChoiceParam, ParameterError
from xai_core.targets import Target

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")
BASELINES = ("black", "white", "mean", "blur", "uniform", "gaussian")


@dataclass(frozen=True)
class PixelSpace:
    """Maps between the model's input space and the space baselines are defined in, and that space's range."""

    to_pixels: Callable[[Tensor], Tensor]
    to_model: Callable[[Tensor], Tensor]
    bounded: bool  # pixel values live in [0, 1]

    @staticmethod
    def of(model: Any) -> PixelSpace:
        """A wrapper's own transforms; the identity (unbounded) for a plain module."""
        if hasattr(model, "to_pixels") and hasattr(model, "to_model_space"):
            return PixelSpace(model.to_pixels, model.to_model_space, bounded=True)
        return PixelSpace(lambda t: t, lambda t: t, bounded=False)


class BaselineParam(ChoiceParam):
    """A baseline name from ``BASELINES``, or a custom tensor in the model's input space."""

    def coerce(self, value: Any, method: str) -> Any:
        if isinstance(value, Tensor):
            return value
        return super().coerce(value, method)


def baseline_param(default: str = "black") -> BaselineParam:
    return BaselineParam("baseline", default, "reference input x' the path starts from", choices=BASELINES)


# --- quadrature ------------------------------------------------------------------------------------------------


def quadrature(rule: str, steps: int) -> tuple[Tensor, Tensor]:
    """Nodes ``alpha`` in [0, 1] and weights summing to 1 for integral_0^1 g(alpha) d alpha ~ sum_k w_k g(alpha_k).

    Same node sets as Captum's ``approximation_methods`` so that results can be compared point for point.
    """
    if steps < 1:
        raise ParameterError(f"steps must be at least 1; got {steps}")
    n = steps
    if rule == "riemann_left":
        alphas, weights = np.arange(n) / n, np.full(n, 1 / n)
    elif rule == "riemann_right":
        alphas, weights = np.arange(1, n + 1) / n, np.full(n, 1 / n)
    elif rule == "riemann_middle":
        alphas, weights = (np.arange(n) + 0.5) / n, np.full(n, 1 / n)
    elif rule == "riemann_trapezoid":
        if n < 2:
            raise ParameterError(f"riemann_trapezoid needs steps >= 2; got {steps}")
        alphas = np.linspace(0.0, 1.0, n)
        weights = np.full(n, 1 / (n - 1))
        weights[0] = weights[-1] = 0.5 / (n - 1)
    elif rule == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(n)
        alphas, weights = 0.5 * (nodes + 1), 0.5 * w
    else:
        raise ParameterError(f"rule must be one of {list(RULES)}; got {rule!r}")
    return torch.tensor(alphas, dtype=torch.float64), torch.tensor(weights, dtype=torch.float64)


def rule_param(default: str = "gausslegendre") -> ChoiceParam:
    return ChoiceParam("rule", default, "quadrature rule for the path integral", choices=RULES)


# --- baselines -------------------------------------------------------------------------------------------------


def gaussian_blur(images: Tensor, sigma: float, truncate: float = 4.0) -> Tensor:
    """Separable Gaussian blur of ``[B, C, H, W]`` with zero padding: ``scipy.ndimage.gaussian_filter`` in
    ``mode="constant"`` with the same kernel radius ``int(truncate * sigma + 0.5)`` (PAIR's Blur IG uses it)."""
    if sigma <= 0:
        return images
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(images.dtype).to(images.device)
    channels = images.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    out = F.conv2d(images, horizontal, padding=(0, radius), groups=channels)
    return F.conv2d(out, vertical, padding=(radius, 0), groups=channels)


def make_baseline(
    baseline: str | Tensor,
    inputs: Tensor,
    space: PixelSpace,
    *,
    sigma: float = 10.0,
    noise: float = 0.2,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The baseline x' for ``inputs`` ``[B, C, H, W]``, in the model's input space.

    ``sigma`` is the blur baseline's Gaussian width in pixels; ``noise`` the standard deviation of the
    ``gaussian`` baseline (around the image) in pixel units. Random baselines draw from ``generator`` on the CPU.
    """
    if isinstance(baseline, Tensor):
        custom = baseline.to(inputs.device, inputs.dtype)
        if custom.ndim == 3:
            custom = custom.unsqueeze(0)
        if custom.shape[1:] != inputs.shape[1:]:
            raise ParameterError(
                f"custom baseline must have shape {tuple(inputs.shape[1:])}; got {tuple(custom.shape)}"
            )
        return custom.expand_as(inputs).clone()
    pixels = space.to_pixels(inputs)
    if baseline == "black":
        reference = torch.zeros_like(pixels)
    elif baseline == "white":
        reference = torch.ones_like(pixels)
    elif baseline == "mean":
        reference = pixels.mean(dim=(2, 3), keepdim=True).expand_as(pixels)
    elif baseline == "blur":
        reference = gaussian_blur(pixels, sigma)
    elif baseline == "uniform":
        reference = torch.rand(pixels.shape, generator=generator).to(pixels)
    elif baseline == "gaussian":
        reference = pixels + noise * torch.randn(pixels.shape, generator=generator).to(pixels)
        if space.bounded:
            reference = reference.clamp(0.0, 1.0)
    else:
        raise ParameterError(f"baseline must be one of {list(BASELINES)} or a tensor; got {baseline!r}")
    return space.to_model(reference)


# --- batched path evaluation -----------------------------------------------------------------------------------


def gradients_at(
    model: nn.Module,
    points: Callable[[slice], Tensor],
    total: int,
    target: Target,
    *,
    chunk_size: int,
    on_chunk: Callable[[slice, Tensor, Tensor], None],
    progress: Callable[[float], None] | None = None,
) -> None:
    """Evaluate gradients at ``total`` path points, ``chunk_size`` at a time.

    ``points(index)`` builds the points of a chunk ``[n, C, H, W]``; point ``i`` belongs to sample
    ``i % B`` of ``target`` (k-major layout: all samples at path node 0, then node 1, ...). ``on_chunk(index,
    gradients, scores)`` consumes each chunk, so no method needs every gradient in memory at once.
    """
    batch = target.classes.shape[0]
    for index in chunks(total, chunk_size):
        x = points(index).detach().requires_grad_(True)
        chunk_target = Target(target.classes[torch.arange(index.start, index.stop) % batch], target.output)
        with torch.enable_grad():
            scores = chunk_target(model(x))
            (grad,) = torch.autograd.grad(scores.sum(), x)
        on_chunk(index, grad, scores.detach())
        if progress is not None:
            progress(index.stop / total)


@dataclass
class StraightPath:
    """Result of integrating along x' + alpha (x - x'): the attribution and what the path inspector plots."""

    attributions: Tensor  # (x - x') * sum_k w_k grad f(x' + alpha_k (x - x'))
    alphas: Tensor  # [K]
    scores: Tensor  # [B, K] f at the path nodes
    grad_norms: Tensor  # [B, K] L2 norm of the gradient at each node
    f_input: Tensor  # [B]
    f_baseline: Tensor  # [B]
    gradients: Tensor | None = None  # [K, B, C, H, W] when asked for (IDGI, Split IG)


def integrate_straight_path(
    model: nn.Module,
    inputs: Tensor,
    baseline: Tensor,
    target: Target,
    alphas: Tensor,
    weights: Tensor,
    *,
    chunk_size: int,
    keep_gradients: bool = False,
    progress: Callable[[float], None] | None = None,
) -> StraightPath:
    """Riemann/Gauss sum of the gradient along the straight line from ``baseline`` to ``inputs``."""
    batch, steps = inputs.shape[0], alphas.shape[0]
    delta = inputs - baseline
    alpha = alphas.to(inputs.device, inputs.dtype)
    weight = weights.to(inputs.device, torch.float64)
    total = torch.zeros_like(inputs, dtype=torch.float64)
    scores = torch.empty(steps * batch, device=inputs.device, dtype=inputs.dtype)
    norms = torch.empty(steps * batch, device=inputs.device, dtype=inputs.dtype)
    kept = (
        torch.empty((steps * batch, *inputs.shape[1:]), dtype=inputs.dtype, device=inputs.device)
        if keep_gradients
        else None
    )

    def points(index: slice) -> Tensor:
        ids = torch.arange(index.start, index.stop, device=inputs.device)
        node, sample = ids // batch, ids % batch
        return baseline[sample] + alpha[node].view(-1, 1, 1, 1) * delta[sample]

    def accumulate(index: slice, grad: Tensor, value: Tensor) -> None:
        ids = torch.arange(index.start, index.stop, device=inputs.device)
        node, sample = ids // batch, ids % batch
        total.index_add_(0, sample, grad.double() * weight[node].view(-1, 1, 1, 1))
        scores[index], norms[index] = value, grad.flatten(1).norm(dim=1)
        if kept is not None:
            kept[index] = grad

    gradients_at(model, points, steps * batch, target, chunk_size=chunk_size, on_chunk=accumulate, progress=progress)
    scores_kb = scores.view(steps, batch)
    f_input, f_baseline = _endpoint_scores(model, inputs, baseline, target, alphas, scores_kb)
    return StraightPath(
        attributions=(delta.double() * total).to(inputs.dtype),
        alphas=alphas,
        scores=scores_kb.T.contiguous(),
        grad_norms=norms.view(steps, batch).T.contiguous(),
        f_input=f_input,
        f_baseline=f_baseline,
        gradients=kept.view(steps, batch, *inputs.shape[1:]) if kept is not None else None,
    )


def _endpoint_scores(
    model: nn.Module, inputs: Tensor, baseline: Tensor, target: Target, alphas: Tensor, scores: Tensor
) -> tuple[Tensor, Tensor]:
    """f(x) and f(x'): taken from the path nodes when the rule includes alpha = 1 or 0, else one forward each."""
    found: dict[float, Tensor] = {}
    for end in (0.0, 1.0):
        hits = torch.nonzero(torch.isclose(alphas, torch.tensor(end, dtype=alphas.dtype))).flatten()
        if hits.numel():
            found[end] = scores[int(hits[0])]
    missing = [(end, point) for end, point in ((0.0, baseline), (1.0, inputs)) if end not in found]
    if missing:
        with torch.inference_mode():
            values = target.repeat(len(missing))(model(torch.cat([p for _, p in missing])))
        for i, (end, _) in enumerate(missing):
            found[end] = values[i * inputs.shape[0] : (i + 1) * inputs.shape[0]].clone()
    return found[1.0], found[0.0]


def completeness_gap(attributions: Tensor, f_input: Tensor, f_baseline: Tensor) -> Tensor:
    """sum(attr) - (f(x) - f(x')) per sample: zero for an exact path method (survey eq. 9)."""
    return (attributions.flatten(1).sum(1) - (f_input - f_baseline)).detach().cpu()

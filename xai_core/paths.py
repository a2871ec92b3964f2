"""Baselines, quadrature rules and batched path evaluation for the integrated-gradients family.

Baselines live in the model's *pixel* space ([0, 1] RGB for a wrapper from ``load_model``) and are then
normalised, so a "black" baseline for the bundled model is a black image, not a zero tensor in [-1, 1]. For a
plain ``nn.Module`` the names refer to its raw input space.

Path points are evaluated in chunks of ``chunk_size`` images (``batching.auto_chunk_size``), never one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from xai_core.batching import chunks
from xai_core.extras import COMPLETENESS, PATH, Completeness, PathProfile
from xai_core.params import ChoiceParam, ParameterError
from xai_core.targets import Target

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")
BASELINES = ("black", "white", "mean", "blur", "uniform", "gaussian", "max_distance", "black_white")
# A composite baseline names several baselines; the method runs once per baseline and its maps are averaged
# (``composite_baselines.compute_with_baselines``), so completeness holds on every path and on the average.
COMPOSITE_BASELINES = {"black_white": ("black", "white")}


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


def blur_matrix(size: int, sigma: float, truncate: float = 4.0) -> Tensor:
    """[size, size] operator of a 1-D Gaussian blur with zero padding: scipy.ndimage.gaussian_filter, mode
    "constant", radius int(truncate * sigma + 0.5). A dense matrix product beats a 401-tap convolution."""
    if sigma <= 0:
        return torch.eye(size, dtype=torch.float64)
    radius = int(truncate * sigma + 0.5)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    norm = torch.exp(-0.5 / (sigma * sigma) * taps**2).sum()  # scipy's kernel, normalised over all taps
    offset = (torch.arange(size)[None, :] - torch.arange(size)[:, None]).double()
    return torch.where(offset.abs() <= radius, torch.exp(-0.5 / (sigma * sigma) * offset**2) / norm, 0.0)


def gaussian_blur(images: Tensor, sigma: float, truncate: float = 4.0) -> Tensor:
    """Separable Gaussian blur of ``[B, C, H, W]`` with zero padding, as ``scipy.ndimage.gaussian_filter`` in
    ``mode="constant"`` (PAIR's Blur IG uses it): rows then columns by ``blur_matrix``."""
    if sigma <= 0:
        return images
    height, width = images.shape[-2:]
    vertical = blur_matrix(height, sigma, truncate).to(images)
    horizontal = blur_matrix(width, sigma, truncate).to(images)
    return vertical @ images @ horizontal.T


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

    ``max_distance`` (Sturmfels, Lundberg, Lee, "Visualizing the Impact of Feature Attribution Baselines", Distill
    2020, https://distill.pub/2020/attribution-baselines/): per pixel and channel, the end of the range [0, 1]
    farthest from the input's value (1 where the value is below 0.5, else 0), the image of largest L1 distance from
    the input. For a plain module the range is [0, 1] of its raw inputs, as for ``black`` and ``white``.

    A composite baseline (``black_white``) is several paths, not one point: ``composite_baselines`` runs the method
    once per baseline; asking this function for it is an error.
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
    elif baseline == "max_distance":
        reference = (pixels < 0.5).to(pixels.dtype)  # the farther end of [0, 1]; a value of exactly 0.5 takes 0
    elif baseline in COMPOSITE_BASELINES:
        raise ParameterError(
            f"baseline {baseline!r} averages the maps of the {list(COMPOSITE_BASELINES[baseline])} baselines: run "
            "the method through xai_core.attribute (composite_baselines.compute_with_baselines)"
        )
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


# --- general paths (blur, guided): node k stands for segment [c_k, c_k+1] -----------------------------------------


@dataclass
class PathTrace:
    """A path from baseline (alpha = 0) to input (alpha = 1): node k is evaluated on segment [c_k, c_{k+1}]."""

    attributions: Tensor  # sum_k grad f(node_k) * (x(c_{k+1}) - x(c_k))  [B, C, H, W]
    alphas: Tensor  # [K] node positions
    ends: Tensor  # [K + 1] segment ends c_k, 0 first and 1 last
    scores: Tensor  # [B, K] f at the nodes
    end_scores: Tensor  # [B, K + 1] f at the segment ends: f(baseline) first, f(x) last
    grad_norms: Tensor  # [B, K]
    gradients: Tensor | None = None  # [K, B, C, H, W] when kept (IDGI)

    @property
    def f_input(self) -> Tensor:
        return self.end_scores[:, -1]

    @property
    def f_baseline(self) -> Tensor:
        return self.end_scores[:, 0]


def segment_ends(weights: Tensor) -> Tensor:
    """c_0 = 0, c_{k+1} = c_k + w_k, c_K = 1: the segment each quadrature node stands for."""
    ends = torch.cat([torch.zeros(1, dtype=torch.float64), weights.double().cumsum(0)])
    ends[-1] = 1.0
    return ends


def forward_scores(
    model: nn.Module, points: Callable[[slice], Tensor], total: int, target: Target, size: int
) -> Tensor:
    """f at ``total`` points laid out as in ``gradients_at`` (point i is sample i % B), without autograd."""
    batch, values = target.classes.shape[0], []
    with torch.inference_mode():
        for index in chunks(total, size):
            classes = target.classes[torch.arange(index.start, index.stop) % batch]
            values.append(Target(classes, target.output)(model(points(index))))
    return torch.cat(values).clone()


def scores_at_ends(ends: Tensor, alphas: Tensor, scores: Tensor, evaluate: Callable[[Tensor], Tensor]) -> Tensor:
    """f at the segment ends ``[B, K + 1]``: a node's score where an end is a node, ``evaluate(ends) [B, M]`` else."""
    match = torch.isclose(ends[:, None], alphas.double()[None, :].cpu(), rtol=0.0, atol=1e-9)
    found, missing = match.any(1).nonzero().flatten(), (~match.any(1)).nonzero().flatten()
    out = torch.empty(scores.shape[0], ends.shape[0], dtype=scores.dtype, device=scores.device)
    out[:, found.to(out.device)] = scores[:, match[found].int().argmax(1).to(out.device)]
    if len(missing):
        out[:, missing.to(out.device)] = evaluate(ends[missing]).to(out)
    return out


class _Profile(Protocol):
    alphas: Tensor
    scores: Tensor
    grad_norms: Tensor

    @property
    def f_input(self) -> Tensor: ...

    @property
    def f_baseline(self) -> Tensor: ...


def record_profile(
    extras: dict[str, Any], path: _Profile, attributions: Tensor, alpha_star: Tensor | None = None
) -> None:
    """Completeness gap of ``attributions`` and the path profile (f, |grad| per node) for the app's inspector."""
    extras[COMPLETENESS] = Completeness.of(attributions, path.f_input, path.f_baseline)
    extras[PATH] = PathProfile.of(path.alphas, path.scores, path.grad_norms, alpha_star)

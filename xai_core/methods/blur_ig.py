"""Blur Integrated Gradients (Xu, Venugopalan, Sundararajan 2020, https://arxiv.org/abs/2004.03383).

The path runs through Gaussian blurs L(x, sigma) of the image in the model's *pixel* space, from the most blurred
image (alpha = 0) to the image itself (alpha = 1), survey eq. 14:

    BlurIG(x) = integral_{sigma_max}^{0} grad f(L(x, sigma)) * dL(x, sigma)/dsigma dsigma,

with dL/dsigma the forward difference (L(sigma + h) - L(sigma)) / h, h = ``grad_step``, as PAIR's ``blur_ig.py``.
Node placement is a quadrature rule in alpha with sigma(alpha) = (1 - alpha) max_sigma, or with ``sqrt`` PAIR's
sqrt((1 - alpha) max_sigma) (whose path starts at sigma = sqrt(max_sigma)). The sum runs over segments [c_k, c_{k+1}]
of cumulative weights (Riemann-Stieltjes): attr = sum_k grad f(node_k) * dL/dsigma(node_k) * (sigma(c_{k+1}) -
sigma(c_k)). PAIR evaluates each segment at its sharp end: ``rule="riemann_right"``, the default, is PAIR's sum.

``PathTrace`` (the record of any path: nodes, segment ends, f along it) is shared with Guided IG and IDGI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from xai_core.batching import chunks
from xai_core.methods.base import Context, Method
from xai_core.params import BoolParam, ChoiceParam, FloatParam, IntParam
from xai_core.paths import RULES, completeness_gap, gradients_at, quadrature
from xai_core.registry import register
from xai_core.targets import Target

STEPS = IntParam("steps", 100, "number of blur levels (gradient evaluations per image)", low=1, high=4096)
MAX_SIGMA = FloatParam("max_sigma", 50.0, "blur width in pixels where the path starts", low=0.1, high=500.0)
GRAD_STEP = FloatParam("grad_step", 0.01, "finite-difference step h of dL/dsigma", low=1e-4, high=1.0)
SQRT = BoolParam("sqrt", False, "PAIR's square-root spacing: sigma = sqrt((1 - alpha) max_sigma)")
RULE = ChoiceParam("rule", "riemann_right", "node placement in alpha; riemann_right is PAIR's", choices=RULES)


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


def record_trace(ctx: Context, trace: PathTrace, attributions: Tensor) -> None:
    """Completeness gap of ``attributions`` and the path profile, in the same keys as ``record_path``."""
    ctx.extras["completeness_gap"] = completeness_gap(attributions, trace.f_input, trace.f_baseline)
    ctx.extras["f_input"] = trace.f_input.detach().cpu()
    ctx.extras["f_baseline"] = trace.f_baseline.detach().cpu()
    path = {"alphas": trace.alphas.cpu(), "scores": trace.scores.cpu(), "grad_norms": trace.grad_norms.cpu()}
    ctx.extras["path"] = path


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


def blur_path(inputs: Tensor, ctx: Context, params: dict[str, Any], *, keep_gradients: bool = False) -> PathTrace:
    """The blur path of ``params`` (steps, rule, max_sigma, grad_step, sqrt) for ``inputs``, in batched chunks."""
    batch, (height, width), h = inputs.shape[0], inputs.shape[-2:], params["grad_step"]
    alphas, weights = quadrature(params["rule"], params["steps"])
    ends = segment_ends(weights)

    def sigma(alpha: Tensor) -> Tensor:
        level = ((1.0 - alpha) * params["max_sigma"]).clamp(min=0.0)
        return level.sqrt() if params["sqrt"] else level

    node_sigma, spans = sigma(alphas), sigma(ends[1:]) - sigma(ends[:-1])  # spans < 0: sigma falls along the path
    pixels = ctx.space.to_pixels(inputs.detach()).double()

    def blurred(index: slice, levels: Tensor, shift: float = 0.0) -> Tensor:
        """L(x, sigma) in model space (float64) for a node-major chunk: point i is image i % B at levels[i // B]."""
        ids, parts = torch.arange(index.start, index.stop), []
        node, sample = ids // batch, (ids % batch).to(pixels.device)
        for k in node.unique().tolist():
            vertical, horizontal = (blur_matrix(n, float(levels[k]) + shift).to(pixels.device) for n in (height, width))
            parts.append(ctx.space.to_model(vertical @ pixels[sample[node == k]] @ horizontal.T))
        return torch.cat(parts)

    move: list[Tensor] = []  # x(c_{k+1}) - x(c_k) ~ dL/dsigma * (sigma(c_{k+1}) - sigma(c_k)) of the current chunk

    def points(index: slice) -> Tensor:
        at, node = blurred(index, node_sigma), torch.arange(index.start, index.stop) // batch
        span = spans[node].to(at.device).view(-1, 1, 1, 1)
        move[:] = [(blurred(index, node_sigma, h) - at) / h * span]
        return at.to(inputs.dtype)

    count = len(alphas) * batch
    total = torch.zeros_like(inputs, dtype=torch.float64)
    scores = torch.empty(count, dtype=inputs.dtype, device=inputs.device)
    norms = torch.empty_like(scores)
    kept = torch.empty((count, *inputs.shape[1:]), dtype=inputs.dtype, device=inputs.device) if keep_gradients else None

    def accumulate(index: slice, grad: Tensor, value: Tensor) -> None:
        sample = torch.arange(index.start, index.stop, device=inputs.device) % batch
        total.index_add_(0, sample, grad.double() * move[0])
        scores[index], norms[index] = value, grad.flatten(1).norm(dim=1)
        if kept is not None:
            kept[index] = grad

    gradients_at(ctx.model, points, count, ctx.target, chunk_size=ctx.chunk_size, on_chunk=accumulate,
                 progress=ctx.progress)  # fmt: skip
    node_scores = scores.view(-1, batch).T.contiguous()

    def evaluate(positions: Tensor) -> Tensor:  # f at segment ends that are no nodes
        levels = sigma(positions)
        values = forward_scores(ctx.model, lambda i: blurred(i, levels).to(inputs.dtype), len(positions) * batch,
                                ctx.target, ctx.chunk_size)  # fmt: skip
        return values.view(-1, batch).T

    return PathTrace(
        attributions=total.to(inputs.dtype),
        alphas=alphas,
        ends=ends,
        scores=node_scores,
        end_scores=scores_at_ends(ends, alphas, node_scores, evaluate),
        grad_norms=norms.view(-1, batch).T.contiguous(),
        gradients=kept.view(-1, *inputs.shape) if kept is not None else None,
    )


@register
class BlurIG(Method):
    name = "blur_ig"
    family = "integrated"
    paper = "Xu, Venugopalan, Sundararajan. Attribution in Scale and Space. CVPR 2020"
    url = "https://arxiv.org/abs/2004.03383"
    summary = "Gradients integrated along a path of ever less blurred images: no baseline to choose."
    reduction = "sum"
    params = (MAX_SIGMA, STEPS, GRAD_STEP, SQRT, RULE)

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        trace = blur_path(inputs, ctx, params)
        record_trace(ctx, trace, trace.attributions)
        return trace.attributions

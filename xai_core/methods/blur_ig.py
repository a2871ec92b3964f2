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

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from xai_core.methods.base import Context, Method
from xai_core.params import BoolParam, ChoiceParam, FloatParam, IntParam
from xai_core.paths import (
    RULES,
    PathTrace,
    blur_matrix,
    forward_scores,
    gradients_at,
    quadrature,
    record_profile,
    scores_at_ends,
    segment_ends,
)
from xai_core.registry import register

STEPS = IntParam("steps", 100, "number of blur levels (gradient evaluations per image)", low=1, high=4096)
MAX_SIGMA = FloatParam("max_sigma", 50.0, "blur width in pixels where the path starts", low=0.1, high=500.0)
GRAD_STEP = FloatParam("grad_step", 0.01, "finite-difference step h of dL/dsigma", low=1e-4, high=1.0)
SQRT = BoolParam("sqrt", False, "PAIR's square-root spacing: sigma = sqrt((1 - alpha) max_sigma)")
RULE = ChoiceParam("rule", "riemann_right", "node placement in alpha; riemann_right is PAIR's", choices=RULES)


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
    title = "Blur Integrated Gradients"
    records = ("completeness", "path")
    family = "integrated"
    paper = "Xu, Venugopalan, Sundararajan. Attribution in Scale and Space. CVPR 2020"
    url = "https://arxiv.org/abs/2004.03383"
    summary = "Gradients integrated along a path of ever less blurred images: no baseline to choose."
    reduction = "sum"
    params = (MAX_SIGMA, STEPS, GRAD_STEP, SQRT, RULE)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return int(params["steps"])

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        trace = blur_path(inputs, ctx, params)
        record_profile(ctx.extras, trace, trace.attributions)
        return trace.attributions

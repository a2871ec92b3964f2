"""Guided Integrated Gradients (Kapishnikov et al. 2021, https://arxiv.org/abs/2106.09788).

An adaptive path from the baseline to the input (survey eq. 25-26): at step k (of ``steps``) the L1 distance to
the input must shrink to l1_total (1 - k / steps); it does so by moving only the ``fraction`` of features with the
smallest |gradient| to the edge of the band alpha_k +- ``max_dist`` around the straight line, repeating until the
target distance is met. attr += (x_after - x_before) * grad f(x_before). A port of PAIR's ``guided_ig_impl``
(same selection rule, numpy's "lower" quantile, float64 bookkeeping); the gradient of step k is one batched call
for all images, the selection loops over images. max_dist = 0 or fraction = 1 give straight-line IG.
The path lives in the model's input space, between the baseline and the input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from xai_core.methods.base import Context, Method
from xai_core.methods.integrated_gradients import BLUR_SIGMA, SEED
from xai_core.params import FloatParam, IntParam
from xai_core.paths import PathTrace, baseline_param, forward_scores, gradients_at, make_baseline, record_profile
from xai_core.registry import register

STEPS = IntParam("steps", 200, "number of path steps (gradient evaluations per image)", low=1, high=4096)
FRACTION = FloatParam("fraction", 0.25, "share of features (lowest |gradient|) moved at each step", low=0.0, high=1.0)
MAX_DIST = FloatParam("max_dist", 0.02, "how far (in alpha) a feature may stray from the straight line", low=0.0,
                      high=1.0)  # fmt: skip
EPSILON = 1e-9  # PAIR's tolerance on reaching the target L1 distance


def _advance(x: Tensor, grad: Tensor, base: Tensor, diff: Tensor, alpha: float, params: dict[str, Any],
             l1_target: float, x_input: Tensor) -> Tensor:  # fmt: skip
    """One Guided IG step of one image (flat float64 features): PAIR's inner ``while gamma > 1`` loop."""
    alpha_min, alpha_max = max(alpha - params["max_dist"], 0.0), min(alpha + params["max_dist"], 1.0)
    x_min, x_max = base + diff * alpha_min, base + diff * alpha_max
    grad = grad.clone()
    rank = math.floor(params["fraction"] * (grad.numel() - 1)) + 1  # numpy quantile(..., method="lower")
    gamma = math.inf
    while gamma > 1.0:
        x_alpha = torch.where(diff != 0, (x - base) / diff, alpha_max)  # features on no line count as done
        x = torch.where(x_alpha < alpha_min, x_min, x)  # features fallen behind the band catch up
        l1_current = float((x - x_input).abs().sum())
        if math.isclose(l1_target, l1_current, rel_tol=EPSILON, abs_tol=EPSILON):
            break
        grad[x == x_max] = math.inf  # features at the band's front are not selected
        threshold = grad.abs().kthvalue(rank).values
        selected = (grad.abs() <= threshold) & (grad != math.inf)
        l1_selected = float(((x - x_max).abs() * selected).sum())
        gamma = (l1_current - l1_target) / l1_selected if l1_selected > 0 else math.inf
        # Move the selected features all the way to the front, or by the share gamma that closes the gap.
        x = torch.where(selected, x_max if gamma > 1.0 else x + (x_max - x) * gamma, x)
    return x


def guided_path(inputs: Tensor, ctx: Context, params: dict[str, Any], *, keep_gradients: bool = False) -> PathTrace:
    """The Guided IG path of ``params`` (baseline, blur_sigma, steps, fraction, max_dist) for ``inputs``."""
    steps, batch = params["steps"], inputs.shape[0]
    baseline = make_baseline(params["baseline"], inputs, ctx.space, sigma=params["blur_sigma"], generator=ctx.generator)
    x_input, base = inputs.detach().double().flatten(1), baseline.double().flatten(1)
    diff, x = x_input - base, base.clone()
    l1_total = diff.abs().sum(1).tolist()
    attr = torch.zeros_like(x_input)
    scores = torch.empty(batch, steps, dtype=inputs.dtype, device=inputs.device)
    norms = torch.empty_like(scores)
    kept = torch.empty((steps, *inputs.shape), dtype=inputs.dtype, device=inputs.device) if keep_gradients else None
    grad = torch.empty_like(inputs)

    def store(index: slice, g: Tensor, value: Tensor) -> None:
        grad[index], scores[index, step] = g, value

    for step in range(steps):
        point = x.view_as(inputs).to(inputs.dtype)
        gradients_at(ctx.model, point.__getitem__, batch, ctx.target, chunk_size=ctx.chunk_size, on_chunk=store)
        norms[:, step] = grad.flatten(1).norm(dim=1)
        if kept is not None:
            kept[step] = grad
        g = grad.double().flatten(1)
        for b in range(batch):
            if l1_total[b] == 0:  # input equals baseline: zero attribution
                continue
            moved = _advance(x[b], g[b], base[b], diff[b], (step + 1) / steps, params,
                             l1_total[b] * (1 - (step + 1) / steps), x_input[b])  # fmt: skip
            attr[b] += (moved - x[b]) * g[b]
            x[b] = moved
        ctx.report((step + 1) / steps)

    f_input = forward_scores(ctx.model, lambda i: inputs[i], batch, ctx.target, ctx.chunk_size)
    return PathTrace(
        attributions=attr.view_as(inputs).to(inputs.dtype),
        alphas=torch.arange(steps, dtype=torch.float64) / steps,  # node k: the start of step k, L1 progress k/K
        ends=torch.arange(steps + 1, dtype=torch.float64) / steps,
        scores=scores,
        end_scores=torch.cat([scores, f_input.to(scores)[:, None]], dim=1),
        grad_norms=norms,
        gradients=kept,
    )


@register
class GuidedIG(Method):
    name = "guided_ig"
    title = "Guided Integrated Gradients"
    records = ("completeness", "path")
    family = "integrated"
    paper = "Kapishnikov, Venugopalan, Avci, Wedin, Terry, Bolukbasi. Guided Integrated Gradients. CVPR 2021"
    url = "https://arxiv.org/abs/2106.09788"
    summary = "IG along an adaptive path that first moves the features with the smallest gradients."
    reduction = "sum"
    params = (baseline_param(), STEPS, FRACTION, MAX_DIST, BLUR_SIGMA, SEED)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return int(params["steps"])

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        trace = guided_path(inputs, ctx, params)
        record_profile(ctx.extras, trace, trace.attributions)
        return trace.attributions

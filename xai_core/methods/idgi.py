"""Important Direction Gradient Integration (Yang, Wang, Bilgic 2023, https://arxiv.org/abs/2303.14242).

On top of a path method's nodes (IG, Guided IG or Blur IG), each segment [x_k, x_{k+1}] contributes only along
the gradient g_k, the direction that changes f (survey eq. 29-31; the authors' ``idgi.py``):

    IDGI(x) = sum_k g_k * g_k * d_k / (g_k . g_k),    d_k = f(x_{k+1}) - f(x_k),

so the attributions sum to sum_k d_k = f(x) - f(x') by construction, whatever the number of steps. Segment k is
the one node k stands for (``blur_ig.segment_ends``): ``rule="riemann_left"`` (the default) puts g_k at the start
x_k of its segment, as the authors' code; other rules evaluate f at the segment ends with extra forward passes.
The rule applies to the ``ig`` and ``blur_ig`` paths; ``guided_ig`` places its own nodes (at step starts). A
segment with a zero gradient (a dead ReLU region) spreads its d_k evenly, so completeness still holds.
Keeps every node's gradient ([steps, B, C, H, W]) in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from xai_core.methods.base import Context, Method
from xai_core.methods.blur_ig import GRAD_STEP, MAX_SIGMA, SQRT, blur_path
from xai_core.methods.guided_ig import FRACTION, MAX_DIST, guided_path
from xai_core.methods.integrated_gradients import BLUR_SIGMA, SEED
from xai_core.params import ChoiceParam, IntParam
from xai_core.paths import (
    PathTrace,
    baseline_param,
    forward_scores,
    integrate_straight_path,
    make_baseline,
    quadrature,
    record_profile,
    rule_param,
    scores_at_ends,
    segment_ends,
)
from xai_core.registry import register

PATH = ChoiceParam("path", "ig", "the path whose nodes IDGI integrates", choices=("ig", "guided_ig", "blur_ig"))
STEPS = IntParam("steps", 100, "number of path nodes (gradient evaluations per image)", low=1, high=4096)


def straight_trace(inputs: Tensor, ctx: Context, params: dict[str, Any], *, keep_gradients: bool = False) -> PathTrace:
    """The IG path (baseline, blur_sigma, steps, rule) as a ``PathTrace``: f at the segment ends included."""
    baseline = make_baseline(params["baseline"], inputs, ctx.space, sigma=params["blur_sigma"], generator=ctx.generator)
    alphas, weights = quadrature(params["rule"], params["steps"])
    path = integrate_straight_path(
        ctx.model, inputs, baseline, ctx.target, alphas, weights,
        chunk_size=ctx.chunk_size, keep_gradients=keep_gradients, progress=ctx.progress,
    )  # fmt: skip
    batch, delta = inputs.shape[0], inputs - baseline

    def evaluate(positions: Tensor) -> Tensor:
        alpha = positions.to(inputs.device, inputs.dtype)

        def points(index: slice) -> Tensor:
            ids = torch.arange(index.start, index.stop, device=inputs.device)
            return baseline[ids % batch] + alpha[ids // batch].view(-1, 1, 1, 1) * delta[ids % batch]

        return forward_scores(ctx.model, points, len(positions) * batch, ctx.target, ctx.chunk_size).view(-1, batch).T

    ends = segment_ends(weights)
    end_scores = scores_at_ends(ends, alphas, path.scores, evaluate)
    end_scores[:, 0], end_scores[:, -1] = path.f_baseline, path.f_input  # the same f(x'), f(x) as IG's record
    return PathTrace(path.attributions, alphas, ends, path.scores, end_scores, path.grad_norms, path.gradients)


TRACES: dict[str, Callable[..., PathTrace]] = {"ig": straight_trace, "guided_ig": guided_path, "blur_ig": blur_path}


def important_direction_sum(gradients: Tensor, end_scores: Tensor) -> Tensor:
    """sum_k g_k^2 d_k / |g_k|^2 over nodes ``gradients`` [K, B, ...] and f at the segment ends [B, K + 1]."""
    rises = end_scores.double().diff(dim=1)  # d_k  [B, K]
    features = gradients[0, 0].numel()
    total = torch.zeros(gradients.shape[1], features, dtype=torch.float64, device=gradients.device)
    for k in range(gradients.shape[0]):
        square = gradients[k].double().flatten(1) ** 2
        norm = square.sum(1, keepdim=True)
        share = torch.where(norm > 0, square / norm.clamp(min=torch.finfo(torch.float64).tiny), 1.0 / features)
        total += share * rises[:, k : k + 1].to(total.device)
    return total.view(gradients.shape[1:])


@register
class IDGI(Method):
    name = "idgi"
    title = "Important Direction Gradient Integration (IDGI)"
    records = ("completeness", "path")
    family = "integrated"
    paper = "Yang, Wang, Bilgic. IDGI: A Framework to Eliminate Explanation Noise from Integrated Gradients. CVPR 2023"
    url = "https://arxiv.org/abs/2303.14242"
    summary = "Each path step credits f's change only along the gradient: exact completeness, less noise."
    reduction = "sum"
    params = (
        PATH, baseline_param(), STEPS, rule_param("riemann_left"), MAX_SIGMA, GRAD_STEP, SQRT, FRACTION, MAX_DIST,
        BLUR_SIGMA, SEED,
    )  # fmt: skip

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return int(params["steps"]) + 1

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        trace = TRACES[params["path"]](inputs, ctx, params, keep_gradients=True)
        assert trace.gradients is not None
        attributions = important_direction_sum(trace.gradients, trace.end_scores).to(inputs.dtype)
        record_profile(ctx.extras, trace, attributions)
        return attributions

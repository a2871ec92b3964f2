"""Split Integrated Gradients (Miglani, Kokhlikyan, Alsallakh, Martin, Reblitz-Richardson 2020,
"Investigating Saturation Effects in Integrated Gradients", ICML WHI, https://arxiv.org/abs/2010.12697).

IG's straight path splits at alpha*, where f has covered the share ``phi`` of its total change (survey eq. 17):

    alpha* = inf { alpha in [0, 1] : (f(x' + alpha (x - x')) - f(x')) / (f(x) - f(x')) > phi }

The map is IG over the non-saturated part [0, alpha*]; the saturated part [alpha*, 1] goes to the extras, so that
both sum to IG on the same nodes. As the authors' notebook (vivekmig/captum-1, ``ImageNetSplitIG-Basic.ipynb``,
``split_ig``), alpha* is the first node whose f exceeds the threshold; nodes before it are non-saturated, it and
those after saturated. Their defaults: ``riemann_right`` with 200 steps, and ``phi`` = 0.95 in their evaluation.
Dividing by f(x) - f(x') (rather than their f > f(x') + phi (f(x) - f(x'))) also covers a falling f; without a
change, or with no node past the threshold, alpha* = 1 and the map is all of IG.

Extras: ``saturated`` (the [alpha*, 1] part), ``alpha_star`` per sample (also in ``path`` for the inspector), and the
completeness gap of the sum of both parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from xai_core.methods.base import Context, Method
from xai_core.methods.integrated_gradients import BLUR_SIGMA, SEED
from xai_core.params import ChoiceParam, FloatParam, IntParam, ParameterError
from xai_core.paths import (
    RULES,
    baseline_param,
    integrate_straight_path,
    make_baseline,
    quadrature,
    record_profile,
)
from xai_core.registry import register

STEPS = IntParam("steps", 200, "number of path nodes (gradient evaluations per image)", low=1, high=4096)
RULE = ChoiceParam("rule", "riemann_right", "quadrature rule for the path integral", choices=RULES)
PHI = FloatParam("phi", 0.95, "share of f's total change that ends the non-saturated region, in (0, 1)", low=0.0,
                 high=1.0)  # fmt: skip


def split_point(scores: Tensor, f_input: Tensor, f_baseline: Tensor, phi: float) -> Tensor:
    """Index of the first node past the share ``phi`` of f's change, per sample [B]; K where none is."""
    change = (f_input - f_baseline)[:, None]
    progress = (scores - f_baseline[:, None]) / torch.where(change != 0, change, 1.0)
    crossed = (progress > phi) & (change != 0)
    first = crossed.int().argmax(dim=1)
    return torch.where(crossed.any(dim=1), first, scores.shape[1]).cpu()


@register
class SplitIG(Method):
    name = "split_ig"
    title = "Split Integrated Gradients"
    records = ("completeness", "path")
    family = "integrated"
    paper = "Miglani, Kokhlikyan, Alsallakh, Martin, Reblitz-Richardson. Investigating Saturation Effects in IG. 2020"
    url = "https://arxiv.org/abs/2010.12697"
    summary = "IG over the non-saturated part of the path only, up to where f has made most of its change."
    reduction = "sum"
    params = (baseline_param(), STEPS, RULE, PHI, BLUR_SIGMA, SEED)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return int(params["steps"]) + 1

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        if not 0.0 < params["phi"] < 1.0:
            raise ParameterError(f"split_ig: parameter 'phi' must lie strictly between 0 and 1; got {params['phi']}")
        baseline = make_baseline(
            params["baseline"], inputs, ctx.space, sigma=params["blur_sigma"], generator=ctx.generator
        )
        alphas, weights = quadrature(params["rule"], params["steps"])
        path = integrate_straight_path(
            ctx.model, inputs, baseline, ctx.target, alphas, weights,
            chunk_size=ctx.chunk_size, keep_gradients=True, progress=ctx.progress,
        )  # fmt: skip
        assert path.gradients is not None
        split = split_point(path.scores, path.f_input, path.f_baseline, params["phi"])  # [B] on the CPU
        before_split = torch.zeros_like(inputs, dtype=torch.float64)
        after_split = torch.zeros_like(before_split)
        for k in range(len(weights)):  # (x - x') sum_k w_k grad f(x' + alpha_k (x - x')), split at alpha*
            weighted = path.gradients[k].double() * float(weights[k])
            before = (k < split).to(inputs.device).view(-1, 1, 1, 1)
            before_split += torch.where(before, weighted, 0.0)
            after_split += torch.where(before, 0.0, weighted)
        delta = (inputs - baseline).double()
        non_saturated, saturated = (delta * before_split).to(inputs.dtype), (delta * after_split).to(inputs.dtype)
        alpha_star = torch.where(split < len(weights), alphas[split.clamp(max=len(weights) - 1)], 1.0)
        # The gap is that of the whole path (the map plus its saturated part), which is IG's own.
        record_profile(ctx.extras, path, non_saturated + saturated, alpha_star=alpha_star)
        ctx.extras["saturated"] = saturated.detach().cpu()
        return non_saturated

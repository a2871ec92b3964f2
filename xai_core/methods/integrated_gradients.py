"""Integrated Gradients (Sundararajan et al. 2017): (x - x') * integral_0^1 grad f(x' + a (x - x')) da.

The integral is a quadrature over ``steps`` nodes (``paths.quadrature``), evaluated in batched chunks. The record's
extras carry the completeness gap sum(attr) - (f(x) - f(x')) and the path profile the app's inspector plots.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from xai_core.methods.base import Context, Method
from xai_core.params import FloatParam, IntParam
from xai_core.paths import (
    StraightPath,
    baseline_param,
    integrate_straight_path,
    make_baseline,
    quadrature,
    record_profile,
    rule_param,
)
from xai_core.registry import register

STEPS = IntParam("steps", 50, "number of path nodes (gradient evaluations per image)", low=1, high=4096)
BLUR_SIGMA = FloatParam("blur_sigma", 10.0, "width in pixels of the 'blur' baseline", low=0.0, high=200.0)
SEED = IntParam("seed", 0, "seed of the random baselines ('uniform', 'gaussian')", low=0, high=2**31 - 1)


def straight_path(
    inputs: Tensor, ctx: Context, params: dict[str, Any], *, keep_gradients: bool = False
) -> StraightPath:
    """The straight-line path of ``params`` (baseline, blur_sigma, seed, steps, rule) for ``inputs``."""
    baseline = make_baseline(params["baseline"], inputs, ctx.space, sigma=params["blur_sigma"], generator=ctx.generator)
    alphas, weights = quadrature(params["rule"], params["steps"])
    return integrate_straight_path(
        ctx.model, inputs, baseline, ctx.target, alphas, weights,
        chunk_size=ctx.chunk_size, keep_gradients=keep_gradients, progress=ctx.progress,
    )  # fmt: skip


@register
class IntegratedGradients(Method):
    name = "integrated_gradients"
    title = "Integrated Gradients"
    records = ("completeness", "path")
    family = "integrated"
    paper = "Sundararajan, Taly, Yan. Axiomatic Attribution for Deep Networks. ICML 2017"
    url = "https://arxiv.org/abs/1703.01365"
    summary = "Gradients averaged along the straight line from a baseline to the image, times (x - x')."
    reduction = "sum"
    params = (baseline_param(), STEPS, rule_param(), BLUR_SIGMA, SEED)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return int(params["steps"]) + 1

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        path = straight_path(inputs, ctx, params)
        record_profile(ctx.extras, path, path.attributions)
        return path.attributions

"""Pixel flipping, region perturbation and selectivity: the deletion curve (most relevant first) of the perturbation
engine under the settings that make each one, registered under its own name so a reader of Samek et al. or
Montavon et al. (or of Quantus) finds it. Nothing here perturbs or scores by itself: each builds
``perturbation.Curves`` and, where the measure stops early or takes one feature per step, shortens its plan.

| id | deletion curve, most relevant first | substrate | summary |
|---|---|---|---|
| ``pixel_flipping`` | pixels, ``steps`` points (``steps = H*W``: one pixel per step) | black | AUC |
| ``region_perturbation`` | the first ``regions`` ``patch_size`` squares, one per step | uniform noise | AOPC |
| ``selectivity`` | every ``patch_size`` square, one per step | black | AUC |

Against Quantus 0.6.0 (``PixelFlipping``, ``RegionPerturbation``, ``Selectivity``) the curve points agree to float
rounding on one-channel images whose side is a multiple of the patch (tests/test_metrics_named_curves.py). On
purpose: Quantus' curves start after the first step and its AUC is ``np.trapz`` with unit spacing; here every curve
starts at the unperturbed image and its AUC is over the fraction perturbed in [0, 1], comparable across sizes
(Quantus' AUC is ``K * auc - (y_0 + y_1) / 2`` of ours for ``K`` steps). Region perturbation reports Samek's AOPC
``1/(L+1) Σ_{k=0}^{L} (y_0 - y_k)`` where Quantus returns the drops ``y_0 - y_k``; Samek's 9 x 9 regions are
centred on ranked pixels and may overlap, Quantus' and these are a grid of patches ranked by summed relevance
(Quantus pads an image whose side is not a multiple of the patch so that the grid is centred, here the last row and
column of patches are cut). Quantus' pixels are (channel, pixel) elements; here a pixel is flipped in all channels.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from xai_core.metrics.base import Metric, MetricContext
from xai_core.metrics.faithfulness import SAMEK, SAMEK_URL, aopc_from_curve
from xai_core.metrics.monotonicity import random_values
from xai_core.metrics.perturbation import OUTPUT, SEED, SIGMA, STEPS, SUBSTRATES, Curves, SubstrateParam
from xai_core.metrics.records import CurveResult, ScoreResult
from xai_core.metrics.registry import register
from xai_core.params import IntParam

NEEDS = ("model", "inputs", "maps")
MONTAVON = "Montavon, Samek, Müller. Methods for Interpreting and Understanding Deep Neural Networks. DSP 2018"
BLACK = SubstrateParam("substrate", "black", "what removed features take (black pixels, as Samek et al.)",
                       choices=SUBSTRATES)  # fmt: skip
UNIFORM = SubstrateParam(
    "substrate", "uniform",
    "what removed regions take: uniform U(0, 1) pixel noise (Samek et al.; seeded), or a substrate of the curves",
    choices=("uniform", *SUBSTRATES),
)  # fmt: skip


def _settings(s: dict[str, Any], **fixed: Any) -> dict[str, Any]:
    """The full curve settings (``CURVE_PARAMS``) of a named curve: its own values plus the fixed ones."""
    base = {"steps": 1, "substrate": "black", "sigma": 5.0, "output": "probability", "granularity": "pixel",
            "patch_size": 8, "n_segments": 100, "seed": 0}  # fmt: skip
    return {**base, **s, **fixed}


def deletion_curve(ctx: MetricContext, name: str, settings: dict[str, Any], limit: int | None = None) -> CurveResult:
    """The MoRF deletion curve under ``settings``; with ``limit``, one feature per step for the first ``limit``
    features (``0``: all of them)."""
    assert ctx.inputs is not None
    s = dict(settings)
    named = s["substrate"] if isinstance(s["substrate"], str) else "custom"
    if named == "uniform":  # one seeded U(0, 1) draw per pixel, fixed along the curve
        x = ctx.inputs
        s["substrate"] = torch.cat([random_values(ctx.model, x, "uniform", 1, s["seed"], i) for i in range(len(x))])
    curves = Curves(ctx.model, ctx.inputs, ctx.maps, ctx.target, ctx.chunk_size, **s)
    if limit is not None:
        plan = curves.plan
        steps = int(plan.n.max()) if limit == 0 else min(limit, int(plan.n.max()))
        n = plan.n if limit == 0 else torch.clamp(plan.n, max=steps)
        curves.plan = replace(plan, n=n, steps=steps, settings={**plan.settings, "steps": steps})
    curve = curves.curve("deletion", "morf", lambda f, partial: ctx.report(f, partial))
    return replace(curve, name=name, settings={**curve.settings, "substrate": named})


@register
class PixelFlipping(Metric):
    """Deletion, most relevant pixels first, onto black: Samek et al.'s pixel flipping (Quantus' ``PixelFlipping``).

    ``steps`` points of ``H*W/steps`` pixels each; the curve's ``auc`` is its summary (lower is better).
    """

    name, title, paper, url = "pixel_flipping", "Pixel flipping", SAMEK, SAMEK_URL
    summary = "Target probability as pixels are set to black, most relevant first (deletion with pixels); AUC."
    higher_is_better = False
    needs = NEEDS
    params = (STEPS, BLACK, SIGMA, OUTPUT, SEED)

    def compute(self, ctx: MetricContext, **s: Any) -> CurveResult:
        return deletion_curve(ctx, self.name, _settings(s, granularity="pixel"))


@register
class RegionPerturbation(Metric):
    """AOPC (Samek et al. eq. 12) of the deletion curve that replaces the ``regions`` most relevant patches, one per
    step, by uniform noise; ``curves`` holds that curve."""

    name, title, paper, url = "region_perturbation", "Region perturbation (AOPC)", SAMEK, SAMEK_URL
    summary = "Mean drop of the target probability as the most relevant 9x9 regions are replaced by noise (AOPC)."
    higher_is_better = True
    needs = NEEDS
    params = (
        IntParam("regions", 100, "regions perturbed, one per step (Samek's L; Quantus' regions_evaluation)", low=1,
                 high=100000),
        IntParam("patch_size", 9, "side of the square regions in pixels (Samek et al.: 9)", low=1, high=512),
        UNIFORM, SIGMA, OUTPUT, SEED,
    )  # fmt: skip

    def compute(self, ctx: MetricContext, **s: Any) -> ScoreResult:
        regions = s.pop("regions")
        curve = deletion_curve(ctx, "region_perturbation_curve", _settings(s, granularity="patch"), regions)
        return replace(aopc_from_curve(curve), name=self.name)


@register
class Selectivity(Metric):
    """Deletion of every patch, most relevant first, one per step, onto black: Montavon et al.'s selectivity; the
    curve's ``auc`` is its summary (a steep fall, a low AUC, is better)."""

    name, title, paper, url = "selectivity", "Selectivity", MONTAVON, "https://arxiv.org/abs/1706.07979"
    summary = "Target probability as patches are removed one by one, most relevant first; AUC (steep fall is good)."
    higher_is_better = False
    needs = NEEDS
    params = (IntParam("patch_size", 8, "side of the square patches in pixels (Quantus: 8)", low=1, high=512),
              BLACK, SIGMA, OUTPUT, SEED)  # fmt: skip

    def compute(self, ctx: MetricContext, **s: Any) -> CurveResult:
        return deletion_curve(ctx, self.name, _settings(s, granularity="patch"), 0)

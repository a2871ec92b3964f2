"""IROF, Iterative Removal Of Features (Rieger & Hansen 2020): SLIC superpixels are replaced by the image's mean,
most relevant (highest mean relevance) first, one per step; the target probability relative to the unperturbed one,
``f(x^(k)) / f(x)``, falls along the way and IROF is the area *over* that curve, ``1 - AUC`` over the fraction of
superpixels removed (higher is better: a faithful map's removal makes the score collapse early).

It is the perturbation engine's deletion curve (``perturbation.Curves``, granularity ``superpixel``) with one
superpixel per step (an image with fewer superpixels than the batch's largest count spreads its own over the same
steps).

Against Quantus 0.6.0 (``IROF``) the curve's points agree to float rounding for the same superpixels and baseline
value (tests/test_metrics_irof.py). On purpose: Quantus leaves out the unperturbed point and integrates with unit
spacing, ``AOC_Q = N - trapz(p_1..p_N)``, which is ``N * irof + (1 + p_1) / 2`` of ours; its ``"mean"`` baseline is
the mean of the whole batch as perturbed so far (it drifts as superpixels are replaced and mixes images), here the
per-channel mean of each unperturbed image; and its SLIC runs on the raw input, here on the displayed image (the
wrapper's ``to_display``, else each image min-max scaled), as for the curves.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from xai_core.metrics.base import Metric, MetricContext, MetricNotApplicable
from xai_core.metrics.named_curves import _settings, deletion_curve
from xai_core.metrics.perturbation import N_SEGMENTS, OUTPUT, SEED, SIGMA, SUBSTRATES, SubstrateParam
from xai_core.metrics.records import ScoreResult, trapezoid_auc
from xai_core.metrics.registry import register


@register
class Irof(Metric):
    """Mean over images of ``1 - AUC`` of ``f(x^(k)) / f(x)`` over the fraction of superpixels removed; the
    normalised curve is in ``curves``. Needs positive scores (``output="probability"``)."""

    name, title = "irof", "IROF"
    paper = "Rieger, Hansen. IROF: a low resource evaluation metric for explanation methods. ICLR workshop 2020"
    url = "https://arxiv.org/abs/2003.08747"
    summary = "Area over the relative target probability as superpixels are removed, most relevant first."
    higher_is_better = True
    needs = ("model", "inputs", "maps")
    params = (
        N_SEGMENTS,
        SubstrateParam("substrate", "mean", "what removed superpixels take (the image's per-channel mean, as IROF)",
                       choices=SUBSTRATES),
        SIGMA, OUTPUT, SEED,
    )  # fmt: skip

    def compute(self, ctx: MetricContext, **s: Any) -> ScoreResult:
        curve = deletion_curve(ctx, "irof_curve", _settings(s, granularity="superpixel"), 0)
        base = curve.scores[:, :1]
        if (base <= 0).any():
            raise MetricNotApplicable("irof divides by the unperturbed score, which must be positive; use "
                                      "output='probability'")  # fmt: skip
        relative = curve.scores / base
        auc = trapezoid_auc(curve.fractions, relative)
        curve = replace(curve, scores=relative, auc=auc)
        per_image = 1.0 - auc
        return ScoreResult(name=self.name, value=float(np.mean(per_image)), per_image=per_image,
                           higher_is_better=True, curves=(curve,))  # fmt: skip

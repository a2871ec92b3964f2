"""Sensitivity-n (Ancona, Ceolini, Öztireli, Gross 2018, §3.2): an explanation satisfies sensitivity-n when, for
every subset ``S`` of ``n`` features, the attributions of ``S`` sum to the output change on removing them,
``Σ_{i∈S} R_i = f(x) - f(x_{S ← baseline})``. The paper measures it as the Pearson correlation of the two sides over
random subsets, for a range of ``n`` on a log scale; this is that curve, ``points`` values of ``n`` from 1 to
``max_fraction`` of the features, ``samples`` subsets each, per image. ``value`` is the mean over ``n`` and images.

A closed form checks it: for a linear model and gradient x input against a zero baseline both sides are equal for
every subset, so every correlation is 1 (the paper's Proposition 2 case), tests/test_metrics_sensitivity_n.py.

Quantus 0.6.0's ``SensitivityN`` differs on purpose and is not an oracle here: it removes features cumulatively in
the map's order and correlates, at each step and across the images of the batch, the attribution of that step's
features with the cumulative drop; the paper correlates within one image over random subsets of equal size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from xai_core.metrics.base import Metric, MetricContext
from xai_core.metrics.correlation import BLACK, drops_of
from xai_core.metrics.feature_sets import (
    LOGIT_OUTPUT,
    SUBSET_SEED,
    feature_table,
    granularity_param,
    nan_mean,
    patch_param,
    pearson_rows,
    prepare,
    random_subsets,
    set_masks,
)
from xai_core.metrics.perturbation import SIGMA, make_substrate
from xai_core.metrics.records import CurveResult, ScoreResult, trapezoid_auc
from xai_core.metrics.registry import register
from xai_core.params import FloatParam, IntParam, ParameterError


def subset_sizes(n_features: int, points: int, max_fraction: float) -> np.ndarray:
    """The ``n`` values: ``points`` log-spaced sizes from 1 to ``max_fraction * N`` (rounded, duplicates dropped)."""
    top = max(1, int(max_fraction * n_features))
    return np.unique(np.round(np.geomspace(1, top, points)).astype(np.int64))


@register
class SensitivityN(Metric):
    """Mean over ``n`` of ``corr_S(Σ_{i∈S} R_i, f(x) - f(x_S))``; the curve over ``n / N`` is in ``curves``."""

    name, title = "sensitivity_n", "Sensitivity-n"
    paper = (
        "Ancona, Ceolini, Öztireli, Gross. Towards Better Understanding of Gradient-based Attribution Methods for "
        "Deep Neural Networks. ICLR 2018"
    )
    url = "https://arxiv.org/abs/1711.06104"
    summary = "Correlation between the attribution of random n-feature subsets and the output drop, over n (mean)."
    higher_is_better = True
    needs = ("model", "inputs", "maps")
    params = (
        IntParam("points", 8, "values of n, log-spaced from 1 feature to max_fraction of them", low=1, high=100),
        FloatParam("max_fraction", 0.8, "largest n as a fraction of the features (Quantus' n_max_percentage)",
                   low=0.0001, high=1.0),
        IntParam("samples", 32, "random subsets for each n", low=2, high=10000),
        granularity_param("pixel"), patch_param(8), BLACK, SIGMA, LOGIT_OUTPUT, SUBSET_SEED,
    )  # fmt: skip

    def compute(self, ctx: MetricContext, **s: Any) -> ScoreResult:
        if s["granularity"] == "superpixel":
            raise ParameterError(
                "sensitivity_n: parameter 'granularity' must be 'pixel' or 'patch' (n counts the same features in "
                "every image); got 'superpixel'"
            )
        run = prepare(ctx, s["output"])
        labels, _, sums, n = feature_table(run, s)
        n_features = int(n[0])
        sizes = subset_sizes(n_features, s["points"], s["max_fraction"])
        b, samples = run.x.shape[0], s["samples"]
        per_size = torch.from_numpy(sizes).repeat_interleave(samples)  # column j: sizes[j // samples]
        members = random_subsets(n, per_size.expand(b, -1), s["seed"])
        replacement = make_substrate(run.model, run.x, s["substrate"], s["sigma"], s["seed"])
        shape = run.maps.shape[1:]
        drops = drops_of(
            run, replacement, labels, lambda r, c: set_masks(labels, members, r, c, shape), per_size.numel(), ctx
        )
        attributed = (members.double() * sums[:, None, :].cpu()).sum(dim=2).numpy()
        k = sizes.size
        corr = pearson_rows(
            attributed.reshape(b * k, samples), drops.reshape(b * k, samples)
        ).reshape(b, k)  # fmt: skip
        fractions = sizes / n_features
        curve = CurveResult(
            name="sensitivity_n_curve", fractions=fractions, scores=corr, auc=trapezoid_auc(fractions, corr),
            higher_is_better=True, counts=np.broadcast_to(sizes, (b, k)).copy(),
            settings={**s, "substrate": s["substrate"] if isinstance(s["substrate"], str) else "custom"},
        )  # fmt: skip
        per_image = nan_mean(corr)
        return ScoreResult(
            name=self.name, value=float(nan_mean(per_image[None])[0]), per_image=per_image, higher_is_better=True,
            curves=(curve,),
        )  # fmt: skip

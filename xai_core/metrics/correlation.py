"""Faithfulness correlation (Bhatt, Weller, Moura 2020) and faithfulness estimate (Alvarez-Melis & Jaakkola 2018):
does the attribution of a set of features predict how much the target score drops when that set is replaced?

Both replace feature sets by a substrate (black by default), score every perturbed copy in chunked gradient-free
forwards and correlate, per image, the attribution sums of the sets with the score drops ``f(x) - f(x_S)``.

Quantus 0.6.0 (``FaithfulnessCorrelation``, ``FaithfulnessEstimate``) is the reference; on one-channel images with
the same subsets and baseline the values agree to float rounding (tests/test_metrics_correlation.py). Where it
differs on purpose: Quantus broadcasts the map over the channels and treats every (channel, pixel) element as a
feature, so the channels of one pixel are drawn or ranked apart; here a feature is a pixel (or patch, or superpixel)
in all its channels, as in both papers. Quantus' "black" is each image's minimum value; here it is black pixels
(``to_model_space(0)`` for a normalising wrapper, else 0), as for the curves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from xai_core.metrics.base import Metric, MetricContext
from xai_core.metrics.feature_sets import (
    LOGIT_OUTPUT,
    N_SEGMENTS,
    SUBSET_SEED,
    check_size,
    feature_table,
    granularity_param,
    group_correlation,
    group_masks,
    grouped,
    masked,
    nan_mean,
    patch_param,
    pearson_rows,
    prepare,
    random_subsets,
    score_images,
    set_masks,
)
from xai_core.metrics.perturbation import SIGMA, SUBSTRATES, SubstrateParam, make_substrate
from xai_core.metrics.records import ScoreResult
from xai_core.metrics.registry import register
from xai_core.params import IntParam

NEEDS = ("model", "inputs", "maps")
BLACK = SubstrateParam(
    "substrate", "black",
    "what replaced features take: black pixels, the blurred image, the per-channel mean, or seeded noise with the "
    "image's mean and std",
    choices=SUBSTRATES,
)  # fmt: skip


def drops_of(run: Any, replacement: Tensor, labels: Tensor, build_mask: Any, per_image: int, ctx: MetricContext):
    """Score drops ``f(x) - f(x_S)`` ``[B, per_image]`` for the masks ``build_mask(rows, cols)``."""
    b = run.x.shape[0]
    scores = score_images(
        run, per_image, lambda r, c: masked(run, build_mask(r, c), replacement[r.to(replacement.device)], r),
        lambda f: ctx.report(f),
    )  # fmt: skip
    return run.base[:b, None] - scores


def result(name: str, per_image: np.ndarray) -> ScoreResult:
    return ScoreResult(name=name, value=float(nan_mean(per_image[None])[0]), per_image=per_image, higher_is_better=True)


@register
class FaithfulnessCorrelation(Metric):
    """``μ_F = corr_{S ∈ random |S|-subsets}( Σ_{i∈S} a_i , f(x) - f(x_{S ← baseline}) )`` (Bhatt et al. eq. 2),
    Pearson over ``runs`` subsets of ``subset_size`` features drawn uniformly without replacement (seeded)."""

    name, title = "faithfulness_correlation", "Faithfulness correlation"
    paper = "Bhatt, Weller, Moura. Evaluating and Aggregating Feature-based Model Explanations. IJCAI 2020"
    url = "https://arxiv.org/abs/2005.00631"
    summary = "Pearson correlation between the attribution of random feature subsets and the score drop on removal."
    higher_is_better = True
    needs = NEEDS
    params = (
        IntParam("runs", 100, "random subsets per image (Quantus' nr_runs)", low=2, high=10000),
        IntParam("subset_size", 224, "features in each subset (Quantus' default 224)", low=1, high=10**6),
        granularity_param("pixel"), patch_param(8), N_SEGMENTS, BLACK, SIGMA, LOGIT_OUTPUT, SUBSET_SEED,
    )  # fmt: skip

    def compute(self, ctx: MetricContext, **s: Any) -> ScoreResult:
        run = prepare(ctx, s["output"])
        labels, _, sums, n = feature_table(run, s)
        check_size("subset_size", s["subset_size"], int(n.min()), "the number of features of an image")
        b, runs = run.x.shape[0], s["runs"]
        members = random_subsets(n, torch.full((b, runs), s["subset_size"]), s["seed"])
        replacement = make_substrate(run.model, run.x, s["substrate"], s["sigma"], s["seed"])
        shape = run.maps.shape[1:]
        drops = drops_of(run, replacement, labels, lambda r, c: set_masks(labels, members, r, c, shape), runs, ctx)
        attributed = (members.double() * sums[:, None, :].cpu()).sum(dim=2).numpy()
        return result(self.name, pearson_rows(attributed, drops))


@register
class FaithfulnessEstimate(Metric):
    """Pearson correlation over features (or groups of ``features_in_step`` features taken in the map's order)
    between each one's attribution and the drop when it alone is replaced (Alvarez-Melis & Jaakkola 2018, §4).

    One perturbed image per group: ``ceil(N / features_in_step)`` forwards per image.
    """

    name, title = "faithfulness_estimate", "Faithfulness estimate"
    paper = (
        "Alvarez-Melis, Jaakkola. Towards Robust Interpretability with Self-Explaining Neural Networks. NeurIPS 2018"
    )
    url = "https://arxiv.org/abs/1806.07538"
    summary = "Pearson correlation between each feature's attribution and the score drop when it alone is removed."
    higher_is_better = True
    needs = NEEDS
    params = (
        IntParam("features_in_step", 1, "features removed together, consecutive in the map's order (Quantus')",
                 low=1, high=10**6),
        granularity_param("patch"), patch_param(16), N_SEGMENTS, BLACK, SIGMA, LOGIT_OUTPUT,
        IntParam("seed", 0, "substrate=noise: seed of its generator", low=0, high=2**31 - 1),
    )  # fmt: skip

    def compute(self, ctx: MetricContext, **s: Any) -> ScoreResult:
        run, labels, sums, group, groups = grouped(ctx, s, ascending=False)
        per_image = int(groups.max())
        replacement = make_substrate(run.model, run.x, s["substrate"], s["sigma"], s["seed"])
        shape = run.maps.shape[1:]

        drops = drops_of(run, replacement, labels, lambda r, c: group_masks(group, labels, r, c, shape), per_image, ctx)
        return result(self.name, group_correlation(group, groups, sums, drops, pearson_rows))

"""Monotonicity in its two published forms, named as Quantus 0.6.0 names them.

- ``monotonicity`` (Arya et al. 2019, AIX360's ``monotonicity_metric``): start from the baseline and insert the
  features *least* relevant first; the explanation passes if the target probability never decreases. This is the
  perturbation engine's insertion curve in LeRF order (``perturbation.Curves``), judged on points 1..steps as the
  authors' code and Quantus do (the step from the bare baseline to the first insertion is not judged).
- ``monotonicity_correlation`` (Nguyen & Martinez 2020): for each feature (or group of ``features_in_step``
  features in the map's order), the mean squared change of the target score when it alone is replaced by random
  values (``samples`` draws), ``v_i = E[(f(x) - f(x_{i ← u}))²]``; the Spearman correlation between the
  attributions ``a_i`` and ``v_i``.

Differences from Quantus, on purpose: Quantus' ``uniform`` baseline fills a whole group with one value per image
and draw; here every replaced pixel gets its own draw (the same for a one-pixel group), and the draws are seeded.
Quantus divides ``v_i`` by ``f(x)²``, which a rank correlation ignores, so it is left out. Score differences
within float32 rounding (``4 eps |f|``) count as equal for the monotonicity test: a batched forward may differ from
a single one in the last bit, which would otherwise fail an explanation on a plateau.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xai_core.metrics.base import Metric, MetricContext
from xai_core.metrics.feature_sets import (
    N_SEGMENTS,
    SUBSET_SEED,
    granularity_param,
    group_correlation,
    group_masks,
    grouped,
    masked,
    nan_mean,
    patch_param,
    score_images,
    spearman_rows,
)
from xai_core.metrics.perturbation import OUTPUT, SEED, SIGMA, STEPS, SUBSTRATES, Curves, SubstrateParam
from xai_core.metrics.records import ScoreResult
from xai_core.metrics.registry import register
from xai_core.params import ChoiceParam, IntParam

NEEDS = ("model", "inputs", "maps")
ARYA = "Arya et al. One Explanation Does Not Fit All: A Toolkit and Taxonomy of AI Explainability Techniques. 2019"
NGUYEN = "Nguyen, Martínez. On Quantitative Aspects of Model Interpretability. 2020"
FLOAT32_TIES = 4 * float(np.finfo(np.float32).eps)


@register
class Monotonicity(Metric):
    """1 for an image whose LeRF insertion curve (from the substrate) never decreases, else 0; ``value`` is the
    share of monotone images. ``steps = N`` inserts one feature per step, as Quantus' ``features_in_step=1``."""

    name, title, paper, url = "monotonicity", "Monotonicity (Arya)", ARYA, "https://arxiv.org/abs/1909.03012"
    summary = "Share of images whose target probability never falls as features are added, least relevant first."
    higher_is_better = True
    needs = NEEDS
    params = (
        STEPS, granularity_param("pixel"), patch_param(8), N_SEGMENTS,
        SubstrateParam("substrate", "black", "the baseline the features are inserted into", choices=SUBSTRATES),
        SIGMA, OUTPUT, SEED,
    )  # fmt: skip

    def compute(self, ctx: MetricContext, **s: Any) -> ScoreResult:
        assert ctx.inputs is not None
        curves = Curves(ctx.model, ctx.inputs, ctx.maps, ctx.target, ctx.chunk_size, **s)
        curve = curves.curve("insertion", "lerf", lambda f, partial: ctx.report(f, partial))
        curve = replace(curve, name="monotonicity_curve")
        judged = curve.scores[:, 1:]
        slack = FLOAT32_TIES * np.maximum(np.abs(judged[:, 1:]), np.abs(judged[:, :-1]))
        per_image = (np.diff(judged, axis=1) >= -slack).all(axis=1).astype(np.float64)
        return ScoreResult(
            name=self.name, value=float(per_image.mean()), per_image=per_image, higher_is_better=True,
            curves=(curve,),
        )  # fmt: skip


def random_values(model: Any, x: Tensor, kind: str, samples: int, seed: int, image: int) -> Tensor:
    """``[samples, C, H, W]`` replacement draws for image ``image``: ``uniform`` U(0, 1) pixels (through a wrapper's
    ``to_model_space``, else in the input space, as Quantus), ``noise`` Gaussian with the image's per-channel mean
    and std. One seeded stream per (seed, image), so a draw does not depend on the batch around it."""
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, image]).generate_state(1)[0]))
    shape = (samples, *x.shape[1:])
    if kind == "uniform":
        draws = torch.rand(shape, generator=gen, dtype=x.dtype).to(x.device)
        to_model = getattr(model, "to_model_space", None)
        return to_model(draws).to(x) if callable(to_model) else draws
    z = torch.randn(shape, generator=gen, dtype=x.dtype).to(x.device)
    img = x[image]
    return img.mean(dim=(1, 2), keepdim=True) + img.std(dim=(1, 2), keepdim=True) * z


@register
class MonotonicityCorrelation(Metric):
    """Spearman correlation between the attribution of each feature group and ``E[(f(x) - f(x_{i ← u}))²]``.

    ``ceil(N / features_in_step) * samples`` forwards per image.
    """

    name, title = "monotonicity_correlation", "Monotonicity correlation (Nguyen)"
    paper, url = NGUYEN, "https://arxiv.org/abs/2007.07584"
    summary = "Spearman correlation between features' attributions and the output variance when each is replaced."
    higher_is_better = True
    needs = NEEDS
    params = (
        IntParam("samples", 10, "random replacements per feature group (Quantus' nr_samples, default 100)", low=1,
                 high=10000),
        IntParam("features_in_step", 1, "features replaced together, consecutive in the map's order", low=1,
                 high=10**6),
        granularity_param("patch"), patch_param(32), N_SEGMENTS,
        ChoiceParam("replacement", "uniform",
                    "random values: uniform U(0, 1) pixels, or Gaussian noise with the image's channel means and stds",
                    ("uniform", "noise")),
        OUTPUT, SUBSET_SEED,
    )  # fmt: skip

    def compute(self, ctx: MetricContext, **s: Any) -> ScoreResult:
        run, labels, sums, group, groups = grouped(ctx, s, ascending=True)
        n_groups, samples = int(groups.max()), s["samples"]
        shape = run.maps.shape[1:]
        cache: dict[int, Tensor] = {}

        def draws(image: int) -> Tensor:
            if image not in cache:
                cache.clear()
                cache[image] = random_values(run.model, run.x, s["replacement"], samples, s["seed"], image)
            return cache[image]

        def build(r: Tensor, c: Tensor) -> Tensor:
            g, j = c // samples, c % samples
            mask = group_masks(group, labels, r, g, shape)
            values = torch.stack([draws(int(i))[int(k)] for i, k in zip(r, j, strict=True)])
            return masked(run, mask, values, r)

        scores = score_images(run, n_groups * samples, build, lambda f: ctx.report(f))
        b = run.x.shape[0]
        change = ((scores.reshape(b, n_groups, samples) - run.base[:, None, None]) ** 2).mean(axis=2)
        per_image = group_correlation(group, groups, sums, change, spearman_rows)
        return ScoreResult(name=self.name, value=float(nan_mean(per_image[None])[0]), per_image=per_image,
                           higher_is_better=True)  # fmt: skip

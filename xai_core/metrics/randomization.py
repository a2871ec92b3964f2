"""Randomization measures: does the explanation depend on what the model learnt and on the class it explains?

* Random logit (Sixt, Granz, Landgraf 2020): the explanation of the target against that of a random other class.
* Smooth MPRT (Hedström et al. 2023): the model parameter randomization test of Adebayo et al. on explanations
  averaged over noisy copies of the input, which removes the shattered-gradient noise that made the original
  test's similarities hard to read.
* Efficient MPRT (Hedström et al. 2023): the relative rise in the explanation's complexity (discrete entropy of its
  histogram) from the trained to the fully randomised model; one randomised model instead of one per layer.

Randomised models are deep copies (``sanity.randomization.model_copy``: the caller's model is never touched),
randomised layer by layer as ``sanity.model_randomization`` does it: each parameter layer re-initialised by its own
initialiser or, with ``randomize="shuffle"``, its trained weights permuted; layer ``i`` (from the logits down) gets
seed ``seed + i`` in every order. The copies are passed to the ``explainer`` as ``model=`` (see ``base.Explainer``).

Reference: Quantus 0.6 (``quantus.metrics.randomisation``). Quantus re-seeds ``torch.manual_seed(seed + 1)`` before
every layer, so all layers of one type draw the same stream; the tests compare with it on layers whose
re-initialisation is deterministic, which leaves the formulas to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xai_core.metrics.base import Metric, MetricContext, MetricNotApplicable, MetricResult
from xai_core.metrics.complexity import score_record
from xai_core.metrics.explanations import (
    Prepared,
    as_explanation,
    as_explanation_maps,
    call,
    explain_all,
    prepare,
    stacked,
)
from xai_core.metrics.records import CurveResult, ScoreResult, trapezoid_auc
from xai_core.metrics.registry import register
from xai_core.metrics.robustness import Perturbations
from xai_core.params import ChoiceParam, FloatParam, IntParam

NEEDS = ("model", "inputs", "explainer")
SIMILARITIES = ("spearman_abs", "spearman", "ssim", "hog_pearson")  # = sanity.similarity.MEASURES (tested)
HEDSTROM = (
    "Hedström, Weber, Lapuschkin, Höhne. Sanity Checks Revisited: An Exploration to Repair the Model Parameter "
    "Randomisation Test. NeurIPS 2023 XAI in Action workshop"
)
HEDSTROM_URL = "https://arxiv.org/abs/2401.06465"
SEED = IntParam("seed", 0, "seed of the random class, the noise and the randomised weights", low=0, high=2**31 - 1)
RANDOMIZE = ChoiceParam(
    "randomize", "reinitialize",
    "how a layer is randomised: re-initialised by its own initialiser, or its trained weights shuffled",
    choices=("reinitialize", "shuffle"),
)  # fmt: skip


def similarity_param(default: str) -> ChoiceParam:
    return ChoiceParam(
        "similarity", default,
        "how two maps are compared: Spearman rank correlation of |maps| or of the maps, SSIM of the min-max "
        "normalised maps, Pearson correlation of their HOG descriptors (sanity.similarity)",
        choices=SIMILARITIES,
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RandomLogitResult(ScoreResult):
    """``per_image`` the similarity of the two explanations; ``random_classes`` the other class drawn ``[B]``."""

    random_classes: np.ndarray


@register
class RandomLogit(Metric):
    """``sim(Φ(x, y), Φ(x, y'))`` with ``y'`` drawn uniformly from the other ``K - 1`` classes: a method whose
    explanation barely changes with the class does not explain the class. The draw is Quantus' exactly
    (``RandomState(seed).randint(0, K - 1, B)`` indexing the classes other than ``y``). Quantus compares with SSIM
    on the flattened maps (a 1-D window over rows); here SSIM (and every other measure) runs on the 2-D maps."""

    name, title, family = "random_logit", "Random logit", "randomization"
    paper = "Sixt, Granz, Landgraf. When Explanations Lie: Why Many Modified BP Attributions Fail. ICML 2020"
    url = "https://arxiv.org/abs/1912.09818"
    summary = "Similarity of the explanation of the target to that of a random other class."
    higher_is_better, needs = False, NEEDS
    params = (similarity_param("ssim"), SEED)

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        from xai_core.sanity.similarity import similarities  # sanity imports attribution: load it only when run

        assert ctx.explainer is not None
        run = prepare(ctx, logits=True)
        assert run.logits is not None
        b, k = run.x.shape[0], run.logits.shape[1]
        if k < 2:
            raise MetricNotApplicable(f"{self.name} needs a model with at least two classes; this one has {k}")
        index = torch.from_numpy(np.random.RandomState(settings["seed"]).randint(0, k - 1, b))
        other = index + (index >= run.classes).long()
        maps = explain_all(
            ctx.explainer, torch.cat([run.x, run.x]), torch.cat([run.classes, other]), run.chunk, as_explanation_maps
        )
        sims = similarities(maps[:b], maps[b:], [settings["similarity"]])[settings["similarity"]]
        ctx.report(1.0)
        base = score_record(type(self), sims)
        return RandomLogitResult(
            name=base.name, value=base.value, per_image=base.per_image, higher_is_better=False,
            random_classes=other.numpy(),
        )  # fmt: skip


def smoothed_maps(ctx: MetricContext, run: Prepared, samples: int, noise: float, seed: int, model: Any) -> np.ndarray:
    """``1/N Σ_n maps(x + ε_n)`` ``[B, H, W]`` with ``ε_n ~ N(0, σ²)``, ``σ = noise · (max x - min x)`` per image,
    and ``ε_N = 0`` (Quantus' ``explain_smooth_batch``); the same ``ε_n`` for every model (common random numbers,
    so models differ by their weights only). Copies are explained in stacked batches."""
    assert ctx.explainer is not None
    x, b = run.x, run.x.shape[0]
    sigma = noise * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    draws = Perturbations("gaussian", 1.0, x.shape, seed)
    total: np.ndarray | None = None
    for copies, images in stacked(samples, b, run.chunk):
        eps = draws.rows(copies, images).to(x) * sigma[images].view(-1, 1, 1, 1)
        eps[(copies == samples - 1).to(eps.device)] = 0.0
        maps = as_explanation_maps(call(ctx.explainer, x[images] + eps, run.classes[images], model))
        if total is None:
            total = np.zeros((b, *maps.shape[1:]))
        np.add.at(total, images.numpy(), maps)
    assert total is not None
    return total / samples


@register
class SmoothMprt(Metric):
    """Similarity of the smoothed explanation (``smoothed_maps``) of the trained model to that of the model with
    its layers randomised in ``order``. ``layers="last"`` compares with the fully randomised model only (Quantus'
    ``skip_layers=True``; its ``return_last_correlation``); ``"all"`` with the model after every layer and
    ``value`` is the mean over layers (``return_average_correlation``; Quantus also averages in its "original"
    entry, the trained model against itself re-smoothed with fresh noise, by a key mismatch: here the trained
    model is left out). ``curves[0]`` holds the per-layer similarities, the trained model first (1 by
    construction). ``samples=1`` is the original MPRT. Lower is better. (Quantus' smoothing calls
    ``quantus.explain`` with ``explain_func_kwargs`` instead of the ``explain_func`` it is given, and draws fresh
    noise for every model; the tests route it to the same explainer and noise.)"""

    name, title, family = "smooth_mprt", "Smooth MPRT (sMPRT)", "randomization"
    paper, url = HEDSTROM, HEDSTROM_URL
    summary = "Similarity of noise-averaged explanations of the trained and the randomised model."
    higher_is_better, needs = False, NEEDS
    params = (
        IntParam("samples", 50, "noisy copies averaged per explanation, the last noise-free (Quantus: 50)", 1, 1000),
        FloatParam("noise", 0.1, "noise standard deviation as a fraction of each input's value range", 0.0, 10.0),
        ChoiceParam(
            "order", "bottom_up",
            "layers randomised cumulatively from the input up (Quantus' default), from the logits down "
            "('cascading', Adebayo et al.), or one at a time ('independent')",
            choices=("bottom_up", "cascading", "independent"),
        ),
        ChoiceParam("layers", "last", "compare after the last layer only, or after every layer", ("last", "all")),
        similarity_param("spearman_abs"),
        RANDOMIZE,
        SEED,
    )  # fmt: skip

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        from xai_core.sanity.randomization import model_copy, randomization_steps, top_down_layers
        from xai_core.sanity.similarity import Reference

        s, run = settings, prepare(ctx)
        copy, clone = model_copy(run.model)
        top_down = top_down_layers(run.model, clone)
        if not top_down:
            raise MetricNotApplicable(f"{self.name}: the model has no parameter layers to randomise")
        reference = smoothed_maps(ctx, run, s["samples"], s["noise"], s["seed"], model=None)
        compare = Reference(reference, [s["similarity"]])
        scores = [compare.compare(reference)[s["similarity"]]]
        names = ["original"]
        evaluated = 1 if s["layers"] == "last" else len(top_down)
        steps = randomization_steps(top_down, range(len(top_down)), s["order"], s["randomize"], s["seed"])
        for i, name in enumerate(steps):
            if s["layers"] == "all" or i == len(top_down) - 1:
                maps = smoothed_maps(ctx, run, s["samples"], s["noise"], s["seed"], model=copy)
                scores.append(compare.compare(maps)[s["similarity"]])
                names.append(name)
                ctx.report(len(names) / (evaluated + 1))
        table = np.stack(scores, axis=1)  # [B, 1 + evaluated]
        fractions = np.linspace(0.0, 1.0, table.shape[1])
        curve = CurveResult(
            name=f"{self.name}_layers", fractions=fractions, scores=table, auc=trapezoid_auc(fractions, table),
            higher_is_better=False, settings={"layers": names, "order": s["order"], "similarity": s["similarity"]},
        )  # fmt: skip
        with np.errstate(invalid="ignore"):
            per_image = np.nanmean(table[:, 1:], axis=1) if np.isfinite(table[:, 1:]).any() else table[:, -1]
        return score_record(type(self), per_image, (curve,))


def discrete_entropy(explanations: torch.Tensor, bins: int) -> np.ndarray:
    """Shannon entropy (natural log) of each explanation's histogram of ``bins`` equal bins over its own range
    (``np.histogram``), Quantus' ``discrete_entropy`` per image ``[B]``."""
    out = []
    for e in explanations.flatten(1).numpy():
        counts, _ = np.histogram(e, bins=bins)
        p = counts[counts > 0] / counts.sum()
        out.append(float(-(p * np.log(p)).sum()))
    return np.array(out)


@register
class EfficientMprt(Metric):
    """``(H(Φ_rand) - H(Φ)) / H(Φ)``: the relative rise of the explanation's discrete entropy (``discrete_entropy``,
    ``bins`` bins) from the trained model to the model with every parameter layer randomised (Quantus'
    ``EfficientMPRT`` defaults: ``skip_layers=True``, raw explanations, no abs, no normalisation). A faithful
    method's explanation of a random model is noise, so its complexity rises: higher is better. NaN where the
    trained model's explanation is constant (entropy 0)."""

    name, title, family = "efficient_mprt", "Efficient MPRT (eMPRT)", "randomization"
    paper, url = HEDSTROM, HEDSTROM_URL
    summary = "Relative rise of the explanation's histogram entropy when every layer of the model is randomised."
    higher_is_better, needs = True, NEEDS
    params = (
        IntParam("bins", 100, "histogram bins of the discrete entropy (Quantus' n_bins default)", low=2, high=10000),
        RANDOMIZE,
        SEED,
    )

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        from xai_core.sanity.randomization import model_copy, randomization_steps, top_down_layers

        assert ctx.explainer is not None
        run = prepare(ctx)
        copy, clone = model_copy(run.model)
        top_down = top_down_layers(run.model, clone)
        everything = range(len(top_down))
        for _ in randomization_steps(top_down, everything, "cascading", settings["randomize"], settings["seed"]):
            pass  # every layer randomised; the order does not matter (layer i always gets seed + i)
        trained = explain_all(ctx.explainer, run.x, run.classes, run.chunk, as_explanation)
        ctx.report(0.5)
        randomised = explain_all(ctx.explainer, run.x, run.classes, run.chunk, as_explanation, model=copy)
        ctx.report(1.0)
        before, after = discrete_entropy(trained, settings["bins"]), discrete_entropy(randomised, settings["bins"])
        rise = np.divide(after - before, before, out=np.full_like(before, np.nan), where=before > 0)
        return score_record(type(self), rise)

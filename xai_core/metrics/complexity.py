"""Complexity of a map: how concentrated its relevance is. Sparseness (Gini index), complexity (entropy of the
fractional contributions) and effective complexity (features above a threshold). They need the maps alone.

Every measure reads ``|m|`` divided by the map's own largest ``|m|`` (a zero map stays zero), Quantus 0.6's defaults
``abs=True, normalise=True``, except that Quantus' ``normalise_by_max`` divides by the largest value over the whole
batch, which makes an image's effective complexity depend on the other images in the batch; per image, the two are
equal (the tests call Quantus one image at a time). Maps are ``[B, H, W]`` (see ``records.as_maps``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xai_core.metrics.base import Metric, MetricContext, MetricResult
from xai_core.metrics.records import CurveResult, ScoreResult, as_maps
from xai_core.metrics.registry import register
from xai_core.params import FloatParam

NEEDS = ("maps",)


def normalized_relevance(maps: Any) -> np.ndarray:
    """``|m| / max |m|`` per image, flattened ``[B, HW]`` (float64); a zero map stays zero."""
    a = np.abs(as_maps(maps))
    a = a.reshape(a.shape[0], -1)
    peak = a.max(axis=1, keepdims=True)
    return np.divide(a, peak, out=np.zeros_like(a), where=peak > 0)


def score_record(cls: type[Metric], per_image: np.ndarray, curves: tuple[CurveResult, ...] = ()) -> ScoreResult:
    """``cls``'s record of ``per_image``: ``value`` the mean over the defined (non-NaN) values, NaN if none is."""
    defined = ~np.isnan(per_image)
    value = float(per_image[defined].mean()) if defined.any() else float("nan")
    return ScoreResult(
        name=cls.name, value=value, per_image=per_image, higher_is_better=cls.higher_is_better, curves=curves
    )


@register
class Sparseness(Metric):
    """The Gini index of the sorted relevance ``a_(1) <= ... <= a_(n)`` (Chalasani et al. 2020, after Hurley &
    Rickard 2009): ``G = Σ_i (2i - n - 1) a_(i) / (n Σ_i a_(i))``, 0 for a uniform map, ``1 - 1/n`` for a single
    pixel. As Quantus, ``1e-7`` is added to every value first, so a zero map scores 0 instead of 0/0."""

    name, title, family = "sparseness", "Sparseness (Gini)", "complexity"
    paper = (
        "Chalasani, Chen, Chowdhury, Wu, Jha. Concise Explanations of Neural Networks using Adversarial Training. "
        "ICML 2020"
    )
    url = "https://arxiv.org/abs/1810.06583"
    summary = "Gini index of the map's absolute relevance: concentrated relevance scores high."
    higher_is_better, needs = True, NEEDS

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        a = np.sort(normalized_relevance(ctx.maps) + 1e-7, axis=1)
        n = a.shape[1]
        weights = 2 * np.arange(1, n + 1) - n - 1
        return score_record(type(self), (a * weights).sum(axis=1) / (n * a.sum(axis=1)))


@register
class Complexity(Metric):
    """The Shannon entropy (natural log) of the fractional contributions ``p_i = |m_i| / Σ_j |m_j|`` (Bhatt et al.
    2020): ``-Σ_i p_i ln(p_i + 1e-12)`` as Quantus; 0 for a single pixel, ``ln n`` for a uniform map. A
    map that is zero everywhere has no distribution: NaN, left out of ``value``."""

    name, title, family = "complexity", "Complexity (entropy)", "complexity"
    paper = "Bhatt, Weller, Moura. Evaluating and Aggregating Feature-based Model Explanations. IJCAI 2020"
    url = "https://arxiv.org/abs/2005.00631"
    summary = "Entropy of the map's fractional absolute contributions: spread-out relevance scores high."
    higher_is_better, needs = False, NEEDS

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        a = normalized_relevance(ctx.maps)
        total = a.sum(axis=1, keepdims=True)
        p = np.divide(a, total, out=np.full_like(a, np.nan), where=total > 0)
        return score_record(type(self), -(p * np.log(p + 1e-12)).sum(axis=1))


@register
class EffectiveComplexity(Metric):
    """The number of features whose normalised relevance ``|m_i| / max |m|`` exceeds ``eps`` (Nguyen & Martínez
    2020, "effective complexity" with the threshold on the attribution; Quantus' ``EffectiveComplexity``). A
    count of pixels; fewer is simpler."""

    name, title, family = "effective_complexity", "Effective complexity", "complexity"
    paper = "Nguyen, Martínez. On Quantitative Aspects of Model Interpretability. arXiv 2020"
    url = "https://arxiv.org/abs/2007.07584"
    summary = "Number of pixels whose relevance exceeds a small fraction of the map's maximum."
    higher_is_better, needs = False, NEEDS
    params = (
        FloatParam("eps", 1e-5, "a pixel counts when |m| / max |m| exceeds this (Quantus' eps)", low=0.0, high=1.0),
    )

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        return score_record(
            type(self), (normalized_relevance(ctx.maps) > settings["eps"]).sum(axis=1).astype(np.float64)
        )

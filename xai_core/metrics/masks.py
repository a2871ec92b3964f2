"""Localisation against segmentation masks: relevance mass and rank accuracy (Arras et al. 2022), top-k
intersection (Theiner et al. 2021), attribution localisation (Kohlbrenner et al. 2020) and the ROC AUC of the map
as a mask detector (Fawcett 2006, as Quantus uses it). All need ``maps`` and ``masks``; higher is better.

``masks`` are ``[B, H, W]`` (or ``[B, 1, H, W]``, or ``[H, W]`` for one image), boolean or 0/1, in the maps'
geometry (``mask_from_image`` brings a mask drawn on the original image there, as ``ModelWrapper.preprocess``
brings the image). ``relevance`` says which values of the map count: the map as it is (``"signed"``, Quantus'
default ``abs=False``), its positive part or its absolute value. Quantus also divides maps by their largest value
first (``normalise=True``); every measure here is invariant to that scale. An empty mask is an error naming the
image. Ties in the map are ranked in row-major order (a stable sort); Quantus' ``np.argsort`` leaves their order
to the sorting algorithm, so the rank measures agree with it on maps without ties.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from xai_core.metrics.base import Metric, MetricContext, MetricResult
from xai_core.metrics.complexity import score_record
from xai_core.metrics.records import as_maps
from xai_core.metrics.registry import register
from xai_core.params import BoolParam, ChoiceParam, IntParam, ParameterError

NEEDS = ("maps", "masks")
RELEVANCES = ("signed", "positive", "absolute")
ARRAS = (
    "Arras, Osman, Samek. CLEVR-XAI: A Benchmark Dataset for the Ground Truth Evaluation of Neural Network "
    "Explanations. Information Fusion 2022"
)
ARRAS_URL = "https://arxiv.org/abs/2003.07258"


def relevance_param(default: str) -> ChoiceParam:
    return ChoiceParam(
        "relevance", default,
        "which values of the map count: as they are ('signed'), the positive part, or the absolute value",
        choices=RELEVANCES,
    )  # fmt: skip


def as_masks(masks: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Boolean masks ``[B, H, W]`` for maps of ``shape`` ``(B, H, W)``; errors name what is wrong."""
    raw = masks.detach().cpu().numpy() if hasattr(masks, "detach") else np.asarray(masks)
    if raw.ndim == 4 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if raw.ndim == 2:
        raw = raw[None]
    if raw.shape != tuple(shape):
        raise ValueError(
            f"masks must be [batch, height, width] like the maps {tuple(shape)}; got {tuple(raw.shape)} "
            "(bring a mask drawn on the original image to the model's input with metrics.mask_from_image)"
        )
    if raw.dtype != bool and not np.isin(raw, (0, 1)).all():
        raise ValueError(f"masks must be boolean or 0/1; got values such as {np.unique(raw)[:5].tolist()}")
    out = raw.astype(bool)
    empty = np.flatnonzero(~out.reshape(len(out), -1).any(axis=1))
    if empty.size:
        raise ValueError(f"image {int(empty[0])}: its mask covers no pixel")
    return out


def mask_from_image(image: Any, model: Any = None) -> np.ndarray:
    """A boolean mask ``[H, W]`` from a mask image (PIL image or array; any non-zero pixel is foreground), resized
    and centre-cropped as ``model.preprocess`` does its image (nearest neighbour), for a ``load_model`` wrapper;
    unchanged in size without one."""
    from PIL import Image

    picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image).astype(np.uint8))
    gray = picture.convert("L") if picture.mode not in ("L", "1") else picture
    if model is not None and hasattr(model, "resize") and hasattr(model, "input_size"):
        import torchvision.transforms.functional as TF
        from torchvision.transforms import InterpolationMode

        gray = TF.resize(gray, [model.resize], interpolation=InterpolationMode.NEAREST)
        gray = TF.center_crop(gray, list(model.input_size))
    return np.asarray(gray) > 0


def _inputs(ctx: MetricContext, relevance: str) -> tuple[np.ndarray, np.ndarray]:
    """Relevance ``[B, HW]`` and masks ``[B, HW]``."""
    maps = as_maps(ctx.maps)
    masks = as_masks(ctx.masks, maps.shape)
    if relevance == "positive":
        maps = np.clip(maps, 0.0, None)
    elif relevance == "absolute":
        maps = np.abs(maps)
    return maps.reshape(len(maps), -1), masks.reshape(len(masks), -1)


def _ranked(a: np.ndarray) -> np.ndarray:
    """Pixel indices by descending relevance, ties in row-major order."""
    return np.argsort(-a, axis=1, kind="stable")


@register
class RelevanceMassAccuracy(Metric):
    """``R_within / R_total``: the share of the map's relevance inside the mask (Arras et al.). NaN where
    the relevance sums to zero (Quantus' 0/0)."""

    name, title, family = "relevance_mass_accuracy", "Relevance mass accuracy", "localization"
    paper, url = ARRAS, ARRAS_URL
    summary = "Share of the map's relevance that falls inside the segmentation mask."
    higher_is_better, needs, params = True, NEEDS, (relevance_param("signed"),)

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        a, s = _inputs(ctx, settings["relevance"])
        total = a.sum(axis=1)
        inside = (a * s).sum(axis=1)
        return score_record(type(self), np.divide(inside, total, out=np.full_like(total, np.nan), where=total != 0))


@register
class RelevanceRankAccuracy(Metric):
    """``|P_top-K ∩ GT| / K`` with ``K = |GT|``: the share of the mask's size worth of most relevant pixels that
    lie inside the mask (Arras et al.)."""

    name, title, family = "relevance_rank_accuracy", "Relevance rank accuracy", "localization"
    paper, url = ARRAS, ARRAS_URL
    summary = "Share of the K most relevant pixels inside the mask, K the mask's size."
    higher_is_better, needs, params = True, NEEDS, (relevance_param("signed"),)

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        a, s = _inputs(ctx, settings["relevance"])
        in_order = np.take_along_axis(s, _ranked(a), axis=1)
        k = s.sum(axis=1)
        hits = np.array([row[:n].sum() for row, n in zip(in_order, k, strict=True)], dtype=np.float64)
        return score_record(type(self), hits / k)


@register
class TopKIntersection(Metric):
    """The share of the ``k`` most relevant pixels inside the mask (Theiner et al. 2021). With
    ``concept_influence`` it is divided by the mask's share of the image, ``|GT| / HW``: 1 is chance level."""

    name, title, family = "top_k_intersection", "Top-k intersection", "localization"
    paper = "Theiner, Müller-Budack, Ewerth. Interpretable Semantic Photo Geolocation. WACV 2022"
    url = "https://arxiv.org/abs/2104.14995"
    summary = "Share of the k most relevant pixels that fall inside the segmentation mask."
    higher_is_better, needs = True, NEEDS
    params = (
        IntParam("k", 1000, "most relevant pixels taken (at most the map's pixel count)", low=1, high=10**8),
        BoolParam("concept_influence", False, "divide by the mask's share of the image (1 = chance)"),
        relevance_param("signed"),
    )

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        a, s = _inputs(ctx, settings["relevance"])
        k = settings["k"]
        if k > a.shape[1]:
            raise ParameterError(f"{self.name}: parameter 'k' must be an integer in [1, {a.shape[1]}]; got {k}")
        share = np.take_along_axis(s, _ranked(a)[:, :k], axis=1).mean(axis=1)
        if settings["concept_influence"]:
            share = share * a.shape[1] / s.sum(axis=1)
        return score_record(type(self), share)


@register
class AttributionLocalisation(Metric):
    """``μ = R_in / R_tot``, the inside-total relevance ratio over the positive relevance (Kohlbrenner et al.
    2020); 0 when there is none. ``weighted`` gives their ``μ_w = μ · S_tot / S_in``, the ratio per
    unit of the object's share of the image (1 = a uniform map). Quantus multiplies by ``S_in / S_tot`` instead,
    with ``S_tot`` taken from ``x_batch[2:].size`` (a slice of the batch, not of the image axes): its weighted
    variant is not compared. Quantus' default relevance is ``abs``; pass ``relevance="absolute"`` for it."""

    name, title, family = "attribution_localisation", "Attribution localisation", "localization"
    paper = (
        "Kohlbrenner, Bauer, Nakajima, Binder, Samek, Lapuschkin. Towards Best Practice in Explaining Neural "
        "Network Decisions with LRP. IJCNN 2020"
    )
    url = "https://arxiv.org/abs/1910.09840"
    summary = "Share of the positive relevance inside the mask, optionally per unit of the mask's share of the image."
    higher_is_better, needs = True, NEEDS
    params = (
        BoolParam("weighted", False, "multiply by the image size over the mask size (μ_w; 1 = uniform map)"),
        relevance_param("positive"),
    )

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        a, s = _inputs(ctx, settings["relevance"])
        total = a.sum(axis=1)
        ratio = np.divide((a * s).sum(axis=1), total, out=np.zeros_like(total), where=total != 0)
        if settings["weighted"]:
            ratio = ratio * a.shape[1] / s.sum(axis=1)
        return score_record(type(self), ratio)


@register
class MaskAuc(Metric):
    """The area under the ROC curve of the map as a detector of the mask's pixels (Fawcett 2006; Quantus'
    ``AUC`` calls ``sklearn.metrics.roc_curve`` and ``auc``): the Mann-Whitney probability that a pixel inside
    scores above one outside, ties counting one half, from average ranks in one pass. 0.5 is chance. NaN when the
    mask covers the whole image (no pixel outside)."""

    name, title, family = "mask_auc", "Mask ROC AUC", "localization"
    paper = "Fawcett. An Introduction to ROC Analysis. Pattern Recognition Letters 2006"
    url = "https://doi.org/10.1016/j.patrec.2005.10.010"
    summary = "ROC AUC of the map's values as a detector of the mask's pixels (0.5 = chance)."
    higher_is_better, needs, params = True, NEEDS, (relevance_param("signed"),)

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        a, s = _inputs(ctx, settings["relevance"])
        ranks = rankdata(a, axis=1)  # average ranks of tied values
        pos = s.sum(axis=1).astype(np.float64)
        neg = s.shape[1] - pos
        u = (ranks * s).sum(axis=1) - pos * (pos + 1) / 2
        return score_record(type(self), np.divide(u, pos * neg, out=np.full_like(u, np.nan), where=neg > 0))

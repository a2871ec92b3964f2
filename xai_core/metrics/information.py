"""Performance Information Curves: the Softmax and Accuracy Information Curves (SIC, AIC) of Kapishnikov et al.

XRAI (Kapishnikov, Bolukbasi, Viégas, Terry, ICCV 2019, https://arxiv.org/abs/1906.02825), used again by Guided IG
(CVPR 2021). Reference: PAIR's ``saliency/metrics/pic.py`` (``compute_pic_metric``,
``aggregate_individual_pic_results``) and its ``pic_metrics.ipynb``; this module agrees with it on seeded inputs
(``tests/test_metrics_pic.py``). Per image:

1. A random mask keeps ``mask_fraction`` of the pixels (seeded; PAIR's ``generate_random_mask``); interpolating
   the rest from them (``scipy.interpolate.griddata`` linear, the image's four corners always kept, the mean colour
   outside the hull) gives the "fully blurred" image (PAIR's ``create_blurred_image``, the paper's bokeh image).
2. For each threshold ``t``, the pixels with ``map >= quantile(map, 1 - t)`` are also kept and the rest
   re-interpolated: the fraction ``t`` most salient pixels are revealed.
3. The information of an image is the byte size of its lossless WebP encoding (Pillow, ``quality=100``). The x
   axis is that size normalised between the fully blurred and the original image, the y axis the model's score
   normalised the same way, both clipped to [0, 1]; with ``keep_monotonous`` the score is the running maximum over
   thresholds. SIC scores the softmax probability of the target, AIC 1.0 when the target is the top class and 0.0
   otherwise. Points (0, 0) and (1, 1) are added and the curve is linearly interpolated at ``num_data_points``
   evenly spaced x (plus x = 1); its trapezoid area is the image's AUC.
4. An image is skipped (its curve NaN, the reason in ``skipped``) as PAIR's ``ComputePicMetricError`` does: its
   score is below ``min_pred_value``, or the blurred image has no less information or no lower score than it.

The aggregate curve is the median (or mean) of the kept images' curves, its AUC the paper's number. Every blurred
image of the batch is scored in chunked batched forwards (one pass serves SIC and AIC); the interpolation of all
colour channels shares one triangulation (PAIR triangulates each channel again: the values are identical).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from PIL import Image, features
from scipy import interpolate
from torch import Tensor

from xai_core.metrics.base import Metric, MetricContext, MetricNotApplicable, MetricResult
from xai_core.metrics.perturbation import maps_like, setup
from xai_core.metrics.records import CurveResult, as_maps
from xai_core.metrics.registry import documented, evaluate_many, register, register_suite, resolve
from xai_core.params import BoolParam, ChoiceParam, FloatParam, IntParam, ParameterError

SUITE = "pic"
# PAIR's pic_metrics.ipynb.
THRESHOLD_PRESETS = ("0.005,0.01,0.02,0.03,0.04,0.05,0.07,0.1,0.13,0.21,0.34,0.5,0.75",)


class FractionsParam(ChoiceParam):
    """A preset or any list of fractions in (0, 1]: ``"0.1,0.5"`` or ``[0.1, 0.5]``; resolved to a canonical,
    ascending, comma-separated string so that settings stay plain data."""

    def coerce(self, value: Any, method: str) -> str:
        def fail(detail: str) -> ParameterError:
            return ParameterError(
                f"{method}: parameter '{self.name}' must be fractions in (0, 1] separated by commas, e.g. "
                f"'0.1,0.5'; {detail}; got {value!r}"
            )

        if isinstance(value, str):
            try:
                numbers = [float(part) for part in value.split(",") if part.strip()]
            except ValueError:
                raise fail("a part is not a number") from None
        elif isinstance(value, Sequence) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            numbers = [float(v) for v in value]
        else:
            raise fail("expected a string or a list of numbers")
        if not numbers or not all(math.isfinite(t) and 0.0 < t <= 1.0 for t in numbers):
            raise fail("expected at least one, each in (0, 1]")
        return ",".join(format(t, ".10g") for t in sorted(set(numbers)))


PARAMS = (
    FractionsParam(
        "thresholds",
        THRESHOLD_PRESETS[0],
        "fractions of the most salient pixels revealed, one blurred image each",
        choices=THRESHOLD_PRESETS,
    ),
    FloatParam("mask_fraction", 0.01, "share of random pixels seeding the fully blurred image", low=0.0, high=1.0),
    IntParam("seed", 0, "seed of the random masks (image i uses the i-th draw)", low=0, high=2**31 - 1),
    FloatParam("min_pred_value", 0.8, "skip images whose score is lower than this (PAIR's default)", 0.0, 1.0),
    BoolParam("keep_monotonous", True, "the score is the running maximum over thresholds (the paper's choice)"),
    IntParam("num_data_points", 1000, "evenly spaced x at which the curve is interpolated (plus x = 1)", 2, 100000),
    ChoiceParam("aggregate", "median", "how the images' curves are combined", choices=("median", "mean")),
)


@dataclass(frozen=True, kw_only=True)
class PicResult(CurveResult):
    """SIC or AIC of a batch: per-image curves (``scores``, NaN rows for skipped images), ``auc`` per image (NaN when
    skipped), and the aggregate curve. ``value`` is ``aggregate_auc``, the paper's number.

    Attributes:
        thresholds: ``[0, t_1, ..., t_T, 1]``, the revealed fraction of each scored image (0: fully blurred).
        predictions: the raw score (probability, or 1.0/0.0 for AIC) of each of those images ``[B, T + 2]``.
        information: their lossless WebP sizes in bytes ``[B, T + 2]``.
        skipped: per image, why it was skipped (PAIR's ``ComputePicMetricError``), or ``""`` when kept.
        aggregate: the median (or mean) curve over the kept images; ``aggregate_auc`` its trapezoid area.
    """

    thresholds: np.ndarray
    predictions: np.ndarray
    information: np.ndarray
    skipped: tuple[str, ...]
    aggregate: np.ndarray
    aggregate_auc: float
    aggregation: str

    @property
    def value(self) -> float:
        return self.aggregate_auc


def compressed_size(image: np.ndarray) -> int:
    """Bytes of ``image`` (uint8 ``[H, W, C]`` or ``[H, W]``) as lossless WebP: PAIR's ``estimate_image_entropy``."""
    if not features.check("webp"):
        raise RuntimeError("PIC needs Pillow built with WebP support (PIL.features.check('webp') is False)")
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image).save(
        buffer, format="webp", lossless=True, quality=100
    )
    return buffer.tell()


def blurred_image(image: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``image`` (uint8 ``[H, W, C]``) with the pixels outside ``keep`` linearly interpolated from those inside.

    PAIR's ``create_blurred_image``: the four corners are always kept (so every pixel lies in the hull), the mean
    colour fills what the triangulation misses, and the result is rounded back to uint8.
    """
    keep = keep.copy()
    h, w = keep.shape
    keep[[0, 0, h - 1, h - 1], [0, w - 1, 0, w - 1]] = True
    if keep.all():
        return image.copy()
    known, unknown = np.argwhere(keep), np.argwhere(~keep)
    values = interpolate.LinearNDInterpolator(known, image[keep].astype(np.float64), fill_value=np.nan)(unknown)
    values = np.where(np.isnan(values), image.mean(axis=(0, 1)), values)
    out = image * keep[..., None].astype(np.float32)
    out[tuple(unknown.T)] = values
    return np.round(out).astype(np.uint8)


def _as_uint8(model: Any, x: Tensor) -> np.ndarray:
    """The images ``[B, H, W, C]`` as uint8 pixels: a wrapper's ``to_display``, else inputs that are [0, 1] pixels."""
    to_display = getattr(model, "to_display", None)
    if callable(to_display):
        return np.asarray(to_display(x))
    if x.shape[1] not in (1, 3):
        raise ValueError(f"PIC compresses images as grey or RGB pixels; got {x.shape[1]} channels")
    if float(x.min()) < -1e-6 or float(x.max()) > 1 + 1e-6:
        raise ValueError(
            "PIC scores 8-bit images: the inputs of a plain nn.Module must be pixels in [0, 1] (or pass a "
            f"load_model wrapper); got values in [{float(x.min()):.3g}, {float(x.max()):.3g}]"
        )
    return x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _to_model(model: Any, images: np.ndarray, like: Tensor) -> Tensor:
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).to(like.device, like.dtype) / 255.0
    to_model = getattr(model, "to_model_space", None)
    return to_model(pixels).to(like) if callable(to_model) else pixels


def random_masks(batch: int, shape: tuple[int, int], fraction: float, seed: int) -> np.ndarray:
    """``[B, H, W]`` bool: ``int(H * W * fraction)`` pixels per image drawn without replacement (a seeded
    ``generate_random_mask``)."""
    rng = np.random.default_rng(seed)
    size = shape[0] * shape[1]
    masks = np.zeros((batch, size), dtype=bool)
    for row in masks:
        row[rng.choice(size, size=int(size * fraction), replace=False)] = True
    return masks.reshape(batch, *shape)


def _curve(info: np.ndarray, pred: np.ndarray, s: Mapping[str, Any], x: np.ndarray) -> tuple[np.ndarray, str]:
    """One image's curve at ``x`` from the sizes and scores ``[blurred, t_1..t_T, original]``, or why it is skipped."""
    if pred[-1] < s["min_pred_value"]:
        return np.array([]), f"score on the image {pred[-1]:.4g} is below min_pred_value {s['min_pred_value']}"
    if info[0] >= info[-1]:
        return np.array([]), f"the blurred image holds no less information ({info[0]} >= {info[-1]} bytes)"
    if pred[0] >= pred[-1]:
        return np.array([]), f"the blurred image scores no lower ({pred[0]:.4g} >= {pred[-1]:.4g})"
    entropy = np.clip((info[1:-1] - info[0]) / (info[-1] - info[0]), 0.0, 1.0)
    score = np.clip((pred[1:-1] - pred[0]) / (pred[-1] - pred[0]), 0.0, 1.0)
    if s["keep_monotonous"]:
        score = np.maximum.accumulate(score)
    # PAIR's interp1d over the points as given (sorted by x inside interp1d), with (0, 0) and (1, 1) added.
    fn = interpolate.interp1d(x=[*entropy, 0.0, 1.0], y=[*score, 0.0, 1.0])
    return np.append(fn(x[:-1]), 1.0), ""


def _aggregate(scores: np.ndarray, kept: np.ndarray, how: str) -> np.ndarray:
    rows = scores[kept]
    return np.median(rows, axis=0) if how == "median" else np.mean(rows, axis=0)


def compute_pic(
    ctx: MetricContext, names: Sequence[str], s: Mapping[str, Any], masks: np.ndarray | None = None
) -> dict[str, MetricResult | MetricNotApplicable]:
    """SIC and/or AIC (``names``) of ``ctx``'s images and maps, sharing the blurred images and their forwards."""
    assert ctx.inputs is not None  # checked by the registry (needs)
    run = setup(ctx.model, ctx.inputs, ctx.maps, ctx.target, "probability", ctx.chunk_size)
    b, _, h, w = run.x.shape
    maps = as_maps(ctx.maps)
    if maps.shape[1:] != (h, w):
        maps = maps_like(ctx.maps, run.x).double().cpu().numpy()
    thresholds = [float(t) for t in s["thresholds"].split(",")]
    if masks is None:
        masks = random_masks(b, (h, w), s["mask_fraction"], s["seed"])
    elif masks.shape[-2:] != (h, w):
        raise ValueError(f"random_mask must be [{h}, {w}] or [B, {h}, {w}]; got {tuple(masks.shape)}")
    masks = np.broadcast_to(masks, (b, h, w))
    originals = _as_uint8(run.model, run.x)
    images, info = [], np.zeros((b, len(thresholds) + 2), dtype=np.int64)
    for i in range(b):
        shown = [blurred_image(originals[i], masks[i])]
        for t in thresholds:
            shown.append(blurred_image(originals[i], (maps[i] >= np.quantile(maps[i], 1 - t)) | masks[i]))
        shown.append(originals[i])
        info[i] = [compressed_size(img) for img in shown]
        images.extend(shown)
        ctx.report(0.8 * (i + 1) / b)
    logits = run.logits(_to_model(run.model, np.stack(images), run.x)).double().cpu()
    logits = logits.reshape(b, len(thresholds) + 2, -1)
    classes = run.target.classes.view(b, 1)
    preds = {
        "sic": logits.softmax(dim=-1).gather(2, classes.unsqueeze(2).expand(b, logits.shape[1], 1))[..., 0],
        "aic": (logits.argmax(dim=-1) == classes).double(),
    }
    x = np.append(np.linspace(0.0, 1.0, s["num_data_points"], endpoint=False), 1.0)
    out: dict[str, MetricResult | MetricNotApplicable] = {}
    for name in names:
        pred = preds[name].numpy()
        found = [_curve(info[i].astype(np.float64), pred[i], s, x) for i in range(b)]
        skipped = tuple(why for _, why in found)
        kept = np.array([not why for why in skipped])
        if not kept.any():
            out[name] = MetricNotApplicable(f"{name}: every image was skipped: " + "; ".join(skipped))
            continue
        scores = np.stack([curve if not why else np.full(x.shape, np.nan) for curve, why in found])
        aggregate = _aggregate(scores, kept, s["aggregate"])
        out[name] = PicResult(
            name=name, fractions=x, scores=scores, auc=np.trapezoid(scores, x, axis=1), higher_is_better=True,
            settings=dict(s), thresholds=np.array([0.0, *thresholds, 1.0]), predictions=pred, information=info,
            skipped=skipped, aggregate=aggregate, aggregate_auc=float(np.trapezoid(aggregate, x)),
            aggregation=s["aggregate"],
        )  # fmt: skip
    ctx.report(1.0)
    return out


register_suite(SUITE)(compute_pic)

NEEDS = ("model", "inputs", "maps")
PAPER = "Kapishnikov, Bolukbasi, Viégas, Terry. XRAI: Better Attributions Through Regions. ICCV 2019"
URL = "https://arxiv.org/abs/1906.02825"


@register
class SoftmaxInformationCurve(Metric):
    """SIC: the target's softmax probability against the information revealed, normalised; see the module."""

    name, title, paper, url = "sic", "Softmax Information Curve (AUC)", PAPER, URL
    summary = "Softmax score against the (WebP-size) information of images revealing the most salient pixels; AUC."
    higher_is_better = True
    needs, params, suite = NEEDS, PARAMS, SUITE


@register
class AccuracyInformationCurve(Metric):
    """AIC: 1.0 while the target is the top class, against the information revealed; see the module."""

    name, title, paper, url = "aic", "Accuracy Information Curve (AUC)", PAPER, URL
    summary = "Top-1 correctness against the (WebP-size) information of images revealing the most salient pixels; AUC."
    higher_is_better = True
    needs, params, suite = NEEDS, PARAMS, SUITE


@documented("sic")
def pic(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    target: int | Any | None = None,
    chunk_size: int | None = None,
    random_mask: np.ndarray | None = None,
    **settings: Any,
) -> dict[str, PicResult]:
    """SIC and AIC of ``saliency`` (maps ``[B, H, W]`` or an ``Attribution``) on ``inputs``, sharing every blurred
    image and forward: ``{"sic": PicResult, "aic": PicResult}`` (one is left out if every image was skipped).

    ``target``: the class per image (``None``: the Attribution's, else the predicted class, as PAIR's notebook).
    ``random_mask``: a bool ``[H, W]`` or ``[B, H, W]`` mask to use instead of the seeded one (to reproduce a
    PAIR run exactly). Inputs of a plain ``nn.Module`` must be [0, 1] pixels; a wrapper's are shown with
    ``to_display`` and scored back through ``to_model_space``.
    """
    if random_mask is None:
        found = evaluate_many(
            ("sic", "aic"), model=model, inputs=inputs, maps=saliency, target=target, chunk_size=chunk_size,
            **settings,
        )  # fmt: skip
        return {name: cast(PicResult, record) for name, record in found.items()}
    resolved = resolve("sic", settings)
    ctx = MetricContext(model=model, inputs=inputs, maps=saliency, target=target, chunk_size=chunk_size)
    computed = compute_pic(ctx, ("sic", "aic"), resolved, np.asarray(random_mask, dtype=bool))
    return {name: cast(PicResult, record) for name, record in computed.items() if isinstance(record, PicResult)}


def combine_pic(results: Sequence[PicResult], aggregate: str | None = None) -> PicResult:
    """One ``PicResult`` over the images of several (e.g. one per batch of a dataset), with the aggregate curve
    recomputed over all kept images: PAIR's ``aggregate_individual_pic_results``. The x axes must agree."""
    if not results:
        raise ValueError("combine_pic needs at least one result")
    first = results[0]
    if any(r.name != first.name or not np.array_equal(r.fractions, first.fractions) for r in results):
        raise ValueError("PIC results to combine must be of one kind (sic or aic) on the same x axis")
    how = aggregate or first.aggregation
    if how not in ("median", "mean"):
        raise ValueError(f"aggregate must be 'median' or 'mean'; got {how!r}")
    scores = np.concatenate([r.scores for r in results])
    skipped = tuple(why for r in results for why in r.skipped)
    kept = np.array([not why for why in skipped])
    aggregate_curve = _aggregate(scores, kept, how)
    return PicResult(
        name=first.name, fractions=first.fractions, scores=scores, auc=np.concatenate([r.auc for r in results]),
        higher_is_better=True, settings={**first.settings, "aggregate": how}, thresholds=first.thresholds,
        predictions=np.concatenate([r.predictions for r in results]),
        information=np.concatenate([r.information for r in results]), skipped=skipped, aggregate=aggregate_curve,
        aggregate_auc=float(np.trapezoid(aggregate_curve, first.fractions)), aggregation=how,
    )  # fmt: skip

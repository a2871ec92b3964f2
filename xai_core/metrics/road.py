"""ROAD, RemOve And Debias (Rong, Leemann, Borisov, Kasneci, Kasneci 2022): remove a percentage of the pixels, most
(MoRF) or least (LeRF) relevant first, fill them by noisy linear imputation (``imputation.py``), which leaks far less
of the removed shape than a constant fill, and score the model on the result, without retraining.

``road_morf`` and ``road_lerf`` are the mean score over ``percent_from, percent_from + percent_step, ...,
percent_to`` percent of the pixels removed (their curve is in ``curves``); ``road_combined`` is ``(LeRF - MoRF) /
2``, pytorch-grad-cam's ``ROADCombined``. The score is ``accuracy`` (the prediction still equals the target, the
paper's and Quantus' measure), or the target's probability or logit. Pixels at percentage ``p`` are the first
``floor(H*W*p/100)`` in the map's order (stable sort, ties by index); imputation happens in pixel space when the
model is a normalising wrapper (``to_pixels``/``to_model_space``, as the authors impute before normalising), so
``noise`` is in pixel units.

References: the authors' tleemann/road_evaluation, Quantus 0.6.0's ``ROAD`` (MoRF, accuracy, percentages
1, 3, ..., 99: the defaults here) and pytorch-grad-cam's ``ROADMostRelevantFirst``/``ROADLeastRelevantFirst``/
``ROADCombined`` (a "percentile" there is the percentage *kept*). Without noise the curves agree with both
(tests/test_metrics_road.py). On purpose: LeRF at ``p`` removes the ``p`` % least relevant pixels, as its name says;
the authors' code keeps the ``p`` most relevant instead (their LeRF at ``p`` is ours at ``100 - p``). The authors
break ties in the map with random jitter, Quantus with an unstable sort, here by pixel index; the noise is seeded
per image and order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xai_core.metrics.base import Metric, MetricContext, MetricNotApplicable, MetricResult
from xai_core.metrics.feature_sets import prepare, score_images
from xai_core.metrics.imputation import noisy_linear_imputation
from xai_core.metrics.perturbation import Run, pixel_rank
from xai_core.metrics.records import CurveResult, ScoreResult, trapezoid_auc
from xai_core.metrics.registry import register, register_suite
from xai_core.params import ChoiceParam, FloatParam, IntParam, ParameterError

PAPER = "Rong, Leemann, Borisov, Kasneci, Kasneci. A Consistent and Efficient Evaluation Strategy for Attribution " \
    "Methods. ICML 2022"  # fmt: skip
URL = "https://arxiv.org/abs/2202.00449"
SUITE = "road"
PARAMS = (
    IntParam("percent_from", 1, "smallest percentage of pixels removed", low=1, high=99),
    IntParam("percent_to", 99, "largest percentage of pixels removed", low=1, high=99),
    IntParam("percent_step", 2, "step between percentages (1, 3, ..., 99 by default, as Quantus)", low=1, high=98),
    FloatParam("noise", 0.01, "standard deviation of the noise added to imputed pixels (pixel units; ROAD: 0.01)",
               low=0.0, high=1.0),
    ChoiceParam("score", "accuracy", "what is scored: the prediction still equals the target (accuracy), or the "
                "target's probability or logit", ("accuracy", "probability", "logit")),
    IntParam("seed", 0, "seed of the imputation noise", low=0, high=2**31 - 1),
)  # fmt: skip
ORDERS = {"road_morf": "morf", "road_lerf": "lerf"}


class _Road(Metric):
    paper, url, needs, params, suite = PAPER, URL, ("model", "inputs", "maps"), PARAMS, SUITE


@register
class RoadMoRF(_Road):
    """Mean score with the most relevant pixels removed and imputed; lower is better."""

    name, title = "road_morf", "ROAD (MoRF)"
    summary = "Accuracy as the most relevant pixels are removed and filled by noisy linear imputation (mean)."
    higher_is_better = False


@register
class RoadLeRF(_Road):
    """Mean score with the least relevant pixels removed and imputed; higher is better."""

    name, title = "road_lerf", "ROAD (LeRF)"
    summary = "Accuracy as the least relevant pixels are removed and filled by noisy linear imputation (mean)."
    higher_is_better = True


@register
class RoadCombined(_Road):
    """``(LeRF - MoRF) / 2`` of the mean scores; higher is better."""

    name, title = "road_combined", "ROAD (combined)"
    summary = "Half the gap between ROAD's LeRF and MoRF mean scores (pytorch-grad-cam's ROADCombined)."
    higher_is_better = True


def percentages(s: Mapping[str, Any]) -> np.ndarray:
    if s["percent_to"] < s["percent_from"]:
        raise ParameterError(
            f"road: parameter 'percent_to' must be at least percent_from ({s['percent_from']}); got {s['percent_to']}"
        )
    return np.arange(s["percent_from"], s["percent_to"] + 1, s["percent_step"])


def _pixel_space(model: Any, x: Tensor) -> tuple[Tensor, Any]:
    """Images in pixel space and the map back, for a wrapper that has both directions; else the inputs as they are."""
    to_pixels, to_model = getattr(model, "to_pixels", None), getattr(model, "to_model_space", None)
    if callable(to_pixels) and callable(to_model):
        return to_pixels(x), to_model
    return x, lambda t: t


def road_curves(run: Run, orders: Sequence[str], s: Mapping[str, Any], progress: Any) -> dict[str, CurveResult]:
    """The ROAD curve of each order in ``orders``: ``[B, P]`` scores, one imputation and one scored image each."""
    pct = percentages(s)
    b, _, h, w = run.x.shape
    flat = run.maps.reshape(b, -1).double()
    labels = torch.arange(h * w, device=flat.device).expand(b, -1)
    rank = pixel_rank(labels, flat, "morf", run.maps.shape).cpu().numpy()  # 0 = most relevant
    counts = (h * w * pct) // 100
    pixels, to_model = _pixel_space(run.model, run.x)
    pixels_np = pixels.detach().double().cpu().numpy()
    rngs = {(i, o): np.random.default_rng([s["seed"], i, j]) for i in range(b) for j, o in enumerate(("morf", "lerf"))}
    columns = [(o, k) for o in orders for k in range(pct.size)]

    def build(rows: Tensor, cols: Tensor) -> Tensor:
        out = []
        for i, c in zip(rows.tolist(), cols.tolist(), strict=True):
            order, k = columns[c]
            removed = rank[i] < counts[k] if order == "morf" else rank[i] >= h * w - counts[k]
            out.append(torch.from_numpy(noisy_linear_imputation(pixels_np[i], removed, s["noise"], rngs[(i, order)])))
        return to_model(torch.stack(out).to(run.x)).contiguous()

    classes = run.target.classes

    def accuracy(images: Tensor, rows: Tensor) -> Tensor:
        return (run.logits(images).argmax(dim=1).cpu() == classes[rows]).double()

    scores = score_images(run, len(columns), build, progress, accuracy if s["score"] == "accuracy" else None)
    fractions = pct / 100.0
    out = {}
    for j, order in enumerate(orders):
        part = scores[:, j * pct.size : (j + 1) * pct.size]
        out[order] = CurveResult(
            name=f"road_{order}_curve", fractions=fractions, scores=part, auc=trapezoid_auc(fractions, part),
            higher_is_better=order == "lerf", counts=np.broadcast_to(counts, part.shape).copy(),
            settings={**s, "order": order},
        )  # fmt: skip
    return out


def _mean_score(name: str, curve: CurveResult, higher: bool, curves: tuple[CurveResult, ...]) -> ScoreResult:
    per_image = curve.scores.mean(axis=1)
    return ScoreResult(name=name, value=float(per_image.mean()), per_image=per_image, higher_is_better=higher,
                       curves=curves)  # fmt: skip


@register_suite(SUITE)
def road_suite(
    ctx: MetricContext, names: Sequence[str], settings: Mapping[str, Any]
) -> dict[str, MetricResult | MetricNotApplicable]:
    """Any of ``road_morf``, ``road_lerf``, ``road_combined``: each order's curve computed once."""
    percentages(settings)  # a bad range is refused before any work
    orders = [o for o in ("morf", "lerf") if any(n in (f"road_{o}", "road_combined") for n in names)]
    run = prepare(ctx, "probability" if settings["score"] == "probability" else "logit")
    curves = road_curves(run, orders, settings, lambda f: ctx.report(f))
    out: dict[str, MetricResult | MetricNotApplicable] = {}
    for name in names:
        if name in ORDERS:
            curve = curves[ORDERS[name]]
            out[name] = _mean_score(name, curve, name == "road_lerf", (curve,))
        else:
            morf, lerf = curves["morf"], curves["lerf"]
            per_image = (lerf.scores.mean(axis=1) - morf.scores.mean(axis=1)) / 2.0
            out[name] = ScoreResult(name=name, value=float(per_image.mean()), per_image=per_image,
                                    higher_is_better=True, curves=(morf, lerf))  # fmt: skip
    return out

"""Faithfulness by perturbation: insertion/deletion curves, AOPC, ABPC, Average Drop, Increase in Confidence, ADD.

Metrics take maps, never methods. The curves are computed by the vectorised engine in ``perturbation.py``.

Curves follow RISE's ``CausalMetric`` (Petsiuk et al. 2018, https://arxiv.org/abs/1806.07421): point ``k`` of
``steps + 1`` has the ``round(k * N / steps)`` most important of ``N`` features perturbed, and the AUC is the
trapezoid over the uniform fractions ``k / steps``, RISE's ``(sum - first/2 - last/2) / steps``. RISE with ``step``
pixels per iteration perturbs ``min(i * step, HW)`` pixels at point ``i`` of ``ceil(HW / step) + 1``; when ``step``
divides ``HW`` that is exactly ``steps = HW // step`` here. Otherwise RISE's last step is a partial one and ours
spreads the remainder evenly. Ties in the map are ordered by index (row-major) with a stable sort; RISE's
``flip(argsort(...))`` orders ties in reverse, so the two agree exactly on maps without ties.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from xai_core.metrics.perturbation import Curves, Progress, Run, masked_scores, setup
from xai_core.metrics.records import CurveResult, ScoreResult


def insertion(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    target: int | Any | None = None,
    steps: int = 100,
    substrate: str | Tensor = "blur",
    granularity: str = "pixel",
    patch_size: int = 8,
    sigma: float = 5.0,
    output: str = "probability",
    chunk_size: int | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    n_segments: int = 100,
) -> CurveResult:
    """Insertion curve (RISE, Petsiuk et al. 2018, https://arxiv.org/abs/1806.07421): higher AUC is better.

    Starts from the substrate and inserts the image's features, most important first; point ``k`` has
    ``round(k * N / steps)`` of the ``N`` features inserted (see the module docstring for RISE's ``step``).

    Args:
        model: an ``nn.Module`` mapping ``[B, C, H, W]`` to ``[B, K]`` or a wrapper with ``.module``.
        inputs: float tensor ``[B, C, H, W]`` in the model's input space.
        saliency: maps ``[B, H, W]`` (tensor or array; resized bilinearly to ``H x W`` if smaller) or an
            ``Attribution``, reduced by its method's convention (``to_maps()``) and explaining its own target.
        target: class per image; ``None``: the Attribution's target, else the predicted class.
        steps: number of steps; the curve has ``steps + 1`` points.
        substrate: ``"blur"`` (RISE's ``gkern`` Gaussian, ``sigma`` pixels, zero padding), ``"black"`` (black pixels:
            ``model.to_model_space(0)`` for a wrapper that has it, else 0), ``"mean"`` (per-channel image mean),
            ``"noise"`` (Gaussian with the image's per-channel mean and std, seeded) or a tensor like ``inputs``.
        granularity: ``"pixel"``; ``"patch"`` (squares of ``patch_size``, ranked by the sum of the map); or
            ``"superpixel"`` (SLIC on the displayed image, ``n_segments``, ranked by the mean of the map).
        output: score ``"probability"`` (softmax of the target) or ``"logit"``.
        chunk_size: perturbed images per forward; automatic from a memory budget when None.
        progress: ``progress(fraction, partial_scores)`` after each chunk; unscored points are NaN.
        seed: seed of the ``"noise"`` substrate.
        n_segments: approximate number of SLIC superpixels (``granularity="superpixel"`` only).

    Returns:
        ``CurveResult`` with ``fractions`` ``k / steps``, ``scores`` ``[B, steps + 1]``, ``auc`` ``[B]`` and
        ``counts`` (features inserted at each point).
    """
    opts = {k: v for k, v in locals().items() if k not in ("model", "inputs", "saliency", "progress")}
    return Curves(model, inputs, saliency, **opts).curve("insertion", "morf", progress)


def deletion(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    target: int | Any | None = None,
    steps: int = 100,
    substrate: str | Tensor = "blur",
    granularity: str = "pixel",
    patch_size: int = 8,
    sigma: float = 5.0,
    output: str = "probability",
    chunk_size: int | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    n_segments: int = 100,
    order: str = "morf",
) -> CurveResult:
    """Deletion curve (RISE): starts from the image and replaces features by the substrate; lower AUC is better.

    Arguments as ``insertion``; ``order="lerf"`` removes the least relevant features first (the curve named
    ``"deletion_lerf"``, for which a higher AUC is better: see ``abpc``).
    """
    opts = {k: v for k, v in locals().items() if k not in ("model", "inputs", "saliency", "progress", "order")}
    return Curves(model, inputs, saliency, **opts).curve("deletion", order, progress)


def aopc_from_curve(curve: CurveResult) -> ScoreResult:
    """AOPC of a deletion curve: ``1/(L+1) Σ_{k=0}^{L} (f(x^(0)) - f(x^(k)))`` per image, ``L = steps``.

    Samek et al. 2017, "Evaluating the visualization of what a deep neural network has learned",
    https://arxiv.org/abs/1509.06321, eq. (12). MoRF order: higher is better; LeRF order: lower is better.
    """
    order = curve.settings.get("order", "morf")
    per_image = (curve.scores[:, :1] - curve.scores).mean(axis=1)
    return ScoreResult(
        name=f"aopc_{order}",
        value=float(per_image.mean()),
        per_image=per_image,
        higher_is_better=order == "morf",
        curves=(curve,),
    )


def abpc_from_curves(morf: CurveResult, lerf: CurveResult) -> ScoreResult:
    """ABPC: area between the LeRF and MoRF deletion curves, ``AUC(LeRF) - AUC(MoRF)`` per image; higher is better."""
    per_image = lerf.auc - morf.auc
    return ScoreResult(
        name="abpc", value=float(per_image.mean()), per_image=per_image, higher_is_better=True, curves=(morf, lerf)
    )


def _positive_base(run: Run, metric: str) -> np.ndarray:
    if (run.base <= 0).any():
        raise ValueError(f"{metric} divides by the unperturbed score, which must be positive; use output='probability'")
    return run.base


def _drop_records(run: Run, kept: np.ndarray, removed: np.ndarray, which: tuple[str, ...]) -> dict[str, ScoreResult]:
    out: dict[str, ScoreResult] = {}
    if "average_drop" in which:
        per = np.maximum(0.0, _positive_base(run, "average_drop") - kept) / run.base * 100.0
        out["average_drop"] = ScoreResult(
            name="average_drop", value=float(per.mean()), per_image=per, higher_is_better=False, unit="%"
        )
    if "increase_in_confidence" in which:
        per = (kept > run.base).astype(np.float64) * 100.0
        out["increase_in_confidence"] = ScoreResult(
            name="increase_in_confidence", value=float(per.mean()), per_image=per, higher_is_better=True, unit="%"
        )
    if "average_drop_in_deletion" in which:
        per = (_positive_base(run, "average_drop_in_deletion") - removed) / run.base * 100.0
        out["average_drop_in_deletion"] = ScoreResult(
            name="average_drop_in_deletion", value=float(per.mean()), per_image=per, higher_is_better=True, unit="%"
        )
    return out


def aopc(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    order: str = "morf",
    target: int | Any | None = None,
    steps: int = 100,
    substrate: str | Tensor = "blur",
    granularity: str = "pixel",
    patch_size: int = 8,
    sigma: float = 5.0,
    output: str = "probability",
    chunk_size: int | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    n_segments: int = 100,
) -> ScoreResult:
    """AOPC of the deletion curve in ``order`` (``"morf"``: higher is better; ``"lerf"``: lower is better).

    See ``aopc_from_curve`` for the formula and ``insertion`` for the arguments.
    """
    opts = {k: v for k, v in locals().items() if k not in ("model", "inputs", "saliency", "progress", "order")}
    return aopc_from_curve(Curves(model, inputs, saliency, **opts).curve("deletion", order, progress))


def abpc(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    target: int | Any | None = None,
    steps: int = 100,
    substrate: str | Tensor = "blur",
    granularity: str = "pixel",
    patch_size: int = 8,
    sigma: float = 5.0,
    output: str = "probability",
    chunk_size: int | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    n_segments: int = 100,
) -> ScoreResult:
    """ABPC (``AUC(LeRF) - AUC(MoRF)`` of the deletion curves); higher is better. Arguments as ``insertion``."""
    opts = {k: v for k, v in locals().items() if k not in ("model", "inputs", "saliency", "progress")}
    curves = Curves(model, inputs, saliency, **opts)
    morf = curves.curve("deletion", "morf", _scaled(progress, 0.0, 0.5))
    return abpc_from_curves(morf, curves.curve("deletion", "lerf", _scaled(progress, 0.5, 1.0)))


def average_drop(
    model: Any, inputs: Tensor, saliency: Any, *, target: int | Any | None = None, output: str = "probability"
) -> ScoreResult:
    """Average Drop (Chattopadhyay et al. 2018, Grad-CAM++, https://arxiv.org/abs/1710.11063); lower is better.

    ``AD = 100/N Σ_i max(0, Y_c^i - O_c^i) / Y_c^i`` where ``Y_c`` is the score on the image and ``O_c`` the score
    on the image masked by its min-max normalised map, ``x_r = a ⊙ x`` (black where ``a = 0``; see
    ``masked_scores``). ``per_image`` holds each image's percentage. Needs positive scores (probabilities).
    """
    run = setup(model, inputs, saliency, target, output, None)
    return _drop_records(run, *masked_scores(run), ("average_drop",))["average_drop"]


def increase_in_confidence(
    model: Any, inputs: Tensor, saliency: Any, *, target: int | Any | None = None, output: str = "probability"
) -> ScoreResult:
    """Increase in Confidence (Grad-CAM++): ``IC = 100/N Σ_i 1[O_c^i > Y_c^i]``, in percent; higher is better.

    ``per_image`` is 100 where the masked image scores higher and 0 elsewhere (see ``average_drop``).
    """
    run = setup(model, inputs, saliency, target, output, None)
    return _drop_records(run, *masked_scores(run), ("increase_in_confidence",))["increase_in_confidence"]


def average_drop_in_deletion(
    model: Any, inputs: Tensor, saliency: Any, *, target: int | Any | None = None, output: str = "probability"
) -> ScoreResult:
    """Average Drop in Deletion (Jung & Oh 2021, "Towards better explanations of class activation mapping", ICCV).

    Higher is better (the survey's "lower is better" for ADD is a slip: a faithful map's removal drops the score).
    ``ADD = 100/N Σ_i (Y_c^i - D_c^i) / Y_c^i`` with ``D_c`` the score on the image with the explanation removed,
    ``x_d = (1 - a) ⊙ x`` (``a`` the min-max normalised map; black where ``a = 1``). Not clipped at 0: removing
    the explained region may raise the score, which counts against the map. Needs positive scores.
    """
    run = setup(model, inputs, saliency, target, output, None)
    return _drop_records(run, *masked_scores(run), ("average_drop_in_deletion",))["average_drop_in_deletion"]


def _scaled(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    """A progress callback reporting ``[0, 1]`` of one part as ``[lo, hi]`` of the whole."""
    if progress is None:
        return None
    report = progress
    return lambda fraction, partial: report(lo + (hi - lo) * fraction, partial)


def faithfulness_report(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    target: int | Any | None = None,
    steps: int = 100,
    substrate: str | Tensor = "blur",
    granularity: str = "pixel",
    patch_size: int = 8,
    sigma: float = 5.0,
    output: str = "probability",
    chunk_size: int | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    n_segments: int = 100,
) -> dict[str, CurveResult | ScoreResult]:
    """Every faithfulness metric of one set of maps, sharing the work.

    One setup (unperturbed forward, target, substrate, ranked features) and three curves: insertion, deletion
    (MoRF, shared by ``"deletion"``, ``"aopc_morf"`` and ``"abpc"``) and deletion LeRF (shared by ``"aopc_lerf"``
    and ``"abpc"``), plus one batched forward for the masked images of Average Drop, IC and ADD (``"average_drop"``,
    ``"increase_in_confidence"``, ``"average_drop_in_deletion"``; these need ``output="probability"`` or positive
    logits and are left out otherwise). ``progress(fraction, partial_scores)`` reports the whole report's fraction
    with the partial scores of the curve being computed. Arguments as ``insertion``.
    """
    opts = {k: v for k, v in locals().items() if k not in ("model", "inputs", "saliency", "progress")}
    curves = Curves(model, inputs, saliency, **opts)
    ins = curves.curve("insertion", "morf", _scaled(progress, 0.0, 1 / 3))
    morf = curves.curve("deletion", "morf", _scaled(progress, 1 / 3, 2 / 3))
    lerf = curves.curve("deletion", "lerf", _scaled(progress, 2 / 3, 1.0))
    report: dict[str, CurveResult | ScoreResult] = {
        "insertion": ins,
        "deletion": morf,
        "aopc_morf": aopc_from_curve(morf),
        "aopc_lerf": aopc_from_curve(lerf),
        "abpc": abpc_from_curves(morf, lerf),
    }
    run = curves.run
    drops = ("average_drop", "increase_in_confidence", "average_drop_in_deletion")
    if (run.base > 0).all():
        report.update(_drop_records(run, *masked_scores(run), drops))
    else:
        report.update(_drop_records(run, *masked_scores(run), ("increase_in_confidence",)))
    return report

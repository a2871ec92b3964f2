"""Faithfulness by perturbation: insertion/deletion curves, AOPC, ABPC, and (from ``drops``) Average Drop, Increase in
Confidence and ADD. Metrics take maps, never methods; the curves are scored by the engine in ``perturbation.py``,
whose ``CURVE_PARAMS`` declare every curve setting once.

Curves follow RISE's ``CausalMetric`` (Petsiuk et al. 2018, https://arxiv.org/abs/1806.07421): point ``k`` of
``steps + 1`` has the ``round(k * N / steps)`` most important of ``N`` features perturbed, and the AUC is the
trapezoid over the uniform fractions ``k / steps``, RISE's ``(sum - first/2 - last/2) / steps``. RISE with ``step``
pixels per iteration perturbs ``min(i * step, HW)`` pixels at point ``i`` of ``ceil(HW / step) + 1``; when ``step``
divides ``HW`` that is exactly ``steps = HW // step`` here. Otherwise RISE's last step is a partial one and ours
spreads the remainder evenly. Ties in the map are ordered by index (row-major) with a stable sort; RISE's
``flip(argsort(...))`` orders ties in reverse, so the two agree exactly on maps without ties.

Every metric here belongs to the suite ``"perturbation"``: asked for together (``evaluate_many``,
``faithfulness_report``) they share one unperturbed forward, one substrate, one ranking and each curve is scored
once (deletion MoRF serves ``deletion``, ``aopc_morf`` and ``abpc``; deletion LeRF serves ``deletion_lerf``,
``aopc_lerf`` and ``abpc``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from torch import Tensor

from xai_core.metrics.base import Metric, MetricContext, MetricNotApplicable, MetricResult, Progress, scaled_progress
from xai_core.metrics.drops import DROPS, masked_scores, record
from xai_core.metrics.perturbation import CURVE_PARAMS, ORDERS, Curves, setup
from xai_core.metrics.records import CurveResult, ScoreResult
from xai_core.metrics.registry import documented, evaluate, evaluate_many, get, register, register_suite

RISE = "Petsiuk, Das, Saenko. RISE: Randomized Input Sampling for Explanation of Black-box Models. BMVC 2018"
RISE_URL = "https://arxiv.org/abs/1806.07421"
SAMEK = (
    "Samek, Binder, Montavon, Lapuschkin, Müller. Evaluating the Visualization of What a Deep Neural Network Has "
    "Learned. IEEE TNNLS 2017"
)
SAMEK_URL = "https://arxiv.org/abs/1509.06321"
NEEDS = ("model", "inputs", "maps")
SUITE = "perturbation"
# The curves (curve, order) each metric is computed from, in the order they are scored.
CURVES_OF = {
    "insertion": (("insertion", "morf"),),
    "deletion": (("deletion", "morf"),),
    "deletion_lerf": (("deletion", "lerf"),),
    "aopc_morf": (("deletion", "morf"),),
    "aopc_lerf": (("deletion", "lerf"),),
    "abpc": (("deletion", "morf"), ("deletion", "lerf")),
}
# What faithfulness_report computes (deletion_lerf is inside aopc_lerf and abpc).
REPORT = (
    "insertion", "deletion", "aopc_morf", "aopc_lerf", "abpc",
    "average_drop", "increase_in_confidence", "average_drop_in_deletion",
)  # fmt: skip


@register
class Insertion(Metric):
    """Starts from the substrate and inserts the image's features, most important first; point ``k`` has
    ``round(k * N / steps)`` of the ``N`` features inserted. ``counts`` holds them; ``auc`` is per image."""

    name, title, paper, url = "insertion", "Insertion AUC", RISE, RISE_URL
    summary = "Target score as the image's features are inserted into the substrate, most relevant first; AUC."
    higher_is_better = True
    needs, params, suite = NEEDS, CURVE_PARAMS, SUITE


@register
class Deletion(Metric):
    """Starts from the image and replaces its features by the substrate, most important first."""

    name, title, paper, url = "deletion", "Deletion AUC", RISE, RISE_URL
    summary = "Target score as the image's features are replaced by the substrate, most relevant first; AUC."
    higher_is_better = False
    needs, params, suite = NEEDS, CURVE_PARAMS, SUITE


@register
class DeletionLeRF(Metric):
    """The deletion curve removing the least relevant features first (a faithful map keeps the score up)."""

    name, title, paper, url = "deletion_lerf", "Deletion AUC (LeRF)", SAMEK, SAMEK_URL
    summary = "Deletion with the least relevant features removed first; AUC (the LeRF half of ABPC)."
    higher_is_better = True
    needs, params, suite = NEEDS, CURVE_PARAMS, SUITE


@register
class AopcMoRF(Metric):
    """``AOPC = 1/(L+1) Σ_{k=0}^{L} (f(x^(0)) - f(x^(k)))`` of the MoRF deletion curve, ``L = steps`` (eq. 12)."""

    name, title, paper, url = "aopc_morf", "AOPC (MoRF)", SAMEK, SAMEK_URL
    summary = "Mean drop of the target score along the deletion curve, most relevant first (eq. 12)."
    higher_is_better = True
    needs, params, suite = NEEDS, CURVE_PARAMS, SUITE


@register
class AopcLeRF(Metric):
    """AOPC of the LeRF deletion curve: a faithful map's least relevant features barely matter."""

    name, title, paper, url = "aopc_lerf", "AOPC (LeRF)", SAMEK, SAMEK_URL
    summary = "Mean drop of the target score along the deletion curve, least relevant first."
    higher_is_better = False
    needs, params, suite = NEEDS, CURVE_PARAMS, SUITE


@register
class Abpc(Metric):
    """``ABPC = AUC(LeRF) - AUC(MoRF)`` of the deletion curves, per image."""

    name, title = "abpc", "ABPC"
    paper = "Schulz, Sixt, Tombari, Landgraf. Restricting the Flow: Information Bottlenecks for Attribution. ICLR 2020"
    url = "https://arxiv.org/abs/2001.00396"
    summary = "Area between the LeRF and the MoRF deletion curves."
    higher_is_better = True
    needs, params, suite = NEEDS, CURVE_PARAMS, SUITE


def aopc_from_curve(curve: CurveResult) -> ScoreResult:
    """AOPC of a deletion curve: ``1/(L+1) Σ_{k=0}^{L} (f(x^(0)) - f(x^(k)))`` per image, ``L = steps``.

    Samek et al. 2017, https://arxiv.org/abs/1509.06321, eq. (12). MoRF order: higher is better; LeRF order: lower
    is better.
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


@register_suite(SUITE)
def perturbation_suite(
    ctx: MetricContext, names: Sequence[str], settings: Mapping[str, Any]
) -> dict[str, MetricResult | MetricNotApplicable]:
    """Any subset of this module's metrics and ``drops``' in one pass: each needed curve scored once (insertion,
    deletion MoRF, deletion LeRF, in that order, each a share of ``ctx.progress``), one forward for the masked
    images of the drops."""
    wanted = [c for c in (("insertion", "morf"), ("deletion", "morf"), ("deletion", "lerf"))
              if any(c in CURVES_OF.get(n, ()) for n in names)]  # fmt: skip
    done: dict[tuple[str, str], CurveResult] = {}
    assert ctx.inputs is not None  # checked by the registry (needs)
    if wanted:
        curves = Curves(ctx.model, ctx.inputs, ctx.maps, ctx.target, ctx.chunk_size, **settings)
        run = curves.run
        for i, (curve, order) in enumerate(wanted):
            done[(curve, order)] = curves.curve(
                curve, order, scaled_progress(ctx.progress, i / len(wanted), (i + 1) / len(wanted))
            )
    else:
        run = setup(ctx.model, ctx.inputs, ctx.maps, ctx.target, settings["output"], ctx.chunk_size)
    out: dict[str, MetricResult | MetricNotApplicable] = {}
    for name in names:
        if name in ("insertion", "deletion", "deletion_lerf"):
            out[name] = done[CURVES_OF[name][0]]
        elif name in ("aopc_morf", "aopc_lerf"):
            out[name] = aopc_from_curve(done[CURVES_OF[name][0]])
        elif name == "abpc":
            out[name] = abpc_from_curves(done[("deletion", "morf")], done[("deletion", "lerf")])
    drops = [name for name in names if name in DROPS]
    if drops:
        kept, removed = masked_scores(run)
        for name in drops:
            try:
                out[name] = record(get(name), DROPS[name](run, kept, removed))
            except MetricNotApplicable as why:
                out[name] = why
    return out


# --- the public functions: the registry's metrics under their names, for library users ---------------------------


def _check_order(order: str) -> None:
    if order not in ORDERS:
        raise ValueError(f"order must be one of {list(ORDERS)}; got {order!r}")


@documented("insertion")
def insertion(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    target: int | Any | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    **settings: Any,
) -> CurveResult:
    """Insertion curve (RISE, Petsiuk et al. 2018, https://arxiv.org/abs/1806.07421): higher AUC is better.

    Args:
        model: an ``nn.Module`` mapping ``[B, C, H, W]`` to ``[B, K]`` or a wrapper with ``.module``.
        inputs: float tensor ``[B, C, H, W]`` in the model's input space.
        saliency: maps ``[B, H, W]`` (tensor or array; resized bilinearly to ``H x W`` if smaller) or an
            ``Attribution``, reduced by its method's convention (``to_maps()``) and explaining its own target.
        target: class per image; ``None``: the Attribution's target, else the predicted class.
        chunk_size: perturbed images per forward; automatic from a memory budget when None.
        progress: ``progress(fraction, partial_scores)`` after each chunk; unscored points are NaN.
        **settings: the curve settings below; ``substrate`` may also be a tensor like ``inputs``.

    Returns:
        ``CurveResult`` with ``fractions`` ``k / steps``, ``scores`` ``[B, steps + 1]``, ``auc`` ``[B]`` and
        ``counts`` (features inserted at each point).
    """
    found = evaluate(
        "insertion", model=model, inputs=inputs, maps=saliency, target=target, chunk_size=chunk_size,
        progress=progress, **settings,
    )  # fmt: skip
    return cast(CurveResult, found)


@documented("deletion")
def deletion(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    target: int | Any | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    order: str = "morf",
    **settings: Any,
) -> CurveResult:
    """Deletion curve (RISE): starts from the image and replaces features by the substrate; lower AUC is better.

    Arguments as ``insertion``; ``order="lerf"`` removes the least relevant features first (the metric
    ``"deletion_lerf"``, for which a higher AUC is better: see ``abpc``).
    """
    _check_order(order)
    found = evaluate(
        "deletion" if order == "morf" else "deletion_lerf", model=model, inputs=inputs, maps=saliency,
        target=target, chunk_size=chunk_size, progress=progress, **settings,
    )  # fmt: skip
    return cast(CurveResult, found)


@documented("aopc_morf")
def aopc(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    order: str = "morf",
    target: int | Any | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    **settings: Any,
) -> ScoreResult:
    """AOPC of the deletion curve in ``order`` (``"morf"``: higher is better; ``"lerf"``: lower is better).

    See ``aopc_from_curve`` for the formula and ``insertion`` for the arguments.
    """
    _check_order(order)
    found = evaluate(
        f"aopc_{order}", model=model, inputs=inputs, maps=saliency, target=target, chunk_size=chunk_size,
        progress=progress, **settings,
    )  # fmt: skip
    return cast(ScoreResult, found)


@documented("abpc")
def abpc(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    target: int | Any | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    **settings: Any,
) -> ScoreResult:
    """ABPC (``AUC(LeRF) - AUC(MoRF)`` of the deletion curves); higher is better. Arguments as ``insertion``."""
    found = evaluate(
        "abpc", model=model, inputs=inputs, maps=saliency, target=target, chunk_size=chunk_size,
        progress=progress, **settings,
    )  # fmt: skip
    return cast(ScoreResult, found)


def _drop(name: str, model: Any, inputs: Tensor, saliency: Any, target: Any, settings: dict[str, Any]) -> ScoreResult:
    return cast(ScoreResult, evaluate(name, model=model, inputs=inputs, maps=saliency, target=target, **settings))


@documented("average_drop")
def average_drop(
    model: Any, inputs: Tensor, saliency: Any, *, target: int | Any | None = None, **settings: Any
) -> ScoreResult:
    """Average Drop (Chattopadhyay et al. 2018, Grad-CAM++, https://arxiv.org/abs/1710.11063); lower is better.

    ``AD = 100/N Σ_i max(0, Y_c^i - O_c^i) / Y_c^i`` where ``Y_c`` is the score on the image and ``O_c`` the score
    on the image masked by its min-max normalised map, ``x_r = a ⊙ x`` (black where ``a = 0``; see
    ``drops.masked_scores``). ``per_image`` holds each image's percentage. Needs positive scores (probabilities):
    ``MetricNotApplicable`` (a ``ValueError``) otherwise.
    """
    return _drop("average_drop", model, inputs, saliency, target, settings)


@documented("increase_in_confidence")
def increase_in_confidence(
    model: Any, inputs: Tensor, saliency: Any, *, target: int | Any | None = None, **settings: Any
) -> ScoreResult:
    """Increase in Confidence (Grad-CAM++): ``IC = 100/N Σ_i 1[O_c^i > Y_c^i]``, in percent; higher is better.

    ``per_image`` is 100 where the masked image scores higher and 0 elsewhere (see ``average_drop``).
    """
    return _drop("increase_in_confidence", model, inputs, saliency, target, settings)


@documented("average_drop_in_deletion")
def average_drop_in_deletion(
    model: Any, inputs: Tensor, saliency: Any, *, target: int | Any | None = None, **settings: Any
) -> ScoreResult:
    """Average Drop in Deletion (Jung & Oh 2021, ICCV): ``ADD = 100/N Σ_i (Y_c^i - D_c^i) / Y_c^i``; higher is better.

    ``D_c`` is the score on the image with the explanation removed, ``x_d = (1 - a) ⊙ x``. Not clipped at 0.
    Needs positive scores: ``MetricNotApplicable`` (a ``ValueError``) otherwise.
    """
    return _drop("average_drop_in_deletion", model, inputs, saliency, target, settings)


@documented("insertion")
def faithfulness_report(
    model: Any,
    inputs: Tensor,
    saliency: Any,
    *,
    target: int | Any | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    **settings: Any,
) -> dict[str, MetricResult]:
    """Every faithfulness metric of one set of maps (``REPORT``), sharing the work.

    One setup (unperturbed forward, target, substrate, ranked features) and three curves: insertion, deletion
    (MoRF, shared by ``"deletion"``, ``"aopc_morf"`` and ``"abpc"``) and deletion LeRF (shared by ``"aopc_lerf"``
    and ``"abpc"``), plus one batched forward for the masked images of Average Drop, IC and ADD (these need
    ``output="probability"`` or positive logits; AD and ADD are left out otherwise). ``progress(fraction,
    partial_scores)`` reports the whole report's fraction with the partial scores of the curve being computed.
    Arguments and settings as ``insertion``.
    """
    return evaluate_many(
        REPORT, model=model, inputs=inputs, maps=saliency, target=target, chunk_size=chunk_size, progress=progress,
        **settings,
    )  # fmt: skip

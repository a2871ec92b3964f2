"""Scores of the image masked by its own map: Average Drop, Increase in Confidence (Grad-CAM++) and Average Drop in
Deletion (Jung & Oh 2021). All three share one batched forward of the kept and the removed images
(``masked_scores``), and with the curves the unperturbed forward (suite ``"perturbation"``, see ``faithfulness``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from xai_core.metrics.base import Metric, MetricNotApplicable
from xai_core.metrics.perturbation import OUTPUT, Run
from xai_core.metrics.records import ScoreResult
from xai_core.metrics.registry import register
from xai_core.params import Param

GRAD_CAM_PP = "Chattopadhay, Sarkar, Howlader, Balasubramanian. Grad-CAM++. WACV 2018"
GRAD_CAM_PP_URL = "https://arxiv.org/abs/1710.11063"


def masked_scores(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the explanation-kept and explanation-removed images, ``O_c`` and ``D_c``, in one forward.

    The map is min-max normalised per image to ``a`` in [0, 1] (a constant map gives ``a = 0``, as
    pytorch-grad-cam's ``scale_cam_image``) and blended towards black pixels ``b`` (see ``insertion``):
    ``x_r = b + a ⊙ (x - b)`` and ``x_d = b + (1 - a) ⊙ (x - b)``, which are ``a ⊙ x`` and ``(1 - a) ⊙ x`` for a
    model without ``to_model_space``, and the same products in pixel space for a normalising wrapper.
    """
    m = run.maps
    lo, hi = m.amin(dim=(1, 2), keepdim=True), m.amax(dim=(1, 2), keepdim=True)
    a = torch.where(hi > lo, (m - lo) / (hi - lo).clamp_min(1e-30), torch.zeros_like(m)).unsqueeze(1)
    ref = run.black()
    kept, removed = ref + a * (run.x - ref), ref + (1 - a) * (run.x - ref)
    b = run.x.shape[0]
    scores = run.score(torch.cat([kept, removed]), torch.arange(b).repeat(2)).numpy()
    return scores[:b], scores[b:]


def _positive_base(run: Run, metric: str) -> np.ndarray:
    if (run.base <= 0).any():
        raise MetricNotApplicable(
            f"{metric} divides by the unperturbed score, which must be positive; use output='probability'"
        )
    return run.base


NEEDS = ("model", "inputs", "maps")
PARAMS: tuple[Param, ...] = (OUTPUT,)


def record(metric: type[Metric], per_image: np.ndarray) -> ScoreResult:
    return ScoreResult(
        name=metric.name, value=float(per_image.mean()), per_image=per_image,
        higher_is_better=metric.higher_is_better, unit=metric.unit,
    )  # fmt: skip


@register
class AverageDrop(Metric):
    """``AD = 100/N Σ_i max(0, Y_c^i - O_c^i) / Y_c^i``: ``Y_c`` the score on the image, ``O_c`` on the image
    masked by its min-max normalised map (``x_r = a ⊙ x``, see ``masked_scores``). Needs positive scores."""

    name = "average_drop"
    title = "Average Drop (AD, %)"
    paper, url = GRAD_CAM_PP, GRAD_CAM_PP_URL
    summary = "Mean relative drop of the target score when only the map's region is kept (image x map)."
    higher_is_better = False
    needs, params, suite, unit = NEEDS, PARAMS, "perturbation", "%"

    @classmethod
    def per_image(cls, run: Run, kept: np.ndarray, removed: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, _positive_base(run, cls.name) - kept) / run.base * 100.0


@register
class IncreaseInConfidence(Metric):
    """``IC = 100/N Σ_i 1[O_c^i > Y_c^i]``: 100 where the masked image scores higher, 0 elsewhere."""

    name = "increase_in_confidence"
    title = "Increase in Confidence (IC, %)"
    paper, url = GRAD_CAM_PP, GRAD_CAM_PP_URL
    summary = "Share of images whose target score rises when only the map's region is kept."
    higher_is_better = True
    needs, params, suite, unit = NEEDS, PARAMS, "perturbation", "%"

    @classmethod
    def per_image(cls, run: Run, kept: np.ndarray, removed: np.ndarray) -> np.ndarray:
        return (kept > run.base).astype(np.float64) * 100.0


@register
class AverageDropInDeletion(Metric):
    """``ADD = 100/N Σ_i (Y_c^i - D_c^i) / Y_c^i`` with ``D_c`` the score on ``x_d = (1 - a) ⊙ x``.

    Higher is better (the survey's "lower is better" for ADD is a slip: a faithful map's removal drops the score).
    Not clipped at 0: removing the explained region may raise the score, which counts against the map. Needs
    positive scores.
    """

    name = "average_drop_in_deletion"
    title = "Average Drop in Deletion (ADD, %)"
    paper = "Jung, Oh. Towards Better Explanations of Class Activation Mapping. ICCV 2021"
    url = "https://arxiv.org/abs/2102.05228"
    summary = "Mean relative drop of the target score when the map's region is removed (image x (1 - map))."
    higher_is_better = True
    needs, params, suite, unit = NEEDS, PARAMS, "perturbation", "%"

    @classmethod
    def per_image(cls, run: Run, kept: np.ndarray, removed: np.ndarray) -> np.ndarray:
        return (_positive_base(run, cls.name) - removed) / run.base * 100.0


# The per-image percentage of each, from (run, kept scores O_c, removed scores D_c).
DROPS: dict[str, Callable[[Run, np.ndarray, np.ndarray], np.ndarray]] = {
    cls.name: cls.per_image for cls in (AverageDrop, IncreaseInConfidence, AverageDropInDeletion)
}

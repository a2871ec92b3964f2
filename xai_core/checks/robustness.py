"""Robustness of explanations (survey 4: fragility): max-sensitivity and the fragility attack.

* Max-sensitivity (Yeh et al. 2019, https://arxiv.org/abs/1901.09392): max over perturbations with
  ||delta||_inf <= r of ||M(x + delta) - M(x)|| / ||M(x)||, estimated on ``samples`` uniform draws (the relative
  form, as Quantus and Captum); a thin call of the registered metric ``max_sensitivity`` (metrics/robustness.py).
* Fragility attack (Ghorbani, Abid, Zou 2019, https://arxiv.org/abs/1710.10547): iterative sign-gradient steps
  within an L_inf budget (pixel units) that keep the top-1 class and push attribution mass away from the
  original top-k features; the attack differentiates a softplus surrogate of the input gradient (ReLU networks
  have zero Hessian), then the real method is evaluated before and after. A random perturbation of the same
  budget is reported beside it, so the attack is compared with noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor

from xai_core.attribution import _module_of, attribute
from xai_core.hooks import smooth_activations
from xai_core.metrics import ScoreResult, evaluate
from xai_core.paths import PixelSpace
from xai_core.request import Request
from xai_core.targets import Target


@dataclass(frozen=True)
class SensitivityResult:
    method: str
    radius: float
    per_sample: np.ndarray  # [B] max relative change over the draws
    higher_is_better: bool = False

    @property
    def value(self) -> float:
        return float(self.per_sample.mean())


def max_sensitivity(
    model: Any,
    inputs: Tensor,
    method: str | Request,
    *,
    target: int | Sequence[int] | Tensor | None = None,
    radius: float = 0.02,
    samples: int = 8,
    seed: int = 0,
    **params: Any,
) -> SensitivityResult:
    """Max relative change of ``method``'s attributions under ``samples`` uniform perturbations of L_inf radius
    ``radius`` (in pixel units for a wrapper), with the target fixed to the given one (the unperturbed prediction if
    None): the registered metric ``metrics.get("max_sensitivity")`` with an explainer for ``method`` and ``params``
    (the one implementation; its settings are validated there)."""
    evaluated = model

    def explain(x: Tensor, classes: Tensor, model: Any = None) -> Tensor:
        return attribute(evaluated if model is None else model, x, method, target=classes, **params).attributions

    result = evaluate(
        "max_sensitivity", model=model, inputs=inputs, explainer=explain, target=target, radius=radius,
        samples=samples, seed=seed,
    )  # fmt: skip
    name = method.method if isinstance(method, Request) else method
    return SensitivityResult(name, radius, cast(ScoreResult, result).per_image)


@dataclass(frozen=True)
class FragilityResult:
    method: str
    epsilon: float
    top_k: int
    original_maps: np.ndarray  # [B, H, W]
    attacked_maps: np.ndarray
    random_maps: np.ndarray
    attacked_inputs: Tensor
    topk_intersection: np.ndarray  # [B] |T intersect T~| / k after the attack (lower = more fragile)
    rank_correlation: np.ndarray  # [B] Spearman of original vs attacked map
    random_topk_intersection: np.ndarray
    random_rank_correlation: np.ndarray
    class_kept: np.ndarray  # [B] bool
    higher_is_better: bool = True  # for intersection and correlation: robust maps keep them high


def _top_k_mask(maps: Tensor, k: int) -> Tensor:
    flat = maps.flatten(1)
    index = flat.topk(k, dim=1).indices
    return torch.zeros_like(flat, dtype=torch.bool).scatter_(1, index, True)


def _compare(original: Tensor, other: Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = _top_k_mask(original, k), _top_k_mask(other, k)
    intersection = ((a & b).sum(1).float() / k).cpu().numpy()
    correlation = np.array(
        [spearmanr(o.flatten(), t.flatten())[0] for o, t in zip(original.cpu(), other.cpu(), strict=True)]
    )
    return intersection, correlation


def fragility_attack(
    model: Any,
    inputs: Tensor,
    method: str | Request,
    *,
    target: int | Sequence[int] | Tensor | None = None,
    epsilon: float = 8 / 255,
    steps: int = 20,
    top_k: int = 1000,
    beta: float = 10.0,
    seed: int = 0,
    **params: Any,
) -> FragilityResult:
    """Top-k attack of Ghorbani et al. on ``method``'s map within ||delta||_inf <= ``epsilon`` (pixel units)."""
    if epsilon <= 0 or steps < 1 or top_k < 1:
        raise ValueError(f"epsilon > 0, steps >= 1 and top_k >= 1 required; got {epsilon}, {steps}, {top_k}")
    module, _ = _module_of(model)
    space = PixelSpace.of(model)
    original = attribute(model, inputs, method, target=target, **params)
    x = inputs.to(original.attributions.device).detach()
    maps0 = torch.as_tensor(original.to_maps()).abs()
    k = min(top_k, maps0[0].numel())
    top = _top_k_mask(maps0, k).to(x.device).view_as(maps0)
    score = Target(original.target, "logit")
    pixels0 = space.to_pixels(x)
    pixels, step = pixels0.clone(), epsilon / max(1, steps // 4)
    for _ in range(steps):
        candidate = pixels.clone().requires_grad_(True)
        with torch.enable_grad(), smooth_activations(beta):
            scores = score(module(space.to_model(candidate)))
            (grad,) = torch.autograd.grad(scores.sum(), candidate, create_graph=True)
            saliency = grad.abs().sum(1)  # the surrogate map of the attacked features
            (direction,) = torch.autograd.grad((saliency * top).sum(), candidate)
        moved = pixels - step * direction.sign()  # lower the mass on the original top-k
        moved = torch.minimum(torch.maximum(moved, pixels0 - epsilon), pixels0 + epsilon)
        if space.bounded:
            moved = moved.clamp(0, 1)
        with torch.inference_mode():
            keeps = module(space.to_model(moved)).argmax(1).cpu() == original.target
        pixels = torch.where(keeps.view(-1, 1, 1, 1).to(x.device), moved.detach(), pixels)
    attacked_inputs = space.to_model(pixels)
    generator = torch.Generator().manual_seed(seed)
    random_sign = torch.randint(0, 2, pixels0.shape, generator=generator).to(pixels0) * 2 - 1
    random_pixels = pixels0 + epsilon * random_sign
    random_inputs = space.to_model(random_pixels.clamp(0, 1) if space.bounded else random_pixels)
    fixed = {"target": original.target, **params}
    attacked = torch.as_tensor(attribute(model, attacked_inputs, method, **fixed).to_maps()).abs()
    randomised = torch.as_tensor(attribute(model, random_inputs, method, **fixed).to_maps()).abs()
    method = original.method
    with torch.inference_mode():
        kept = (module(attacked_inputs).argmax(1).cpu() == original.target).numpy()
    intersection, correlation = _compare(maps0, attacked, k)
    random_intersection, random_correlation = _compare(maps0, randomised, k)
    return FragilityResult(
        method, epsilon, k, maps0.numpy(), attacked.numpy(), randomised.numpy(), attacked_inputs.detach(),
        intersection, correlation, random_intersection, random_correlation, kept,
    )  # fmt: skip

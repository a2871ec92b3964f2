"""Carlini-Wagner L2 (Carlini and Wagner, IEEE S&P 2017, https://arxiv.org/abs/1608.04644), batched and in torch.

A port of foolbox 3's ``L2CarliniWagnerAttack.run`` (``foolbox/attacks/carlini_wagner.py``) as zifanw/boundary calls
it for BIG and BSM (``get_boundary_points(..., pipeline='cw')`` with ``CW_SEARCH_RANGE``: ``steps=100``,
``stepsize=1e-2``, ``epsilons=[1.0]``; foolbox's defaults otherwise: 9 binary-search steps, initial constant 1e-3,
confidence 0, ``abort_early=True``). For each image, minimise over w

    ||x(w) - x||_2^2 + c * max(0, Z_y(x(w)) - max_{j != y} Z_j(x(w)) + confidence),   x(w) = a + b tanh(w)

with Adam (learning rate ``stepsize``, betas 0.9 / 0.999, eps 1e-8, a fresh optimiser per binary-search step), the
box [low, high] mapped to (-1, 1) by a = (high + low) / 2, b = (high - low) / 2 and arctanh(0.999999 (x - a) / b)
for the start. Every iterate that is misclassified and closer than the best so far becomes the best; after each
binary-search step c shrinks (bisection) where an adversarial was found and grows tenfold where none was yet. The
best point is clipped to L2 <= epsilon (foolbox's ``restrict`` for ``epsilons=[1.0]``) and judged again.

Deviations: abort_early is decided per image (foolbox compares the loss summed over the batch every tenth of the
steps, so one image's progress keeps another's optimisation running: a map would depend on its batch mates); an
unbounded search space (a plain module) uses x(w) = w, with no change of variables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from xai_core.batching import chunks

if TYPE_CHECKING:
    from xai_core.methods._adversarial import SearchSpace

INITIAL_CONST = 1e-3
CONFIDENCE = 0.0
BETAS, ADAM_EPS = (0.9, 0.999), 1e-8


def _margin(logits: Tensor, labels: Tensor) -> Tensor:
    """Z_y - max_{j != y} Z_j + confidence (``best_other_classes`` excludes y by subtracting inf)."""
    others = logits.scatter(1, labels.view(-1, 1), float("-inf"))
    return logits.gather(1, labels.view(-1, 1)).squeeze(1) - others.amax(dim=1) + CONFIDENCE


def _clip_l2(points: Tensor, origin: Tensor, epsilon: float) -> Tensor:
    delta = points - origin
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return origin + delta * (epsilon / norms).clamp(max=1.0).view(-1, *([1] * (delta.ndim - 1)))


def carlini_wagner_l2(
    model: nn.Module, origin: Tensor, classes: Tensor, space: SearchSpace, *, steps: int, binary_steps: int,
    stepsize: float, epsilon: float, chunk_size: int, progress: Callable[[float], None] | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Per image of ``origin`` (search coordinates): the CW point clipped to ``epsilon``; is it adversarial."""
    out = origin.detach().clone()
    success = torch.zeros(origin.shape[0], dtype=torch.bool, device=origin.device)
    for index in chunks(origin.shape[0], chunk_size):
        best, found = _attack(model, origin[index].detach(), classes[index].to(origin.device), space, steps,
                              binary_steps, stepsize)  # fmt: skip
        clipped = _clip_l2(best, origin[index], epsilon)
        with torch.inference_mode():
            adversarial = model(space.to_model(clipped)).argmax(dim=1) != classes[index].to(origin.device)
        out[index] = torch.where(found.view(-1, *([1] * (origin.ndim - 1))), clipped, origin[index])
        success[index] = found & adversarial
        if progress is not None:
            progress(index.stop / origin.shape[0])
    return out, success


def _attack(
    model: nn.Module, x: Tensor, labels: Tensor, space: SearchSpace, steps: int, binary_steps: int, stepsize: float
) -> tuple[Tensor, Tensor]:
    """foolbox's ``run`` for one chunk: the closest misclassified iterate per row and whether there was one."""
    n = x.shape[0]
    if space.low is not None and space.high is not None:
        middle, half = (space.high + space.low) / 2, (space.high - space.low) / 2
        w0 = torch.atanh((x - middle) / half * 0.999999)

        def to_x(w: Tensor) -> Tensor:
            return torch.tanh(w) * half + middle
    else:
        w0 = x.clone()

        def to_x(w: Tensor) -> Tensor:
            return w

    reconstructed = to_x(w0)
    consts = torch.full((n,), INITIAL_CONST, dtype=torch.float64)
    lower, upper = torch.zeros(n, dtype=torch.float64), torch.full((n,), math.inf, dtype=torch.float64)
    best, best_norm = x.clone(), torch.full((n,), math.inf, dtype=torch.float64)
    check_every = math.ceil(steps / 10)
    for search in range(binary_steps):
        if search == binary_steps - 1 and binary_steps >= 10:
            consts = torch.minimum(upper, torch.tensor(1e10, dtype=torch.float64))  # repeat the search once
        delta, m, v = torch.zeros_like(w0), torch.zeros_like(w0), torch.zeros_like(w0)
        found = torch.zeros(n, dtype=torch.bool)
        previous = torch.full((n,), math.inf, dtype=torch.float64)
        active = torch.ones(n, dtype=torch.bool)
        c = consts.to(x.device, x.dtype)
        for step in range(steps):
            rows = torch.nonzero(active).flatten()
            if rows.numel() == 0:
                break
            rows_d = rows.to(x.device)
            d = delta[rows_d].detach().requires_grad_(True)
            with torch.enable_grad():
                perturbed = to_x(w0[rows_d] + d)
                logits = model(space.to_model(perturbed))
                squared = (perturbed - reconstructed[rows_d]).flatten(1).square().sum(dim=1)
                loss = _margin(logits, labels[rows_d]).clamp(min=0) * c[rows_d] + squared
                (grad,) = torch.autograd.grad(loss.sum(), d)
            t = step + 1  # every active row has taken the same number of Adam steps
            m[rows_d] = BETAS[0] * m[rows_d] + (1 - BETAS[0]) * grad
            v[rows_d] = BETAS[1] * v[rows_d] + (1 - BETAS[1]) * grad.square()
            m_hat, v_hat = m[rows_d] / (1 - BETAS[0] ** t), v[rows_d] / (1 - BETAS[1] ** t)
            delta[rows_d] = d.detach() - stepsize * m_hat / (v_hat.sqrt() + ADAM_EPS)
            keep = torch.ones(rows.numel(), dtype=torch.bool)
            if step % check_every == 0:  # no progress over a tenth of the steps: this row stops (before recording)
                value = loss.detach().double().cpu()
                keep = value <= 0.9999 * previous[rows]
                previous[rows[keep]] = value[keep]
                active[rows[~keep]] = False
            adversarial = (logits.detach().argmax(dim=1) != labels[rows_d]).cpu() & keep
            norms = (perturbed.detach() - x[rows_d]).flatten(1).norm(dim=1).double().cpu()
            closer = adversarial & (norms < best_norm[rows])
            best[rows_d[closer.to(x.device)]] = perturbed.detach()[closer.to(x.device)]
            best_norm[rows[closer]] = norms[closer]
            found[rows[adversarial]] = True
        upper = torch.where(found, consts, upper)
        lower = torch.where(found, lower, consts)
        consts = torch.where(torch.isinf(upper), consts * 10, (lower + upper) / 2)
    return best, torch.isfinite(best_norm).to(x.device)

"""Shared adversarial machinery for AGI, BIG, BSM and NeFLAG (not a registered method).

Every search runs in *pixel space* (``PixelSpace.to_pixels``): [0, 1] RGB for a ``load_model`` wrapper, where
steps are clamped to the image range, and the raw input space (unbounded) for a plain ``nn.Module``. Step sizes
and radii are therefore in pixel units. Rows are processed ``chunk_size`` at a time; each row stops on its own
(early stopping) and finished rows leave the batch, so no forward pass is spent on them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xai_core.batching import chunks
from xai_core.params import ChoiceParam, IntParam, ParameterError
from xai_core.paths import PixelSpace
from xai_core.targets import Target

NORMS = ("linf", "l2")
# Presets for the UI; any comma-separated list of positive numbers is accepted through the API.
EPSILON_PRESETS = (
    "0.002,0.004,0.008,0.016,0.032,0.064",  # linf in [0, 1] pixels: 0.5/255 ... 16/255
    "0.01,0.02,0.04,0.08,0.16",
    "0.141,0.251,0.3,0.5,0.7,0.9,1.1",  # zifanw/boundary default.py (l2: 36/255, 64/255, 0.3 ... 1.1)
    "0.25,0.5,1,2,4,8",  # l2 in [0, 1] pixels at 224 x 224
)
PGD_STEP_FACTOR = 2.5  # PGD step = 2.5 * eps / steps (Madry et al. 2018): the ball's far side is reachable
TINY = 1e-12


class EpsilonsParam(ChoiceParam):
    """A preset from ``choices`` or any list of positive numbers: ``"0.01,0.02"``, ``[0.01, 0.02]``.

    Resolves to a canonical, ascending, comma-separated string so that settings and cache keys stay plain data.
    """

    def coerce(self, value: Any, method: str) -> str:
        return ",".join(format(e, ".10g") for e in parse_epsilons(value, method, self.name))


def epsilons_param(default: str = EPSILON_PRESETS[0]) -> EpsilonsParam:
    return EpsilonsParam(
        "epsilons", default, "radii of the boundary search, tried smallest first (pixel units of the norm)",
        choices=EPSILON_PRESETS,
    )  # fmt: skip


NORM = ChoiceParam("norm", "linf", "norm of the adversarial ball (linf: sign steps; l2: normalised steps)", NORMS)
PGD_STEPS = IntParam("pgd_steps", 20, "PGD steps per epsilon (each row stops once misclassified)", low=1, high=1000)


def parse_epsilons(value: Any, method: str = "", name: str = "epsilons") -> list[float]:
    """Ascending distinct positive radii from a comma-separated string or a sequence of numbers."""

    def fail(detail: str) -> ParameterError:
        return ParameterError(
            f"{method}: parameter '{name}' must be positive numbers separated by commas, e.g. "
            f"'0.01,0.02,0.04'; {detail}; got {value!r}"
        )

    if isinstance(value, str):
        try:
            numbers = [float(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise fail("a part is not a number") from None
    elif isinstance(value, Sequence) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        numbers = [float(v) for v in value]
    else:
        raise fail("expected a string or a list of numbers")
    if not numbers:
        raise fail("the list is empty")
    if not all(math.isfinite(e) and e > 0 for e in numbers):
        raise fail("every radius must be finite and > 0")
    return sorted(set(numbers))


def pixel_forward(model: nn.Module, pixels: Tensor, space: PixelSpace) -> tuple[Tensor, Tensor]:
    """A leaf copy of ``pixels`` that requires grad and the model's logits at it (graph kept for autograd.grad)."""
    leaf = pixels.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(space.to_model(leaf))
    return leaf, logits


def scores_at(model: nn.Module, inputs: Tensor, target: Target) -> tuple[Tensor, Tensor]:
    """``(f(x), logits)`` without autograd; the first forward of every method here, so a bad target fails first."""
    with torch.inference_mode():
        logits = model(inputs)
        scores = target(logits)
    return scores.clone(), logits.clone()


def _view(values: Tensor, like: Tensor) -> Tensor:
    return values.view(-1, *([1] * (like.ndim - 1)))


def norm_of(delta: Tensor, norm: str) -> Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)


def project(points: Tensor, origin: Tensor, eps: float, norm: str, bounded: bool) -> Tensor:
    """Projection onto the ``norm`` ball of radius ``eps`` around ``origin`` (then the [0, 1] box if bounded)."""
    delta = points - origin
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * _view((eps / norm_of(delta, "l2").clamp_min(TINY)).clamp(max=1.0), delta)
    out = origin + delta
    return out.clamp(0.0, 1.0) if bounded else out


@dataclass
class Boundary:
    """The closest adversarial found per image (survey eq. 28: x' with F(x') != F(x), ||x' - x|| small)."""

    points: Tensor  # [B, C, H, W] x' in the model's input space
    epsilon: Tensor  # [B] radius of the search that produced x'
    distance: Tensor  # [B] ||x' - x|| in the search norm, pixel units
    success: Tensor  # [B] bool: x' is misclassified; False means the largest radius's point, not adversarial
    predicted: Tensor  # [B] argmax f(x')

    def extras(self) -> dict[str, Tensor]:
        return {
            "boundary_points": self.points.detach().cpu(),
            "boundary_epsilon": self.epsilon.cpu(),
            "boundary_distance": self.distance.cpu(),
            "attack_success": self.success.cpu(),
            "boundary_class": self.predicted.cpu(),
        }


def pgd(
    model: nn.Module, pixels: Tensor, classes: Tensor, space: PixelSpace, eps: float, *, norm: str, steps: int,
    chunk_size: int,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Untargeted PGD from ``pixels`` (no random start): ascend CE(f(x), y) in the ``norm`` ball of radius ``eps``.

    x_{t+1} = Proj(x_t + a * sign(g)) (linf) or Proj(x_t + a * g / ||g||_2) (l2), a = 2.5 eps / steps, g = d CE / dx.
    A row stops at its first misclassified iterate (checked after each step, on the next forward), so the point
    lies just past the decision boundary. Returns the points and whether each is misclassified.
    """
    step = PGD_STEP_FACTOR * eps / steps
    out, success = pixels.detach().clone(), torch.zeros(pixels.shape[0], dtype=torch.bool, device=pixels.device)
    labels = classes.to(pixels.device)
    for index in chunks(pixels.shape[0], chunk_size):
        origin, current = pixels[index].detach(), pixels[index].detach().clone()
        done = torch.zeros(origin.shape[0], dtype=torch.bool, device=pixels.device)
        for t in range(steps + 1):
            rows = torch.nonzero(~done).flatten()
            if rows.numel() == 0:
                break
            leaf, logits = pixel_forward(model, current[rows], space)
            hit = (logits.argmax(dim=1) != labels[index][rows]) if t > 0 else torch.zeros_like(rows, dtype=torch.bool)
            done[rows[hit]] = True
            if t == steps:
                break
            loss = F.cross_entropy(logits, labels[index][rows], reduction="sum")
            (grad,) = torch.autograd.grad(loss, leaf)
            scale = _view(norm_of(grad, "l2").clamp_min(TINY), grad)
            direction = grad.sign() if norm == "linf" else grad / scale
            moved = project(leaf.detach() + step * direction, origin[rows], eps, norm, space.bounded)
            keep = rows[~hit]
            current[keep] = moved[~hit]
        out[index], success[index] = current, done
    return out, success


def boundary_search(
    model: nn.Module, inputs: Tensor, classes: Tensor, space: PixelSpace, epsilons: Sequence[float], *,
    norm: str, steps: int, chunk_size: int, progress: Callable[[float], None] | None = None,
) -> Boundary:  # fmt: skip
    """PGD at each radius, smallest first; each image keeps the point of the smallest radius that succeeds.

    As ``get_boundary_points`` of zifanw/boundary (``boundary/core.py``), where a later radius replaces a point
    only if the earlier ones failed. Images with no success keep the largest radius's point (``success`` False).
    """
    if norm not in NORMS:
        raise ParameterError(f"norm must be one of {list(NORMS)}; got {norm!r}")
    pixels = space.to_pixels(inputs).detach()
    batch = pixels.shape[0]
    best = pixels.clone()
    radius = torch.full((batch,), float("nan"), dtype=torch.float64)
    success = torch.zeros(batch, dtype=torch.bool)
    pending = torch.arange(batch)
    for i, eps in enumerate(epsilons):
        if pending.numel() == 0:
            break
        found, ok = pgd(
            model, pixels[pending], classes[pending], space, eps, norm=norm, steps=steps, chunk_size=chunk_size
        )
        ok = ok.cpu()
        take = ok | (i == len(epsilons) - 1)
        best[pending[take].to(best.device)] = found[take.to(found.device)]
        radius[pending[take]] = eps
        success[pending[ok]] = True
        pending = pending[~ok]
        if progress is not None:
            progress((i + 1) / len(epsilons))
    points = space.to_model(best)
    with torch.inference_mode():
        predicted = model(points).argmax(dim=1).cpu()
    return Boundary(points.detach(), radius, norm_of(best - pixels, norm).cpu().double(), success, predicted)

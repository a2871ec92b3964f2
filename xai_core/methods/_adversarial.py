"""Shared adversarial machinery for AGI, BIG, BSM and NeFLAG (not a registered method).

AGI and NeFLAG step in *pixel space* (``PixelSpace.to_pixels``: [0, 1] RGB for a ``load_model`` wrapper, clamped to
the image range; the raw input space, unbounded, for a plain ``nn.Module``). BIG and BSM search for the closest
adversarial example in a ``SearchSpace``: the model's own input space by default, as zifanw/boundary attacks the
normalised tensor the network reads, or pixel space. Rows are processed ``chunk_size`` at a time; every row's
computation depends on that row only (its own random start, its own early stop), so a map does not depend on the
batch or the chunking.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xai_core.batching import chunks
from xai_core.methods._carlini_wagner import carlini_wagner_l2
from xai_core.params import ChoiceParam, FloatParam, IntParam, ParameterError
from xai_core.paths import PixelSpace
from xai_core.targets import Target

NORMS = ("linf", "l2")
SPACES = ("input", "pixels")
ATTACKS = ("pgd+cw", "pgd", "cw")
PGD_VARIANTS = ("foolbox", "first_crossing")
BOUNDARY_EPSILONS = "0.1411764706,0.2509803922,0.3,0.5,0.7,0.9,1.1"  # zifanw/boundary default.py: 36/255, 64/255, ...
# Presets for the UI; any comma-separated list of positive numbers is accepted through the API.
EPSILON_PRESETS = (
    BOUNDARY_EPSILONS,
    "0.002,0.004,0.008,0.016,0.032,0.064",  # linf in [0, 1] pixels: 0.5/255 ... 16/255 (the earlier default)
    "0.01,0.02,0.04,0.08,0.16",
    "0.25,0.5,1,2,4,8",  # l2 in [0, 1] pixels at 224 x 224
)
PGD_STEP_FACTOR = 2.5  # first_crossing: step = 2.5 * eps / steps (Madry et al. 2018): the ball's far side is reachable
TINY = 1e-12


class EpsilonsParam(ChoiceParam):
    """A preset from ``choices`` or any list of positive numbers: ``"0.01,0.02"``, ``[0.01, 0.02]``.

    Resolves to a canonical, ascending, comma-separated string so that settings and cache keys stay plain data.
    """

    def coerce(self, value: Any, method: str) -> str:
        return ",".join(format(e, ".10g") for e in parse_epsilons(value, method, self.name))


def epsilons_param(default: str = BOUNDARY_EPSILONS) -> EpsilonsParam:
    return EpsilonsParam(
        "epsilons", default, "radii of the PGD search, tried smallest first (units of the norm in the search space)",
        choices=EPSILON_PRESETS,
    )  # fmt: skip


NORM = ChoiceParam("norm", "l2", "norm of PGD's ball (l2: normalised steps, as the authors; linf: sign steps)", NORMS)
SPACE = ChoiceParam(
    "space", "input", "where radii and distances are measured: the model's input (normalised) space, as the authors, "
    "or [0, 1] pixels", SPACES,
)  # fmt: skip
ATTACK = ChoiceParam("attacks", "pgd+cw", "attacks run; the closest adversarial point by L2 is kept", ATTACKS)
PGD_STEPS = IntParam("pgd_steps", 40, "PGD steps per radius", low=1, high=1000)
PGD_VARIANT = ChoiceParam(
    "pgd_variant", "foolbox", "foolbox: the authors' PGD (random start, step 2 eps^2 / steps, last iterate); "
    "first_crossing: from the image, step 2.5 eps / steps, stop at the first misclassified iterate", PGD_VARIANTS,
)  # fmt: skip
CW_STEPS = IntParam("cw_steps", 100, "Carlini-Wagner Adam steps per binary-search step", low=1, high=10000)
CW_BINARY_STEPS = IntParam("cw_binary_steps", 9, "Carlini-Wagner binary-search steps over the constant c", 1, 100)
CW_STEPSIZE = FloatParam("cw_stepsize", 0.01, "Carlini-Wagner Adam learning rate (tanh space)", low=1e-6, high=10.0)
CW_EPSILON = FloatParam("cw_epsilon", 1.0, "L2 radius the Carlini-Wagner point is clipped to", low=1e-6, high=1e4)
SEED = IntParam("seed", 0, "seed of PGD's random starts", low=0, high=2**31 - 1)
BOUNDARY_PARAMS = (
    epsilons_param(), NORM, SPACE, ATTACK, PGD_STEPS, PGD_VARIANT, CW_STEPS, CW_BINARY_STEPS, CW_STEPSIZE, CW_EPSILON,
    SEED,
)  # fmt: skip


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


def search_passes(params: Mapping[str, Any]) -> int:
    """Forward+backward passes per image of ``boundary_search`` at most (every radius tried; the app's time estimate
    and fair-use cap): PGD's steps per radius, Carlini-Wagner's Adam steps per binary-search step."""
    attacks = str(params["attacks"]).split("+")
    pgd_passes = len(parse_epsilons(params["epsilons"])) * int(params["pgd_steps"]) if "pgd" in attacks else 0
    cw_passes = int(params["cw_steps"]) * int(params["cw_binary_steps"]) if "cw" in attacks else 0
    return pgd_passes + cw_passes


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


@dataclass(frozen=True)
class SearchSpace:
    """Coordinates an attack runs in: the map from and to the model's input and the box points must stay in."""

    to_search: Callable[[Tensor], Tensor]
    to_model: Callable[[Tensor], Tensor]
    low: Tensor | None  # [1, C, H, W] in search coordinates; None: unbounded
    high: Tensor | None

    @staticmethod
    def of(space: PixelSpace, kind: str, like: Tensor) -> SearchSpace:
        """``"input"``: the model's input space, boxed by the image of [0, 1] pixels (per channel); ``"pixels"``."""
        if kind not in SPACES:
            raise ParameterError(f"space must be one of {list(SPACES)}; got {kind!r}")
        ones = torch.ones_like(like[:1])
        if kind == "pixels":
            box = (ones * 0.0, ones) if space.bounded else (None, None)
            return SearchSpace(space.to_pixels, space.to_model, *box)
        if not space.bounded:
            return SearchSpace(_identity, _identity, None, None)
        low, high = space.to_model(ones * 0.0), space.to_model(ones)
        return SearchSpace(_identity, _identity, torch.minimum(low, high), torch.maximum(low, high))

    def clamp(self, points: Tensor) -> Tensor:
        if self.low is None or self.high is None:
            return points
        return torch.maximum(torch.minimum(points, self.high), self.low)

    def logits(self, model: nn.Module, points: Tensor) -> tuple[Tensor, Tensor]:
        """A leaf copy of ``points`` that requires grad and the logits at it."""
        leaf = points.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            return leaf, model(self.to_model(leaf))


def _identity(t: Tensor) -> Tensor:
    return t


def project(points: Tensor, origin: Tensor, eps: float, norm: str, space: SearchSpace) -> Tensor:
    """Projection onto the ``norm`` ball of radius ``eps`` around ``origin``, then onto the box."""
    delta = points - origin
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * _view((eps / norm_of(delta, "l2").clamp_min(TINY)).clamp(max=1.0), delta)
    return space.clamp(origin + delta)


def random_starts(shape: Sequence[int], epsilons: Sequence[float], norm: str, generator: torch.Generator) -> Tensor:
    """foolbox's random start for one image: ``[K, *shape]`` offsets, one per radius, drawn in that order.

    L2: uniform in the ball (``uniform_l2_n_balls``: the first n coordinates of a uniform point on the sphere of
    R^(n+2), Voelker et al. 2017) times eps; linf: uniform in [-eps, eps] per coordinate.
    """
    n = math.prod(shape)
    out = []
    for eps in epsilons:
        if norm == "l2":
            sphere = torch.randn(n + 2, generator=generator)
            out.append(eps * (sphere / sphere.norm())[:n].view(*shape))
        else:
            out.append(eps * (2 * torch.rand(tuple(shape), generator=generator) - 1))
    return torch.stack(out)


def pgd(
    model: nn.Module, origin: Tensor, classes: Tensor, space: SearchSpace, eps: float, *, norm: str, steps: int,
    variant: str, start: Tensor | None, chunk_size: int,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Untargeted PGD in ``space`` (coordinates ``origin``): ascend CE(f(x), y) in the ``norm`` ball of radius ``eps``.

    x_{t+1} = Proj(x_t + a * sign(g)) (linf) or Proj(x_t + a * g / ||g||_2) (l2), g = d CE / dx.

    ``"foolbox"``, as foolbox 3's ``L2PGD``/``LinfPGD`` called by zifanw/boundary: x_0 = clip(x + ``start``) (a random
    point of the ball), a = rel_stepsize * eps with the authors' rel_stepsize = 2 eps / steps, every step taken,
    success judged at the last iterate. ``"first_crossing"``: x_0 = x, a = 2.5 eps / steps, and each row stops at
    its first misclassified iterate (a point just past the boundary). Returns the points and whether each is
    misclassified.
    """
    step = 2 * eps / steps * eps if variant == "foolbox" else PGD_STEP_FACTOR * eps / steps
    out, success = origin.detach().clone(), torch.zeros(origin.shape[0], dtype=torch.bool, device=origin.device)
    labels = classes.to(origin.device)

    def ascend(points: Tensor, base: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """One step from ``points`` and the logits at ``points``."""
        leaf, logits = space.logits(model, points)
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, target, reduction="sum"), leaf)
        direction = grad.sign() if norm == "linf" else grad / _view(norm_of(grad, "l2").clamp_min(TINY), grad)
        return project(leaf.detach() + step * direction, base, eps, norm, space), logits.detach()

    for index in chunks(origin.shape[0], chunk_size):
        base, target = origin[index].detach(), labels[index]
        if variant == "foolbox":
            current = space.clamp(base + start[index].to(base)) if start is not None else base.clone()
            for _ in range(steps):
                current, _ = ascend(current, base, target)
            with torch.inference_mode():
                out[index], success[index] = current, model(space.to_model(current)).argmax(dim=1) != target
            continue
        current, done = base.clone(), torch.zeros(base.shape[0], dtype=torch.bool, device=origin.device)
        for t in range(steps + 1):
            rows = torch.nonzero(~done).flatten()
            if rows.numel() == 0:
                break
            if t == steps:  # the last iterate is only judged
                with torch.inference_mode():
                    done[rows] = model(space.to_model(current[rows])).argmax(dim=1) != target[rows]
                break
            moved, logits = ascend(current[rows], base[rows], target[rows])
            hit = logits.argmax(dim=1) != target[rows] if t > 0 else torch.zeros_like(rows, dtype=torch.bool)
            done[rows[hit]] = True
            current[rows[~hit]] = moved[~hit]
        out[index], success[index] = current, done
    return out, success


@dataclass
class Boundary:
    """The closest adversarial found per image (survey eq. 28: x' with F(x') != F(x), ||x' - x|| small)."""

    points: Tensor  # [B, C, H, W] x' in the model's input space
    epsilon: Tensor  # [B] radius of the PGD search that produced x' (cw_epsilon for a CW point; NaN if none)
    distance: Tensor  # [B] ||x' - x||_2 in the search space, the distance the closest point is chosen by
    success: Tensor  # [B] bool: x' is misclassified; False means the fallback point, not adversarial
    predicted: Tensor  # [B] argmax f(x')
    attack: tuple[str, ...]  # per image: "pgd", "cw" or "none" (no attack succeeded)

    def extras(self) -> dict[str, Any]:
        return {
            "boundary_points": self.points.detach().cpu(),
            "boundary_epsilon": self.epsilon.cpu(),
            "boundary_distance": self.distance.cpu(),
            "attack_success": self.success.cpu(),
            "boundary_class": self.predicted.cpu(),
            "boundary_attack": self.attack,
        }


def pgd_ladder(
    model: nn.Module, origin: Tensor, classes: Tensor, space: SearchSpace, epsilons: Sequence[float], *, norm: str,
    steps: int, variant: str, generator: torch.Generator, chunk_size: int,
    progress: Callable[[float], None] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """PGD at each radius, smallest first; an image keeps the point of the smallest radius that succeeds.

    As ``get_boundary_points`` of zifanw/boundary (``boundary/core.py``), where a later radius replaces a point
    only if the earlier ones failed. An image with no success keeps the largest radius's point (the repository keeps
    the first one). Random starts are drawn image by image, every radius at once, before any attack.
    """
    if norm not in NORMS:
        raise ParameterError(f"norm must be one of {list(NORMS)}; got {norm!r}")
    batch = origin.shape[0]
    starts = None
    if variant == "foolbox":
        starts = torch.stack([random_starts(origin.shape[1:], epsilons, norm, generator) for _ in range(batch)], 1)
    best, radius = origin.clone(), torch.full((batch,), float("nan"), dtype=torch.float64)
    success, pending = torch.zeros(batch, dtype=torch.bool), torch.arange(batch)
    for i, eps in enumerate(epsilons):
        if pending.numel() == 0:
            break
        start = None if starts is None else starts[i][pending]
        found, ok = pgd(
            model, origin[pending.to(origin.device)], classes[pending], space, eps, norm=norm, steps=steps,
            variant=variant, start=start, chunk_size=chunk_size,
        )  # fmt: skip
        ok = ok.cpu()
        take = ok | (i == len(epsilons) - 1)
        best[pending[take].to(best.device)] = found[take.to(found.device)]
        radius[pending[take]] = eps
        success[pending[ok]] = True
        pending = pending[~ok]
        if progress is not None:
            progress((i + 1) / len(epsilons))
    return best, radius, success


def boundary_search(
    model: nn.Module, inputs: Tensor, classes: Tensor, pixel_space: PixelSpace, params: dict[str, Any], *,
    method: str, generator: torch.Generator, chunk_size: int, progress: Callable[[float], None] | None = None,
) -> Boundary:  # fmt: skip
    """The closest adversarial example by the authors' pipeline (``BA_pytorch.boundary_search``, "PGDs+CW").

    PGD over the radius ladder and Carlini-Wagner L2 (``_carlini_wagner.py``, clipped to ``cw_epsilon``) each propose
    a point; the one closer in L2 among those that are misclassified is kept (``take_closer_bd``). With no
    misclassified proposal the PGD fallback (largest radius) is kept and ``success`` is False. Deviation: the
    repository keeps a failed PGD point unless a misclassified CW point is *closer*; here a misclassified point always
    wins over a point that is not one.
    """
    space = SearchSpace.of(pixel_space, params["space"], inputs)
    origin = space.to_search(inputs).detach()
    batch, attacks = origin.shape[0], params["attacks"]
    share = 0.5 if attacks == "pgd+cw" else 1.0
    report = progress or (lambda _f: None)
    best, radius = origin.clone(), torch.full((batch,), float("nan"), dtype=torch.float64)
    success, attack = torch.zeros(batch, dtype=torch.bool), ["none"] * batch
    if "pgd" in attacks:
        best, radius, success = pgd_ladder(
            model, origin, classes, space, parse_epsilons(params["epsilons"], method), norm=params["norm"],
            steps=params["pgd_steps"], variant=params["pgd_variant"], generator=generator, chunk_size=chunk_size,
            progress=lambda f: report(share * f),
        )  # fmt: skip
        attack = ["pgd" if ok else "none" for ok in success.tolist()]
    if "cw" in attacks:
        found, ok = carlini_wagner_l2(
            model, origin, classes, space, steps=params["cw_steps"], binary_steps=params["cw_binary_steps"],
            stepsize=params["cw_stepsize"], epsilon=params["cw_epsilon"], chunk_size=chunk_size,
            progress=lambda f: report(1 - share + share * f),
        )  # fmt: skip
        ok = ok.cpu()
        closer = norm_of(found - origin, "l2").cpu() < norm_of(best - origin, "l2").cpu()
        take = ok & (~success | closer)
        best[take.to(best.device)] = found[take.to(found.device)]
        radius[take] = params["cw_epsilon"]
        success |= ok
        attack = ["cw" if t else a for t, a in zip(take.tolist(), attack, strict=True)]
    points = space.to_model(best).detach()
    with torch.inference_mode():
        predicted = model(points).argmax(dim=1).cpu()
    distance = norm_of(best - origin, "l2").cpu().double()
    return Boundary(points, radius, distance, success, predicted, tuple(attack))

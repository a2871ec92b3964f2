"""Robustness of explanations to small input perturbations: max- and average sensitivity, the local Lipschitz
estimate and relative input / output / representation stability. Lower is better for all of them.

Each measure re-explains perturbed copies ``x' = x + δ`` of every image with the caller's ``explainer`` (see
``base.Explainer``) and compares ``e' = Φ(x')`` with ``e = Φ(x)``, the explanation of the same class (the target, or
the prediction on ``x``). The copies are explained in stacked batches (``explanations.stacked``), and the five
measures drawing uniform perturbations share them: asked for together (``evaluate_many``) with the same ``radius``,
``samples`` and ``seed`` they cost one set of explanations (suite ``"perturbed_explanations"``).

Perturbations: copy ``s`` of every image is the ``s``-th draw of a ``torch.Generator`` seeded with ``seed`` (the
values one draw ``[samples, B, C, H, W]`` gives, drawn copy by copy so memory stays at one chunk): uniform in
``[-radius, radius]`` (max/average sensitivity, relative stability) or Gaussian with standard deviation ``std``
(local Lipschitz, as Quantus). They are added in the model's pixel space, ``[0, 1]`` RGB for a wrapper from
``load_model`` (the perturbed image clipped to it), in the raw input space for a plain ``nn.Module`` (Quantus' and
Captum's convention: no clipping). Input distances ``||x - x'||`` are taken in that same space. Explanations are
compared as the explainer returns them (per-channel attributions or maps), flattened, in float64.

Reference: Quantus 0.6 (``quantus.metrics.robustness``); its per-draw formulas are reproduced, and the tests feed
it the same perturbations. Where this module differs on purpose, the measure's docstring says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xai_core.hooks import capture_layer
from xai_core.metrics.base import Metric, MetricContext, MetricNotApplicable, MetricResult
from xai_core.metrics.explanations import Prepared, as_explanation, call, explain_all, prepare, stacked
from xai_core.metrics.perturbation import module_of
from xai_core.metrics.records import ScoreResult
from xai_core.metrics.registry import get, register, register_suite
from xai_core.params import BoolParam, FloatParam, IntParam
from xai_core.paths import PixelSpace

NEEDS = ("model", "inputs", "explainer")
SUITE = "perturbed_explanations"
EPS_MIN = 1e-6  # Agarwal et al.'s ε_min (Quantus' eps_min): the floor of every relative-stability denominator
RADIUS = FloatParam(
    "radius", 0.02,
    "half-width of the uniform perturbation of each pixel (L-inf radius), in [0, 1] pixel units for a model "
    "wrapper, in input units for a plain module (Quantus: lower_bound=0.2)",
    low=1e-6, high=1.0,
)  # fmt: skip
SAMPLES = IntParam("samples", 10, "perturbed copies of each image (Quantus: nr_samples=200)", low=1, high=1000)
SEED = IntParam("seed", 0, "seed of the perturbations' generator", low=0, high=2**31 - 1)
RELATIVE = BoolParam(
    "relative", True,
    "divide ||e' - e|| by ||e|| (Quantus and Captum); off: Yeh et al.'s unnormalised ||e' - e||",
)  # fmt: skip
SAME_PREDICTION = BoolParam(
    "same_prediction", True,
    "count only the copies the model predicts the same class for (Agarwal et al.: x' in the neighbourhood with "
    "the same prediction); an image with none scores NaN",
)  # fmt: skip
STD = FloatParam(
    "std", 0.1, "standard deviation of the Gaussian perturbation (Quantus' perturb_std), in pixel units for a wrapper",
    low=1e-6, high=1.0,
)  # fmt: skip
NORMALIZE = BoolParam(
    "normalize", True, "divide each explanation by its largest absolute value first (Quantus' normalise=True)"
)
YEH = "Yeh, Hsieh, Suggala, Inouye, Ravikumar. On the (In)fidelity and Sensitivity of Explanations. NeurIPS 2019"
YEH_URL = "https://arxiv.org/abs/1901.09392"
AGARWAL = (
    "Agarwal, Johnson, Pawelczyk, Krishna, Saxena, Zitnik, Lakkaraju. Rethinking Stability for Attribution-based "
    "Explanations. ICLR 2022 PAIR2Struct workshop"
)
AGARWAL_URL = "https://arxiv.org/abs/2203.06877"


@dataclass(frozen=True, kw_only=True)
class RobustnessResult(ScoreResult):
    """A robustness score with what produced it.

    Attributes:
        draws: the measure for each perturbed copy ``[samples, B]`` (NaN where a copy does not count).
        worst: the copy with the largest value per image ``[B]`` (-1 where none counts).
        worst_inputs: that copy of each image ``[B, C, H, W]`` in the model's input space (the image itself where
            none counts), for display.
    """

    draws: np.ndarray
    worst: np.ndarray
    worst_inputs: np.ndarray


class Perturbations:
    """Copy ``s`` of the images' noise ``[B, C, H, W]``, drawn in order from one seeded generator (see module)."""

    def __init__(self, kind: str, scale: float, shape: torch.Size, seed: int) -> None:
        self.kind, self.scale, self.shape, self.seed = kind, scale, shape, seed
        self.generator = torch.Generator().manual_seed(seed)
        self.drawn: dict[int, Tensor] = {}
        self.next = 0

    def copy(self, s: int) -> Tensor:
        while self.next <= s:
            if self.kind == "uniform":
                noise = (torch.rand(self.shape, generator=self.generator) * 2 - 1) * self.scale
            else:
                noise = torch.randn(self.shape, generator=self.generator) * self.scale
            self.drawn[self.next] = noise
            self.next += 1
        return self.drawn[s]

    def rows(self, copies: Tensor, images: Tensor) -> Tensor:
        """The noise of rows ``(copies[i], images[i])``; copies before the first are forgotten."""
        first = int(copies.min())
        for s in [s for s in self.drawn if s < first]:
            del self.drawn[s]
        return torch.stack([self.copy(int(s))[int(b)] for s, b in zip(copies, images, strict=True)])


def representation_layer(module: nn.Module) -> nn.Module:
    """The leaf module registered just before the last leaf that owns parameters: the features the classifier
    reads (``avgpool`` of a ResNet, ``global_pool.flatten`` of a timm EfficientNet, ``Flatten`` of a small
    ``Sequential``)."""
    leaves = [m for m in module.modules() if next(m.children(), None) is None]
    owners = [i for i, m in enumerate(leaves) if next(m.parameters(recurse=False), None) is not None]
    if not owners or owners[-1] == 0:
        raise MetricNotApplicable("relative_representation_stability: no layer feeds the model's last parameter layer")
    return leaves[owners[-1] - 1]


def _relative(a: Tensor, b: Tensor) -> Tensor:
    """``||(a - b) / a||_2`` per row, zeros of ``a`` replaced by ``EPS_MIN`` (Agarwal et al., Quantus)."""
    return ((a - b) / torch.where(a == 0, EPS_MIN, a)).flatten(1).norm(dim=1)


def _normalized(e: Tensor) -> Tensor:
    peak = e.flatten(1).abs().amax(dim=1).view(-1, *[1] * (e.ndim - 1))
    return torch.where(peak > 0, e / torch.where(peak > 0, peak, 1.0), e)


def perturbed_draws(
    ctx: MetricContext, kind: str, scale: float, samples: int, seed: int, wants: set[str], normalize: bool = False
) -> tuple[dict[str, np.ndarray], Prepared, Perturbations]:
    """Explain every perturbed copy and return the per-draw quantities ``[samples, B]`` the measures in ``wants``
    need: ``"diff"`` ``||e' - e||``, ``"reference"`` ``||e||`` (``[B]``), ``"dx"`` ``||x' - x||``, ``"rel_e"``,
    ``"rel_x"``, ``"rel_l"`` (relative changes of explanation, input and representation), ``"dh"`` ``||h' - h||``
    of the logits, and ``"kept"`` (the prediction is unchanged)."""
    assert ctx.explainer is not None
    run = prepare(ctx)
    space = PixelSpace.of(run.model)
    x, b = run.x, run.x.shape[0]
    pixels = space.to_pixels(x).detach()
    noise = Perturbations(kind, scale, pixels.shape, seed)
    e0 = explain_all(ctx.explainer, x, run.classes, run.chunk, as_explanation)
    if normalize:
        e0 = _normalized(e0)
    out = {name: np.full((samples, b), np.nan) for name in wants}
    layer = representation_layer(run.module) if "rel_l" in wants else None
    h0 = l0 = None
    if wants & {"dh", "kept", "rel_l"}:
        h0, l0 = (run.logits, None) if run.logits is not None and layer is None else _forward(run.module, x, layer)
    total = samples * b
    for copies, images in stacked(samples, b, run.chunk):
        moved = pixels[images] + noise.rows(copies, images).to(pixels)
        if space.bounded:
            moved = moved.clamp(0, 1)
        perturbed = space.to_model(moved)
        e = as_explanation(call(ctx.explainer, perturbed, run.classes[images]))
        if normalize:
            e = _normalized(e)
        ref = e0[images]
        where = (copies.numpy(), images.numpy())
        if "diff" in wants:
            out["diff"][where] = (e - ref).flatten(1).norm(dim=1).numpy()
        if "rel_e" in wants:
            out["rel_e"][where] = _relative(ref, e).numpy()
        if "dx" in wants:
            out["dx"][where] = (moved - pixels[images]).double().cpu().flatten(1).norm(dim=1).numpy()
        if "rel_x" in wants:
            out["rel_x"][where] = _relative(pixels[images].double().cpu(), moved.double().cpu()).numpy()
        if h0 is not None:
            h, rep = _forward(run.module, perturbed, layer)
            if "dh" in wants:
                out["dh"][where] = (h - h0[images]).norm(dim=1).numpy()
            if "kept" in wants:
                out["kept"][where] = (h.argmax(dim=1) == h0.argmax(dim=1)[images]).double().numpy()
            if "rel_l" in wants:
                assert rep is not None and l0 is not None
                out["rel_l"][where] = _relative(l0[images], rep).numpy()
        ctx.report(int(copies[-1] * b + images[-1] + 1) / total)
    if "reference" in wants:
        out["reference"] = e0.flatten(1).norm(dim=1).numpy()
    return out, run, noise


def _forward(module: nn.Module, x: Tensor, layer: nn.Module | None) -> tuple[Tensor, Tensor | None]:
    """Logits ``[N, K]`` and, with ``layer``, its flattened output ``[N, D]`` (float64, CPU), without autograd; one
    forward of the ``N`` images (a chunk of copies, or the images themselves)."""
    with torch.inference_mode():
        if layer is None:
            return module(x).double().cpu(), None
        with capture_layer(layer) as capture:
            logits = module(x)
        return logits.double().cpu(), capture.output.flatten(1).double().cpu()


def record(
    cls: type[Metric], draws: np.ndarray, aggregate: str, run: Prepared, noise: Perturbations, space: PixelSpace
) -> RobustnessResult:
    """The per-image ``max`` or ``mean`` over the counted draws (NaN ones skipped), with the worst copies."""
    counted = ~np.isnan(draws)
    with np.errstate(invalid="ignore"):
        filled = np.where(counted, draws, -np.inf)
        worst = np.where(counted.any(axis=0), filled.argmax(axis=0), -1)
        if aggregate == "max":
            per_image = np.where(counted.any(axis=0), filled.max(axis=0), np.nan)
        else:
            per_image = np.where(counted.any(axis=0), np.where(counted, draws, 0).sum(0) / counted.sum(0), np.nan)
    pixels = space.to_pixels(run.x).detach()
    regenerated = Perturbations(noise.kind, noise.scale, pixels.shape, noise.seed)
    inputs = list(run.x)
    for i in sorted(np.flatnonzero(worst >= 0), key=lambda i: worst[i]):  # copies in drawing order
        moved = pixels[i] + regenerated.rows(torch.tensor([worst[i]]), torch.tensor([i]))[0].to(pixels)
        inputs[i] = space.to_model((moved.clamp(0, 1) if space.bounded else moved)[None])[0]
    value = float(np.nanmean(per_image)) if counted.any() else float("nan")
    return RobustnessResult(
        name=cls.name, value=value, per_image=per_image, higher_is_better=False, draws=draws, worst=worst,
        worst_inputs=torch.stack(inputs).detach().cpu().numpy(),
    )  # fmt: skip


# What each suite member needs from the draws, and its per-draw value from them (and its settings).
def _sensitivity(q: Mapping[str, np.ndarray], s: Mapping[str, Any]) -> np.ndarray:
    if not s["relative"]:
        return q["diff"]
    return q["diff"] / q["reference"][None]


def _stability(denominator: str) -> Any:
    def value(q: Mapping[str, np.ndarray], s: Mapping[str, Any]) -> np.ndarray:
        ratio = q["rel_e"] / np.maximum(q[denominator], EPS_MIN)
        return np.where(q["kept"] == 1.0, ratio, np.nan) if s["same_prediction"] else ratio

    return value


MEMBERS: dict[str, tuple[set[str], Any, str]] = {
    "max_sensitivity": ({"diff", "reference"}, _sensitivity, "max"),
    "avg_sensitivity": ({"diff", "reference"}, _sensitivity, "mean"),
    "relative_input_stability": ({"rel_e", "rel_x", "kept"}, _stability("rel_x"), "max"),
    "relative_output_stability": ({"rel_e", "dh", "kept"}, _stability("dh"), "max"),
    "relative_representation_stability": ({"rel_e", "rel_l", "kept"}, _stability("rel_l"), "max"),
}


@register_suite(SUITE)
def _suite(
    ctx: MetricContext, names: Sequence[str], settings: Mapping[str, Any]
) -> dict[str, MetricResult | MetricNotApplicable]:
    found: dict[str, MetricResult | MetricNotApplicable] = {}
    if "relative_representation_stability" in names:
        try:
            representation_layer(module_of(ctx.model))
        except MetricNotApplicable as why:  # the other members are still computed
            found["relative_representation_stability"] = why
    computed = [n for n in names if n not in found]
    if not computed:
        return found
    wants = set().union(*(MEMBERS[n][0] for n in computed))
    draws, run, noise = perturbed_draws(
        ctx, "uniform", settings["radius"], settings["samples"], settings["seed"], wants
    )
    space = PixelSpace.of(run.model)
    for name in computed:
        _, value, aggregate = MEMBERS[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            per_draw = value(draws, settings)
        found[name] = record(get(name), per_draw, aggregate, run, noise, space)
    return found


@register
class MaxSensitivity(Metric):
    """``SENS_max = max_s ||Φ(x + δ_s) - Φ(x)|| / ||Φ(x)||`` over ``samples`` uniform draws ``δ_s`` (Frobenius
    norms of the flattened explanations), Quantus' ``MaxSensitivity`` and Captum's ``sensitivity_max``;
    ``relative=False`` drops the denominator, as Yeh et al. define it. All draws count (Quantus' default)."""

    name, title = "max_sensitivity", "Max-sensitivity"
    paper, url = YEH, YEH_URL
    summary = "Largest relative change of the explanation over small uniform input perturbations."
    family, higher_is_better, needs, suite = "robustness", False, NEEDS, SUITE
    params = (RADIUS, SAMPLES, SEED, RELATIVE)


@register
class AvgSensitivity(Metric):
    """``SENS_avg = mean_s ||Φ(x + δ_s) - Φ(x)|| / ||Φ(x)||``, the Monte Carlo estimate of Yeh et al.'s expected
    sensitivity (Quantus' ``AvgSensitivity``); ``relative=False`` gives the unnormalised form."""

    name, title = "avg_sensitivity", "Average sensitivity"
    paper, url = YEH, YEH_URL
    summary = "Mean relative change of the explanation over small uniform input perturbations."
    family, higher_is_better, needs, suite = "robustness", False, NEEDS, SUITE
    params = (RADIUS, SAMPLES, SEED, RELATIVE)


@register
class RelativeInputStability(Metric):
    """``RIS = max_s ||(e - e'_s) / e||_2 / max(||(x - x'_s) / x||_2, ε_min)`` (Agarwal et al.; zeros of the
    divisors become ``ε_min = 1e-6``), over the copies predicted as ``x`` is.

    Quantus adds ``ε_min`` to a zero denominator instead of flooring it (the same unless a denominator lies in
    ``(0, 1e-6)``), and its ``np.max`` makes an image NaN as soon as one copy changes prediction; the paper takes
    the maximum over the copies that keep it, as here. Quantus' default perturbation is one-sided,
    ``U[0.02, 0.2]``; here it is symmetric (``radius``), as for the other measures."""

    name, title = "relative_input_stability", "Relative input stability (RIS)"
    paper, url = AGARWAL, AGARWAL_URL
    summary = "Largest relative change of the explanation per relative change of the input."
    family, higher_is_better, needs, suite = "robustness", False, NEEDS, SUITE
    params = (RADIUS, SAMPLES, SEED, SAME_PREDICTION)


@register
class RelativeOutputStability(Metric):
    """``ROS = max_s ||(e - e'_s) / e||_2 / max(||h(x) - h(x'_s)||_2, ε_min)`` with ``h`` the logits (Agarwal et
    al.), over the copies predicted as ``x`` is (see ``RelativeInputStability``)."""

    name, title = "relative_output_stability", "Relative output stability (ROS)"
    paper, url = AGARWAL, AGARWAL_URL
    summary = "Largest relative change of the explanation per change of the logits."
    family, higher_is_better, needs, suite = "robustness", False, NEEDS, SUITE
    params = (RADIUS, SAMPLES, SEED, SAME_PREDICTION)


@register
class RelativeRepresentationStability(Metric):
    """``RRS = max_s ||(e - e'_s) / e||_2 / max(||(L_x - L_x'_s) / L_x||_2, ε_min)`` (Agarwal et al.), ``L``
    the features the classifier reads (``representation_layer``: the output of the leaf module just before the
    last parameter layer; Quantus concatenates every layer's output unless told which). A zero feature (after a
    ReLU) divides by ``ε_min``, as in the paper, so RRS is dominated by features that were zero."""

    name, title = "relative_representation_stability", "Relative representation stability (RRS)"
    paper, url = AGARWAL, AGARWAL_URL
    summary = "Largest relative change of the explanation per relative change of the penultimate features."
    family, higher_is_better, needs, suite = "robustness", False, NEEDS, SUITE
    params = (RADIUS, SAMPLES, SEED, SAME_PREDICTION)


@register
class LocalLipschitzEstimate(Metric):
    """``L(x) = max_s ||Φ(x) - Φ(x + δ_s)||_2 / (||δ_s||_2 + 1e-10)`` over Gaussian draws ``δ_s`` of standard
    deviation ``std`` (Quantus' ``LocalLipschitzEstimate``; Alvarez-Melis & Jaakkola maximise over a ball by
    optimisation, Quantus and this module by sampling). With ``normalize`` each explanation is first divided by its
    own largest absolute value; Quantus divides by the largest over the whole batch, which makes an image's score
    depend on the other images in the batch (equal for a batch of one)."""

    name, title, family = "local_lipschitz_estimate", "Local Lipschitz estimate", "robustness"
    paper = "Alvarez-Melis, Jaakkola. On the Robustness of Interpretability Methods. ICML 2018 WHI workshop"
    url = "https://arxiv.org/abs/1806.08049"
    summary = "Largest change of the explanation per unit change of the input over Gaussian perturbations."
    higher_is_better, needs = False, NEEDS
    params = (STD, SAMPLES, SEED, NORMALIZE)

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        q, run, noise = perturbed_draws(
            ctx, "gaussian", settings["std"], settings["samples"], settings["seed"], {"diff", "dx"},
            settings["normalize"],
        )  # fmt: skip
        return record(type(self), q["diff"] / (q["dx"] + 1e-10), "max", run, noise, PixelSpace.of(run.model))

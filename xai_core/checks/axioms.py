"""Axiom checks (survey 3.3; Sundararajan et al. 2017): each reports a number and pass/fail at a stated tolerance.

* completeness: sum(attr) = f(x) - f(x') (path methods report the gap themselves; others are scored against a
  black baseline).
* dummy sensitivity (Sensitivity(b)): a feature the model ignores gets zero attribution.
* Sensitivity(a): an input and a baseline that differ in one feature and get different scores give that feature a
  non-zero attribution.
* implementation invariance: two functionally equal networks (batch norm folded into the conv before it) give
  the same attribution.
* linearity: attr(a f1 + b f2) = a attr(f1) + b attr(f2).
* symmetry preservation: for a model symmetric under a horizontal flip and a mirror-symmetric input and
  baseline, the attribution is mirror-symmetric.

**Tolerances: float noise versus failure.** The last three axioms hold exactly for a method that has them, so any
difference is either a real violation or rounding. In float32 rounding is large: measured on the bundled Lite0 and
the cat sample (float32 against float64 of the same computation, ``bench``-free numbers from issue 12's review),
the maps themselves agree to 6e-7 (relative L2), but the batch-norm-folded twin differs by 1.3e-2 (saliency),
1.2e-2 (input x gradient), 1.25e-3 (IG, 16 steps) and 6e-7 (Grad-CAM): folding reorders the float32 sums, ReLU6
units sitting at a kink switch, and the gradient jumps there. In float64 the same differences are 1e-15. So these
three checks run on a float64 copy of the model and the inputs (``FLOAT64_TOLERANCE`` = 1e-6: nine orders of
magnitude above float64 rounding, far below any real violation, which is O(1e-1) or more: LRP's rules differ
between a conv followed by batch norm and the folded conv), and their detail names the precision. The caller's
model is never changed (the copy is a deep copy).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from xai_core import registry
from xai_core.attribution import _module_of, attribute, resolve_layer
from xai_core.hooks import conv_bn_pairs
from xai_core.paths import COMPOSITE_BASELINES, PixelSpace, make_baseline
from xai_core.request import Request
from xai_core.targets import Output, Target

DEFAULT_TOLERANCE = 0.01  # completeness: the method's own approximation (quadrature steps), not rounding
FLOAT64_TOLERANCE = 1e-6  # exact axioms checked in float64 (see the module docstring)


@dataclass(frozen=True)
class AxiomResult:
    """``value`` is a relative error (0 is perfect); ``passed`` means ``value <= tolerance``."""

    axiom: str
    method: str
    value: float
    tolerance: float
    passed: bool
    detail: str
    higher_is_better: bool = False


def _result(axiom: str, method: str, value: float, tolerance: float, detail: str) -> AxiomResult:
    return AxiomResult(axiom, method, value, tolerance, bool(value <= tolerance), detail)


def _not_applicable(axiom: str, method: str, tolerance: float, why: str) -> AxiomResult:
    return AxiomResult(axiom, method, float("nan"), tolerance, False, f"not applicable: {why}")


Explainer = str | Request  # a method id (its parameters as keywords) or a whole request
Targets = int | Sequence[int] | Tensor | None


def method_name(method: Explainer) -> str:
    return method.method if isinstance(method, Request) else method


def _with_layer(model: Any, method: Explainer, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the CAM layer resolved to a module object, so it still names it inside a wrapping model."""
    name = method_name(method)
    if not registry.get(name).needs_layer:
        return params
    module, default = _module_of(model)
    named = method.layer if isinstance(method, Request) else None
    chosen = params.get("layer", named or default)
    return {**params, "layer": resolve_layer(module, chosen, name)}


def _float64(model: Any, inputs: Tensor) -> tuple[nn.Module, Tensor]:
    """A float64 deep copy of ``model``'s network and the inputs in float64: exact axioms are checked there."""
    module, _ = _module_of(model)
    return copy.deepcopy(module).double(), inputs.double()


def _relative(difference: Tensor, reference: Tensor) -> float:
    return float(difference.norm() / reference.norm().clamp(min=1e-12))


def completeness(
    model: Any,
    inputs: Tensor,
    method: Explainer,
    *,
    target: Targets = None,
    tolerance: float = DEFAULT_TOLERANCE,
    **params: Any,
) -> AxiomResult:
    """max over samples of |sum(attr) - (f(x) - f(x'))| / |f(x) - f(x')|."""
    module, _ = _module_of(model)
    result = attribute(model, inputs, method, target=target, **params)
    method = result.method
    if result.attributions.shape != inputs.shape:
        return _not_applicable("completeness", method, tolerance, "the map is not in input space")
    if result.completeness is not None:
        gap = result.completeness.gap
        change = result.completeness.f_input - result.completeness.f_baseline
        detail = "gap reported by the method against its own baseline"
    else:
        x = inputs.to(result.attributions.device)
        baseline = PixelSpace.of(model).to_model(torch.zeros_like(PixelSpace.of(model).to_pixels(x)))
        with torch.inference_mode():
            scores = module(torch.cat([x, baseline])).gather(1, result.target.repeat(2).view(-1, 1).to(x.device))
        change = (scores[: len(x), 0] - scores[len(x) :, 0]).cpu()
        gap = result.attributions.flatten(1).sum(1).cpu() - change
        detail = "against a black baseline"
    value = float((gap.abs() / change.abs().clamp(min=1e-12)).max())
    return _result("completeness", method, value, tolerance, detail)


class _IgnoreRegion(nn.Module):
    """The model applied to the input with a region zeroed: the model ignores that region by construction."""

    def __init__(self, model: nn.Module, keep: Tensor) -> None:
        super().__init__()
        self.model, self.keep = model, keep

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x * self.keep)


def dummy_sensitivity(
    model: Any, inputs: Tensor, method: Explainer, *, target: Targets = None, tolerance: float = 1e-6, **params: Any
) -> AxiomResult:
    """Attribution mass inside a region the model provably ignores (the left quarter), relative to the total."""
    module, _ = _module_of(model)
    keep = torch.ones_like(inputs[:1])
    keep[..., : inputs.shape[-1] // 4] = 0.0
    wrapped = _IgnoreRegion(module, keep.to(next(module.parameters()).device)).eval()
    result = attribute(wrapped, inputs, method, target=target, **_with_layer(model, method, params))
    maps = torch.as_tensor(result.to_maps()).abs()
    inside = maps[..., : inputs.shape[-1] // 4].flatten(1).sum(1)
    value = float((inside / maps.flatten(1).sum(1).clamp(min=1e-12)).max())
    return _result("dummy_sensitivity", result.method, value, tolerance, "share of |attribution| on ignored pixels")


def central_region(inputs: Tensor) -> Tensor:
    """The central square of half the image side, ``[H, W]`` bool: the one feature ``sensitivity_a`` changes."""
    height, width = inputs.shape[-2:]
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[height // 4 : height - height // 4, width // 4 : width - width // 4] = True
    return mask


def _own_baseline(model: Any, inputs: Tensor, method: Explainer, params: dict[str, Any]) -> Tensor | str:
    """The baseline x' the method integrates from, made from ``inputs``; black for a method without one.

    A string is the reason the axiom's premise (one input, one baseline) cannot be built for this method.
    """
    cls = registry.get(method_name(method))
    names = {p.name for p in cls.params}
    given = {**(method.params if isinstance(method, Request) else {}), **params}
    if "references" in names:
        return "the baseline is a distribution of reference images, not one input"
    value = given.get("baseline", next((p.default for p in cls.params if p.name == "baseline"), "black"))
    if isinstance(value, str) and value in COMPOSITE_BASELINES:
        return f"the {value!r} baseline is {len(COMPOSITE_BASELINES[value])} inputs, not one"
    generator = torch.Generator().manual_seed(int(given.get("seed", 0)))
    sigma = float(given.get("blur_sigma", 10.0))
    return make_baseline(value, inputs, PixelSpace.of(model), sigma=sigma, generator=generator)


def sensitivity_a(
    model: Any,
    inputs: Tensor,
    method: Explainer,
    *,
    target: Targets = None,
    region: Tensor | None = None,
    tolerance: float = 1e-3,
    **params: Any,
) -> AxiomResult:
    """Sensitivity(a) (Sundararajan, Taly, Yan 2017, sec. 2.1): for every input and baseline that differ in one
    feature but have different predictions, the differing feature gets a non-zero attribution.

    The pair is built on purpose: the baseline x' is the method's own (its ``baseline`` made from ``inputs`` and
    passed as a tensor, so that a blurred or random baseline stays the same point) or black for a method without
    one, and the input x~ = x' + m (x - x') equals x' outside the region m (``region`` ``[H, W]`` bool, default
    the central square of half the side) and the image inside it. ``value`` is the smallest, over the samples whose
    scores differ, of |sum of the attribution over the region| / |f(x~) - f(x')|: the share of the change credited
    to the feature (1 for a complete method, 0 for a gradient that saturated). Higher is better; it passes when
    ``value >= tolerance``. Not applicable when no sample's two scores differ, or for a method whose baseline is a
    reference set or a composite.
    """
    name = method_name(method)
    module, _ = _module_of(model)
    baseline = _own_baseline(model, inputs, method, params)
    if isinstance(baseline, str):
        return _not_applicable("sensitivity_a", name, tolerance, baseline)
    mask = central_region(inputs) if region is None else region.bool()
    if mask.shape != inputs.shape[-2:] or not bool(mask.any()):
        raise ValueError(f"region must be a non-empty [H, W] = {list(inputs.shape[-2:])} mask; got {tuple(mask.shape)}")
    mask = mask.to(inputs.device)
    changed = baseline + mask * (inputs - baseline)
    explainer: Explainer = method
    if "baseline" in {p.name for p in registry.get(name).params}:  # the method integrates from this very x'
        if isinstance(method, Request):
            explainer = method.replace(params={"baseline": baseline})
        else:
            params = {**params, "baseline": baseline}
    result = attribute(model, changed, explainer, target=target, **_with_layer(model, method, params))
    device = next((p.device for p in module.parameters()), inputs.device)
    with torch.inference_mode():
        output = cast(Output, result.output)
        explained = Target(result.target.to(device).repeat(2), output)  # the score the method explains
        scores = explained(module(torch.cat([changed, baseline]).to(device)))
    change = (scores[: len(inputs)] - scores[len(inputs) :]).double().cpu()
    credited = (result.attributions.double().cpu() * mask.cpu()).flatten(1).sum(1).abs()
    differ = change.abs() > 1e-6 * scores.abs().double().cpu().view(2, -1).amax(0).clamp(min=1.0)
    if not bool(differ.any()):
        return _not_applicable("sensitivity_a", name, tolerance, "input and baseline get the same score: no premise")
    value = float((credited[differ] / change[differ].abs()).min())
    detail = f"{int(differ.sum())} of {len(inputs)} samples change score; share of the change on the region"
    return AxiomResult("sensitivity_a", result.method, value, tolerance, value >= tolerance, detail, True)


def fold_batch_norm(model: nn.Module, sample: Tensor) -> nn.Module:
    """A deep copy with every batch norm that directly follows a conv folded into that conv (same function)."""
    folded = copy.deepcopy(model)
    pairs = conv_bn_pairs(folded, sample)
    with torch.no_grad():
        for conv_name, bn_name in pairs:
            conv = cast(nn.Conv2d, folded.get_submodule(conv_name))
            bn = cast(nn.BatchNorm2d, folded.get_submodule(bn_name))
            mean, var = cast(Tensor, bn.running_mean), cast(Tensor, bn.running_var)
            scale = bn.weight / torch.sqrt(var + bn.eps)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(mean)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter((bias - mean) * scale + bn.bias)
            # The batch norm becomes the identity: y = (x - 0) / sqrt(1 - eps + eps) * 1 + 0
            mean.zero_()
            var.fill_(1.0 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.zero_()
    return folded


def implementation_invariance(
    model: Any,
    inputs: Tensor,
    method: Explainer,
    *,
    target: Targets = None,
    tolerance: float = FLOAT64_TOLERANCE,
    **params: Any,
) -> AxiomResult:
    """Relative difference between the maps of the model and of its batch-norm-folded twin, in float64."""
    params = _with_layer(model, method, params)
    if "layer" in params:  # the same layer in the float64 copy, by name
        module0, _ = _module_of(model)
        layer_name = next(n for n, m in module0.named_modules() if m is params["layer"])
    module, inputs = _float64(model, inputs)
    if "layer" in params:
        params["layer"] = module.get_submodule(layer_name)
    sample = inputs.to(next(module.parameters()).device)
    pairs = len(conv_bn_pairs(module, sample))
    if pairs == 0:
        return _not_applicable(
            "implementation_invariance", method_name(method), tolerance, "no conv -> batch norm pair to fold"
        )
    twin = fold_batch_norm(module, sample)
    original = attribute(module, inputs, method, target=target, **params)
    if "layer" in params:  # the same layer in the twin, by name
        params["layer"] = twin.get_submodule(next(n for n, m in module.named_modules() if m is params["layer"]))
    folded = attribute(twin, inputs, method, target=original.target, **params)
    value = _relative(folded.attributions - original.attributions, original.attributions)
    return _result(
        "implementation_invariance", original.method, value, tolerance, f"{pairs} batch norms folded; float64"
    )


class _Combination(nn.Module):
    def __init__(self, first: nn.Module, second: nn.Module, a: float, b: float) -> None:
        super().__init__()
        self.first, self.second, self.a, self.b = first, second, a, b

    def forward(self, x: Tensor) -> Tensor:
        return self.a * self.first(x) + self.b * self.second(x)


def linearity(
    model: Any,
    inputs: Tensor,
    method: Explainer,
    *,
    target: Targets = None,
    weights: Sequence[float] = (0.7, 0.3),
    seed: int = 0,
    tolerance: float = FLOAT64_TOLERANCE,
    **params: Any,
) -> AxiomResult:
    """attr(a f + b g) vs a attr(f) + b attr(g), with g a copy of f whose weights are perturbed (seeded); float64."""
    if registry.get(method_name(method)).needs_layer:
        return _not_applicable(
            "linearity", method_name(method), tolerance, "a layer map of f says nothing about a f + b g"
        )
    module, inputs = _float64(model, inputs)
    other = copy.deepcopy(module)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in other.parameters():
            noise = torch.randn(parameter.shape, generator=generator).to(parameter)
            parameter.add_(0.1 * parameter.abs().mean() * noise)
    a, b = weights
    first = attribute(module, inputs, method, target=target, **params)
    target = first.target
    second = attribute(other, inputs, method, target=target, **params)
    combined = attribute(_Combination(module, other, a, b).eval(), inputs, method, target=target, **params)
    expected = a * first.attributions + b * second.attributions
    value = _relative(combined.attributions - expected, expected)
    return _result("linearity", first.method, value, tolerance, f"a={a}, b={b}; float64")


class _MirrorSymmetric(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x) + self.model(x.flip(-1))


def symmetry_preservation(
    model: Any,
    inputs: Tensor,
    method: Explainer,
    *,
    target: Targets = None,
    tolerance: float = FLOAT64_TOLERANCE,
    **params: Any,
) -> AxiomResult:
    """How far the map of a flip-symmetric model on a mirror-symmetric input is from its own mirror image (float64)."""
    name = method_name(method)
    if registry.get(name).needs_layer:
        return _not_applicable("symmetry_preservation", name, tolerance, "the layer runs twice per forward here")
    module, inputs = _float64(model, inputs)
    symmetric_input = 0.5 * (inputs + inputs.flip(-1))
    maps = attribute(_MirrorSymmetric(module).eval(), symmetric_input, method, target=target, **params).attributions
    value = _relative(maps - maps.flip(-1), maps)
    detail = "mirror-symmetric model, input and baseline; float64"
    return _result("symmetry_preservation", name, value, tolerance, detail)


def check_axioms(
    model: Any, inputs: Tensor, method: Explainer, *, target: Targets = None, **params: Any
) -> list[AxiomResult]:
    """Every axiom above for one method, each with its default tolerance."""
    return [
        check(model, inputs, method, target=target, **params)
        for check in (
            completeness,
            dummy_sensitivity,
            sensitivity_a,
            implementation_invariance,
            linearity,
            symmetry_preservation,
        )
    ]

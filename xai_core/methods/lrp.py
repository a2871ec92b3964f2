"""Layer-wise Relevance Propagation (Bach et al. 2015) with zennit's rules and composites.

The class score ``R = f_c(x)`` (the logit: LRP explains the score before the softmax) is redistributed layer by
layer down to the pixels; each affine layer's share follows its rule (``_lrp_rules``), chosen per layer by a
composite, as zennit 0.5.1 names them: ``epsilon_plus_flat`` is zennit's ``EpsilonPlusFlat`` (flat rule for the
first layer, z+ = alpha1-beta0 for the other convolutions, epsilon for dense layers), and so on. The single-rule
composites (``epsilon``, ``gamma``, ``alpha1_beta0``, ``zplus``) use one rule for every convolution and dense layer.

How the rest of a real network is treated (``hooks.relevance.relevance_rules``), against zennit:

* Batch norm (eval mode) that consumes a convolution's output is folded into it (W' = s W, b' = s (b - mu) + beta),
  as zennit's ``MergeBatchNorm`` canonizers do, so z+ and gamma see the effective weights. Found from the forward
  pass itself, so timm's ``BatchNormAct2d`` and non-``Sequential`` blocks are covered (zennit's
  ``SequentialMergeBatchNorm`` finds only pairs inside ``nn.Sequential``). A batch norm on its own gets the epsilon
  rule as a per-channel affine layer (Captum's choice; zennit passes relevance through it unchanged).
* ReLU and ReLU6 pass relevance unchanged (zennit's ``Pass`` for activations; Captum's LRP too). Above ReLU6's clip
  the gradient is zero but relevance still passes: there epsilon-LRP and gradient x input part.
* Residual additions ``a + b`` split relevance in proportion, R_a = a R / (a + b) (zennit's ``Norm`` rule on its
  ``Sum`` module; zennit applies it only where a canonizer has inserted ``Sum``, e.g. torchvision's ResNet; on timm's
  EfficientNet zennit would copy R to both branches, doubling it). Average pooling and means likewise (``Norm``).
* Max pooling routes relevance to the maximum (the gradient), as zennit; padding, reshapes and dropout pass it.
* SiLU, GELU, products of activations, layer norm...: no rule, ``HookError`` naming them (zennit passes
  every activation silently).

On a ReLU network, epsilon-LRP with epsilon -> 0 equals gradient x input (survey section 2.2; Ancona et al. 2018):
``lrp_vs_gradient_x_input`` measures it on any model. The survey files LRP under the vanilla gradients (section 2.2,
next to gradient x input): one backward pass with modified local rules, no path, no bias terms of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from xai_core.gradients import input_gradient
from xai_core.hooks.relevance import STABILIZER, RelevanceStats, relevance_rules, relu_for_relu6
from xai_core.methods import _lrp_rules as rules
from xai_core.methods.base import Context, Method
from xai_core.params import ChoiceParam, FloatParam, ParameterError
from xai_core.paths import PixelSpace
from xai_core.registry import register
from xai_core.targets import Target, resolve_target

# name -> (first layer, other convolutions, dense layers); None: the first layer gets its kind's rule
COMPOSITES: dict[str, tuple[str | None, str, str]] = {
    "epsilon_plus_flat": ("flat", "alpha1_beta0", "epsilon"),
    "epsilon_plus": (None, "alpha1_beta0", "epsilon"),
    "epsilon_alpha2_beta1_flat": ("flat", "alpha2_beta1", "epsilon"),
    "epsilon_alpha2_beta1": (None, "alpha2_beta1", "epsilon"),
    "epsilon_gamma_box": ("z_box", "gamma", "epsilon"),
    "epsilon": (None, "epsilon", "epsilon"),
    "gamma": (None, "gamma", "gamma"),
    "alpha1_beta0": (None, "alpha1_beta0", "alpha1_beta0"),
    "zplus": (None, "zplus", "zplus"),
}
COMPOSITE = ChoiceParam(
    "composite", "epsilon_plus_flat", "which rule each layer gets (zennit's composite names)", choices=tuple(COMPOSITES)
)
EPSILON = FloatParam("epsilon", 1e-6, "epsilon rule's stabiliser (zennit's default)", low=1e-12, high=100.0)
GAMMA = FloatParam("gamma", 0.25, "gamma rule's boost of positive weights (zennit's default)", low=0.0, high=10.0)


def _box(space: PixelSpace, channels: int) -> tuple[Tensor, Tensor]:
    if not space.bounded:
        raise ParameterError(
            "lrp: parameter 'composite' must not be 'epsilon_gamma_box' for a plain module: the z-box rule needs the "
            "input's value range (use a model from load_model, whose pixels lie in [0, 1]); got 'epsilon_gamma_box'"
        )
    low, high = torch.zeros(1, channels, 1, 1), torch.ones(1, channels, 1, 1)
    return space.to_model(low), space.to_model(high)


def _rule(name: str, epsilon: float, gamma: float, box: tuple[Tensor, Tensor] | None) -> rules.Rule:
    if name == "epsilon":
        return rules.epsilon(epsilon)
    if name == "gamma":
        return rules.gamma(gamma)
    if name in ("alpha1_beta0", "zplus", "alpha2_beta1"):
        alpha, beta = (2.0, 1.0) if name == "alpha2_beta1" else (1.0, 0.0)
        return rules.alpha_beta(alpha, beta, bias=name != "zplus")
    if name == "flat":
        return rules.flat
    assert box is not None
    return rules.z_box(*box)


def composite_rules(
    composite: str, epsilon: float, gamma: float, box: tuple[Tensor, Tensor] | None = None
) -> tuple[Any, float]:
    """``rule_for(kind, first)`` of a composite, for ``relevance_rules``, and the stabiliser of its sums and pools.

    zennit stabilises sums and average pools by 1e-6 whatever the epsilon; the single-rule ``epsilon`` composite
    uses its epsilon there too (Captum's LRP does), so that epsilon -> 0 gives gradient x input exactly.
    """
    first, conv, dense = COMPOSITES[composite]
    by_name = {n: _rule(n, epsilon, gamma, box) for n in {first, conv, dense, "epsilon"} if n is not None}

    def rule_for(kind: str, is_first: bool) -> rules.Rule:
        if kind == "batch_norm":
            return by_name["epsilon"]
        if is_first and first is not None and (first != "z_box" or kind == "conv"):  # zennit: z-box on convs only
            return by_name[first]
        return by_name[conv if kind == "conv" else dense]

    return rule_for, epsilon if composite == "epsilon" else STABILIZER


def _logit_only(target: Target, method: str) -> None:
    if target.output != "logit":
        raise ParameterError(
            f"{method}: parameter 'output' must be 'logit' (LRP and DeepLIFT explain the score before the softmax, "
            f"as their papers do); got {target.output!r}"
        )


def propagate(
    model: nn.Module, inputs: Tensor, target: Target, rules_of: tuple[Any, float], *, clip_stats: bool = False
) -> tuple[Tensor, RelevanceStats]:
    """Relevance at the input when R = f_c(x) starts at the target logit (Captum's LRP scales by it too)."""
    rule_for, stabilizer = rules_of
    x = inputs.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        with relevance_rules(x, rule_for, stabilizer=stabilizer, clip_stats=clip_stats) as stats:
            logits = model(x)
        scores = target(logits).detach()
        start = torch.zeros_like(logits).scatter(1, target.classes.to(logits.device).view(-1, 1), scores.view(-1, 1))
        (relevance,) = torch.autograd.grad(logits, x, start)
    return relevance, stats


@register
class LRP(Method):
    name = "lrp"
    title = "Layer-wise Relevance Propagation (LRP)"
    family = "vanilla"
    paper = (
        "Bach, Binder, Montavon, Klauschen, Müller, Samek. On Pixel-Wise Explanations for Non-Linear Classifier "
        "Decisions by Layer-Wise Relevance Propagation. PLOS ONE 2015"
    )
    url = "https://doi.org/10.1371/journal.pone.0130140"
    summary = "The class score redistributed layer by layer to the pixels by per-layer rules (zennit's composites)."
    reduction = "sum"
    params = (COMPOSITE, EPSILON, GAMMA)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return 2  # a relevance pass costs about two gradients (measured 1.5-2.1x on Lite0)

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        _logit_only(ctx.target, self.name)
        box = _box(ctx.space, inputs.shape[1]) if params["composite"] == "epsilon_gamma_box" else None
        rules_of = composite_rules(params["composite"], params["epsilon"], params["gamma"], box)
        relevance, _ = propagate(ctx.model, inputs, ctx.target, rules_of)
        return relevance


@dataclass(frozen=True)
class Agreement:
    """Epsilon-LRP against gradient x input on one batch (survey section 2.2)."""

    lrp: Tensor  # [B, C, H, W]
    gradient_x_input: Tensor  # [B, C, H, W]
    max_abs_diff: float  # max |LRP - GxI|
    relative_diff: float  # ||LRP - GxI||_2 / ||GxI||_2
    clipped_fraction: float  # share of ReLU6 inputs above the clip (0 on the ReLU copy)


def lrp_vs_gradient_x_input(
    model: Any, inputs: Tensor, *, target: int | None = None, epsilon: float = 1e-9, relu_copy: bool = False
) -> Agreement:
    """Epsilon-LRP and gradient x input of ``model`` (a ``load_model`` wrapper or a module) at ``inputs``.

    With ``relu_copy`` both run on the same weights with every ReLU6 computed as a ReLU
    (``hooks.relevance.relu_for_relu6``), where the two maps must agree up to epsilon and rounding; on the model as
    it is they part wherever a ReLU6 saturates (the gradient is 0 there, relevance passes).
    """
    module = getattr(model, "module", model)
    x = inputs.detach().to(next(module.parameters()).device)
    with relu_for_relu6() if relu_copy else nullcontext():
        predicted = None
        if target is None:
            with torch.inference_mode():
                predicted = module(x).argmax(dim=1)
            predicted = predicted.clone()  # a normal tensor: inference tensors cannot enter autograd
        tgt = resolve_target(target, x.shape[0], predicted)
        lrp, stats = propagate(module, x, tgt, composite_rules("epsilon", epsilon, 0.0), clip_stats=True)
        grad, _ = input_gradient(module, x, tgt)
    gxi = x * grad
    diff = lrp - gxi
    return Agreement(
        lrp=lrp.detach(),
        gradient_x_input=gxi.detach(),
        max_abs_diff=float(diff.abs().max()),
        relative_diff=float(diff.norm() / gxi.norm().clamp_min(1e-30)),
        clipped_fraction=0.0 if relu_copy else stats.clipped / max(stats.activations, 1),
    )

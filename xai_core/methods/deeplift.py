"""DeepLIFT with the Rescale rule (Shrikumar et al. 2017), as Captum's ``DeepLift``.

Input and baseline run as one batch ``[x; x']``; in the backward pass every elementwise activation passes
``m = (y - y') / (z - z')``, its output difference over its input difference (the Rescale rule, paper eq. 3; the
plain gradient where |z - z'| < 1e-10, as Captum), max pooling Captum's maxpool rule, and linear layers (conv,
linear, eval batch norm, additions, average pooling) their gradient, which is exactly their multiplier. The chain
rule for multipliers (paper sec. 3.3) then makes ``(x - x') * m`` add up to f(x) - f(x') (summation-to-delta):
``Attribution.completeness`` holds sum(attr) - (f(x) - f(x')). Baselines are IG's (``paths.make_baseline``).

Deliberate differences from Captum 0.9: ReLU6 (``nn.ReLU6``/``hardtanh``, Lite0's activation) gets the Rescale rule
(Captum knows only ``nn.ReLU`` and silently back-propagates the gradient through ReLU6), activations are found in
functional code too, and an op without a rule (SiLU, GELU, a product of activations...) raises ``HookError``.
The survey places DeepLIFT with the vanilla gradients (section 2.2: one modified backward pass, [77]).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from xai_core.extras import COMPLETENESS, Completeness
from xai_core.hooks.rescale import rescale_rule
from xai_core.methods.base import Context, Method
from xai_core.methods.integrated_gradients import BLUR_SIGMA, SEED
from xai_core.methods.lrp import _logit_only
from xai_core.paths import baseline_param, make_baseline
from xai_core.registry import register

EPS = 1e-10  # Captum's DeepLift eps: below this input difference the plain gradient is used


@register
class DeepLift(Method):
    name = "deeplift"
    title = "DeepLIFT (Rescale)"
    records = ("completeness",)
    family = "vanilla"
    paper = (
        "Shrikumar, Greenside, Kundaje. Learning Important Features Through Propagating Activation Differences. "
        "ICML 2017"
    )
    url = "https://arxiv.org/abs/1704.02685"
    summary = "(x - x') times multipliers from one backward pass where each ReLU passes Δout/Δin (Rescale rule)."
    reduction = "sum"
    params = (baseline_param(), BLUR_SIGMA, SEED)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return 3  # the reference forward, the input forward, the rescaled backward (measured 3.0x)

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        _logit_only(ctx.target, self.name)
        baseline = make_baseline(
            params["baseline"], inputs, ctx.space, sigma=params["blur_sigma"], generator=ctx.generator
        )
        x = inputs.detach().clone().requires_grad_(True)
        batch = x.shape[0]
        with torch.enable_grad():
            both = torch.cat([x, baseline.detach()])
            with rescale_rule(both, EPS, self.name):
                logits = ctx.model(both)
            scores = ctx.target.repeat(2)(logits)
            (multipliers,) = torch.autograd.grad(scores.sum(), x)
        attributions = (inputs - baseline) * multipliers
        ctx.extras[COMPLETENESS] = Completeness.of(attributions, scores[:batch], scores[batch:])
        return attributions.detach()

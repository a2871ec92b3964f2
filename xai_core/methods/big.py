"""Boundary-based Integrated Gradients (Wang, Fredrikson, Datta 2022; survey sec. 2.3, eq. 28).

BIG(x) = IG(x, x') = (x - x') * integral_0^1 grad f(x' + a (x - x')) da, with x' the closest adversarial example
of x: the point of smallest ``||x' - x||_2`` whose predicted class differs from the explained class. As the authors'
code (zifanw/boundary ``BA_pytorch("BIG")``, ``boundary_search`` with ``default.PIPELINE``, "PGDs+CW"), x' is the
closer of two proposals (``_adversarial.boundary_search``):

- PGD with L2 radii 36/255, 64/255, 0.3, 0.5, 0.7, 0.9, 1.1, 40 steps each, tried smallest first, foolbox's
  ``L2PGD`` with the authors' ``rel_stepsize = 2 eps / steps`` and its random start (seeded: ``seed``);
- Carlini-Wagner L2, 100 Adam steps of 0.01 per binary-search step (9), clipped to L2 <= 1.0 (``_carlini_wagner.py``);

both in the model's input space, the normalised tensor the network reads, as the authors attack it (radii and
distances in those units). The integral is Captum's ``riemann_trapezoid`` on 10 nodes: ``PT_IntegratedGradient``
defaults to 50, but the repository's ``PARAMETERS`` (``n_steps: 10``) reach it through ``**kwargs``. The recorded
completeness gap shows what 10 nodes cost; raise ``steps`` for a tighter integral.

Deviations from zifanw/boundary, each for a reason:
- The box is the image of the [0, 1] pixel cube per channel; the repository bounds every channel by the same
  ``[min, max]`` over channels (``data_min``/``data_max``), which admits values no image has. For a model normalised
  with one mean and std for every channel (the bundled EfficientNet-Lite0: 0.5, 0.5) the two boxes are the same.
- Carlini-Wagner's early abort is decided per image (foolbox decides it on the batch's summed loss).
- A misclassified proposal always wins over one that is not (the repository keeps a failed PGD point unless a
  closer misclassified CW point exists); an image for which nothing succeeds keeps PGD's largest-radius point (the
  repository keeps its first) and ``extras["attack_success"]`` says so.

The earlier settings stay reachable: ``norm="linf"``, ``space="pixels"``, ``epsilons`` the L-inf preset
"0.002,...,0.064", ``pgd_steps=20``, ``pgd_variant="first_crossing"`` and ``attacks="pgd"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from xai_core.methods._adversarial import BOUNDARY_PARAMS, boundary_search, scores_at, search_passes
from xai_core.methods.base import Context, Method
from xai_core.params import IntParam
from xai_core.paths import integrate_straight_path, quadrature, record_profile, rule_param
from xai_core.registry import register

STEPS = IntParam("steps", 10, "path nodes of the integral from the boundary point to the image", low=2, high=4096)


@register
class BoundaryIntegratedGradients(Method):
    name = "big"
    title = "Boundary-based Integrated Gradients (BIG)"
    records = ("completeness", "path")
    family = "integrated"
    paper = "Wang, Fredrikson, Datta. Robust Models Are More Interpretable Because Attributions Look Normal. ICML 2022"
    url = "https://arxiv.org/abs/2103.11257"
    summary = "Integrated Gradients from the closest adversarial example (PGD and Carlini-Wagner) to the image."
    reduction = "sum"
    params = (*BOUNDARY_PARAMS, STEPS, rule_param("riemann_trapezoid"))

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return search_passes(params) + int(params["steps"])

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        scores_at(ctx.model, inputs, ctx.target)  # validates the target before the search
        boundary = boundary_search(
            ctx.model, inputs, ctx.target.classes, ctx.space, params, method=self.name,
            generator=ctx.generator or torch.Generator().manual_seed(params["seed"]), chunk_size=ctx.chunk_size,
            progress=lambda f: ctx.report(0.5 * f),
        )  # fmt: skip
        alphas, weights = quadrature(params["rule"], params["steps"])
        path = integrate_straight_path(
            ctx.model, inputs, boundary.points, ctx.target, alphas, weights,
            chunk_size=ctx.chunk_size, progress=lambda f: ctx.report(0.5 + 0.5 * f),
        )  # fmt: skip
        record_profile(ctx.extras, path, path.attributions)
        ctx.extras.update(boundary.extras())
        return path.attributions

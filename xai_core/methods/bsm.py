"""Boundary-based Saliency Map (Wang, Fredrikson, Datta 2022; survey sec. 2.3, after eq. 28).

BSM(x) = grad f(x'), the gradient of the explained class's score at the closest adversarial example x' of x,
i.e. (for a piecewise-linear network) the normal of the nearby decision boundary rather than of the polytope x lies
in. As the authors' ``BA_pytorch("BSM")``: the plain saliency map (``PT_SaliencyGradient``, not multiplied by the
input) evaluated at the boundary point. x' is found by the search shared with BIG (PGD and Carlini-Wagner L2, the
closer misclassified point; see ``big.py`` for the settings and the deviations from the reference code).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from xai_core.gradients import input_gradient
from xai_core.methods._adversarial import BOUNDARY_PARAMS, boundary_search, scores_at, search_passes
from xai_core.methods.base import Context, Method
from xai_core.registry import register


@register
class BoundarySaliencyMap(Method):
    name = "bsm"
    title = "Boundary-based Saliency Map (BSM)"
    family = "integrated"
    paper = "Wang, Fredrikson, Datta. Robust Models Are More Interpretable Because Attributions Look Normal. ICML 2022"
    url = "https://arxiv.org/abs/2103.11257"
    summary = "Gradient of the class score at the closest adversarial example (the boundary's normal)."
    reduction = "max_abs"  # shown as a saliency map
    params = BOUNDARY_PARAMS

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return search_passes(params) + 1

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        f_input, _ = scores_at(ctx.model, inputs, ctx.target)
        boundary = boundary_search(
            ctx.model, inputs, ctx.target.classes, ctx.space, params, method=self.name,
            generator=ctx.generator or torch.Generator().manual_seed(params["seed"]), chunk_size=ctx.chunk_size,
            progress=ctx.report,
        )  # fmt: skip
        grad, f_boundary = input_gradient(ctx.model, boundary.points, ctx.target)
        ctx.extras.update(boundary.extras())
        ctx.extras["f_input"], ctx.extras["f_boundary"] = f_input.cpu(), f_boundary.cpu()
        return grad

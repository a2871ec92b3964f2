"""RectGrad: pass R through a ReLU only where its importance a * R exceeds the q-th percentile (survey eq. 5).

Kim, Seo, Jeon, Koo, Choe, Jeon 2019. As the authors' code (1202kbs/Rectified-Gradient,
``deepexplain/tensorflow/methods.py::RectifiedGradient``):

- every ReLU/ReLU6 passes ``R`` where ``a * R`` (signed) is above the per-sample q-th percentile of the layer
  (``nonlinearity_grad_override``, ``threshold`` with ``percentile(..., axis=[1, 2, 3])``); q = 98 by default
  (the rule lives in ``hooks.activation_rule("rectgrad")``);
- the map is the rectified gradient times the input (``get_symbolic_attribution`` returns ``g * x``): the default,
  ``times_input=True``; ``times_input=False`` gives the raw rectified gradient;
- the "padding trick" (``conv2d_grad_override``): no gradient passes through the one-unit border ring of a
  zero-padded convolution's output, which removes the frame zero padding paints on the maps (``hooks.padding_trick``
  says how TensorFlow's SAME flag is read in PyTorch; ``padding_trick="all"`` masks every convolution, as the
  authors' code does on a model built with SAME throughout, ``"off"`` none).

The map is summed over channels for display, as the authors' ``utils.preprocess`` does (``np.sum(..., axis=-1)``).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from xai_core.gradients import input_gradient
from xai_core.hooks.padding import PADDING_TRICK, padding_trick
from xai_core.methods.base import Context, Method
from xai_core.params import BoolParam, ChoiceParam, FloatParam
from xai_core.registry import register


@register
class RectGrad(Method):
    name = "rectgrad"
    title = "Rectified Gradient (RectGrad)"
    family = "vanilla"
    paper = (
        "Kim, Seo, Jeon, Koo, Choe, Jeon. Why are Saliency Maps Noisy? Cause of and Solution to Noisy Saliency Maps. "
        "ICCV Workshops 2019"
    )
    url = "https://arxiv.org/abs/1902.04893"
    summary = "Gradient x input with, at each ReLU, only the entries whose a * R is above the layer's q-th percentile."
    reduction = "sum"
    params = (
        FloatParam("q", 98.0, "percentile of a * R per layer and sample below which the signal is dropped", 0.0, 100.0),
        BoolParam("times_input", True, "multiply the rectified gradient by the input, as the authors' code (off: raw)"),
        ChoiceParam(
            "padding_trick", "padded", "zero the gradient on the border of zero-padded convolutions (all: every "
            "convolution; off: none)", PADDING_TRICK,
        ),
    )  # fmt: skip

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        with padding_trick(params["padding_trick"]) as trick:
            grad, _ = input_gradient(ctx.model, inputs, ctx.target, rule="rectgrad", q=params["q"], method=self.name)
        ctx.extras["padding_trick_convolutions"] = trick.masked
        return grad * inputs if params["times_input"] else grad

"""The Learn page's small demonstrations, computed by the engine itself: a saturating 1-D model explained by IG, the
gradient and gradient x input, and one ReLU's backward rules on a 3x3 exercise (the survey's Figure 3).

Why IG (survey eq. 2 and 12): beyond the saturation point of ``Saturating`` the gradient is zero although the input
moved the output; IG still adds up to f(x) - f(0). The rule probe is f(z) = sum(R * relu(z)) over a ``[1, 3, 3]``
tensor: the signal that reaches the ReLU from above is exactly R, so the gradient w.r.t. z is what each rule lets
through (``hooks.activation_rule``, the same probe as tests/test_rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xai_core.attribution import attribute
from xai_core.hooks import activation_rule
from xai_core.paths import RULES as QUADRATURE_RULES

SATURATING = {  # id -> (label, LaTeX, where the saturated region starts)
    "ramp": ("min(x, 1): hard saturation", r"f(x) = \min(x, 1)", 1.0),
    "tanh": ("tanh(2x): smooth, sigmoid-like", r"f(x) = \tanh(2x)", 1.0),
}
DEFAULT_RULE = "riemann_trapezoid"

# Survey Fig. 3: the ReLU's forward input and the signal arriving from the layer above in the backward pass.
RELU_FORWARD = np.array([[1.0, -1.0, 5.0], [2.0, -5.0, -7.0], [-3.0, 2.0, 4.0]])
RELU_SIGNAL = np.array([[-2.0, 3.0, -1.0], [6.0, -3.0, 1.0], [2.0, -1.0, 3.0]])
RELU_RULES = {  # engine rule id -> (title, what passes down, in LaTeX; R is the signal from above)
    "gradient": ("Backpropagation", r"\mathbf{1}[z > 0]\, R"),
    "deconvnet": ("Deconvnet", r"\mathbf{1}[R > 0]\, R"),
    "guided": ("Guided backpropagation", r"\mathbf{1}[z > 0]\,\mathbf{1}[R > 0]\, R"),
    "rectgrad": ("RectGrad", r"\mathbf{1}[a R > \tau_q]\, R"),
}

__all__ = [
    "DEFAULT_RULE",
    "QUADRATURE_RULES",
    "RELU_FORWARD",
    "RELU_RULES",
    "RELU_SIGNAL",
    "SATURATING",
    "Saturating",
    "Saturation",
    "relu_rules",
    "saturating_curve",
    "saturation",
]


class Saturating(nn.Module):
    """f(x) on the single input value; ``[B, 1, 1, 1] -> [B, 1]`` (one class)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        if kind not in SATURATING:
            raise ValueError(f"kind must be one of {list(SATURATING)}; got {kind!r}")
        self.kind = kind

    def forward(self, x: Tensor) -> Tensor:
        v = x.flatten(1)[:, :1]
        return v - F.relu(v - 1.0) if self.kind == "ramp" else torch.tanh(2.0 * v)


@dataclass(frozen=True)
class Saturation:
    """Everything the saturation demo shows, as numbers from the engine."""

    x: float
    f_input: float
    f_baseline: float
    ig: float  # IG attribution of the single feature (= the sum of all attributions)
    gap: float  # engine's completeness gap: sum(IG) - (f(x) - f(x'))
    gradient: float
    gradient_x_input: float
    alphas: np.ndarray  # IG's quadrature nodes
    scores: np.ndarray  # f at the nodes
    grad_norms: np.ndarray  # |f'| at the nodes


def saturation(kind: str, x: float, steps: int, rule: str = DEFAULT_RULE) -> Saturation:
    """IG (black baseline x' = 0), gradient and gradient x input of the toy at ``x``, all by ``attribute``.

    Raises:
        ParameterError: a rule that cannot use ``steps`` nodes (the trapezoid rule with one step).
    """
    model = Saturating(kind).eval()
    inputs = torch.full((1, 1, 1, 1), float(x))
    ig = attribute(model, inputs, "integrated_gradients", target=0, baseline="black", steps=steps, rule=rule)
    grad = attribute(model, inputs, "saliency", target=0)
    gxi = attribute(model, inputs, "input_x_gradient", target=0)
    if ig.completeness is None or ig.path is None:  # integrated_gradients declares both records
        raise RuntimeError("integrated_gradients recorded no completeness or path")
    alphas, scores, grad_norms, _ = ig.path.row(0)
    return Saturation(
        x=float(x),
        f_input=float(ig.completeness.f_input[0]),
        f_baseline=float(ig.completeness.f_baseline[0]),
        ig=float(ig.attributions.sum()),
        gap=float(ig.completeness.gap[0]),
        gradient=float(grad.attributions.sum()),
        gradient_x_input=float(gxi.attributions.sum()),
        alphas=alphas,
        scores=scores,
        grad_norms=grad_norms,
    )


def saturating_curve(kind: str, upper: float, points: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f and f' of the toy on a dense grid of [0, upper] (the background curves of the demo's plot)."""
    t = torch.linspace(0.0, max(upper, 1e-3), points, dtype=torch.float64).view(-1, 1, 1, 1).requires_grad_(True)
    f = Saturating(kind)(t)
    (grad,) = torch.autograd.grad(f.sum(), t)
    return t.detach().flatten().numpy(), f.detach().flatten().numpy(), grad.flatten().numpy()


def relu_rules(forward: np.ndarray, signal: np.ndarray, q: float) -> dict[str, np.ndarray]:
    """What each rule of ``RELU_RULES`` passes down through one ReLU, computed by ``hooks.activation_rule``."""
    r = torch.as_tensor(signal, dtype=torch.float64)[None]
    out = {}
    for rule in RELU_RULES:
        z = torch.as_tensor(forward, dtype=torch.float64)[None].clone().requires_grad_(True)
        with activation_rule(rule, q=q):
            score = (F.relu(z) * r).sum()
        (grad,) = torch.autograd.grad(score, z)
        out[rule] = grad[0].numpy() + 0.0  # + 0.0 turns -0.0 (a blocked negative entry) into 0.0
    return out

"""Activation backward rules on the survey's Figure 3 example, on ReLU/ReLU6/functional relu, and their errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from toys import images, linear_model, relu_cnn

import xai_core
from xai_core.hooks import HookError, activation_rule

# Survey Fig. 3: forward input of a ReLU and the signal R arriving from above in the backward pass.
FORWARD = torch.tensor([[1.0, -1.0, 5.0], [2.0, -5.0, -7.0], [-3.0, 2.0, 4.0]])
SIGNAL = torch.tensor([[-2.0, 3.0, -1.0], [6.0, -3.0, 1.0], [2.0, -1.0, 3.0]])
EXPECTED = {
    "gradient": [[-2.0, 0.0, -1.0], [6.0, 0.0, 0.0], [0.0, -1.0, 3.0]],  # R where the input was positive
    "deconvnet": [[0.0, 3.0, 0.0], [6.0, 0.0, 1.0], [2.0, 0.0, 3.0]],  # R where R is positive
    "guided": [[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 0.0, 3.0]],  # both
    # a * R = [[-2, 0, -5], [12, 0, 0], [0, -2, 12]]; its 50th percentile is 0, so only the two 12s pass.
    "rectgrad": [[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 0.0, 3.0]],
}


class Probe(nn.Module):
    """f(z) = sum(R * act(z)), so the signal reaching act's output in the backward pass is exactly R."""

    def __init__(self, act: nn.Module | None) -> None:
        super().__init__()
        self.act = act

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.act(z) if self.act is not None else F.relu(z)
        return (out * SIGNAL).sum().view(1, 1)


@pytest.mark.parametrize("rule", sorted(EXPECTED))
@pytest.mark.parametrize("act", [nn.ReLU(), nn.ReLU(inplace=True), nn.ReLU6(), nn.ReLU6(inplace=True), None])
def test_figure_3_rules(rule: str, act: nn.Module | None) -> None:
    z = FORWARD.clone()[None].requires_grad_(True)  # a batch of one sample: RectGrad's percentile is per sample
    with activation_rule(rule, q=50.0):
        out = Probe(act)(z)
    (grad,) = torch.autograd.grad(out.sum(), z)
    expected = torch.tensor(EXPECTED[rule])
    if rule == "gradient" and isinstance(act, nn.ReLU6):  # ReLU6 has no gradient where the input is above 6
        expected = expected * (FORWARD < 6)
    torch.testing.assert_close(grad[0], expected)


def test_relu6_rule_equals_relu_rule_below_the_clip() -> None:
    # Captum 0.9's GuidedBackprop returns the plain gradient on ReLU6 models; we must apply the rule.
    x = images()
    relu6 = xai_core.attribute(relu_cnn(activation=nn.ReLU6), x, "guided_backprop", target=1).attributions
    relu = xai_core.attribute(relu_cnn(activation=nn.ReLU), x, "guided_backprop", target=1).attributions
    plain = xai_core.attribute(relu_cnn(activation=nn.ReLU6), x, "saliency", target=1).attributions
    torch.testing.assert_close(relu6, relu)
    assert not torch.allclose(relu6, plain)


class SiluNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(F.silu(self.conv(x))).mean((2, 3)))


@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet", "rectgrad"])
def test_rule_refuses_models_it_cannot_reach(method: str) -> None:
    with pytest.raises(HookError, match=r"silu"):
        xai_core.attribute(SiluNet().eval(), images(), method)
    with pytest.raises(HookError, match=r"no ReLU or ReLU6"):
        xai_core.attribute(linear_model(shape=(3, 12, 12)), images(), method)

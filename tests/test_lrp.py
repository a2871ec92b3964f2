"""LRP against zennit 0.5.1 (every composite) and Captum 0.9 (epsilon), closed forms, refusals, and Lite0.

Tolerance: maps agree to 5e-5 of their largest value (float32; the same formulas in another order: observed <= 1.2e-5).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from timm.layers import Conv2dSame
from torch import nn
from toys import PixelWrapper, ResidualCNN, images, relu_cnn

import xai_core
from xai_core.hooks import hook_count
from xai_core.methods.lrp import COMPOSITES, lrp_vs_gradient_x_input

zennit_composites = pytest.importorskip("zennit.composites", reason="zennit is a test dependency")
from zennit.canonizers import NamedMergeBatchNorm, SequentialMergeBatchNorm  # noqa: E402
from zennit.layer import Sum  # noqa: E402
from zennit.rules import AlphaBeta, Epsilon, Gamma, ZPlus  # noqa: E402
from zennit.types import Linear  # noqa: E402

BOX = (-1.0, 1.0)  # PixelWrapper's model space: pixels in [0, 1] -> [-1, 1]


def zennit_composite(name: str, canonizers: list[Any]) -> Any:
    """zennit's composite of the same name; single-rule ones as a LayerMapComposite over zennit's base map."""
    named = {
        "epsilon_plus_flat": zennit_composites.EpsilonPlusFlat,
        "epsilon_plus": zennit_composites.EpsilonPlus,
        "epsilon_alpha2_beta1_flat": zennit_composites.EpsilonAlpha2Beta1Flat,
        "epsilon_alpha2_beta1": zennit_composites.EpsilonAlpha2Beta1,
    }
    if name in named:
        return named[name](canonizers=canonizers)
    if name == "epsilon_gamma_box":
        return zennit_composites.EpsilonGammaBox(low=BOX[0], high=BOX[1], canonizers=canonizers)
    rule = {
        "epsilon": Epsilon(1e-6),
        "gamma": Gamma(0.25),
        "alpha1_beta0": AlphaBeta(1.0, 0.0),
        "zplus": ZPlus(zero_params=["bias"]),
    }[name]
    return zennit_composites.LayerMapComposite([*zennit_composites.layer_map_base(), (Linear, rule)], canonizers)


def zennit_lrp(model: nn.Module, x: torch.Tensor, composite: Any, target: int) -> torch.Tensor:
    """zennit's attribution with R = f_c(x) at the target logit (on a copy: canonizers edit the model)."""
    model = copy.deepcopy(model)
    x = x.clone().requires_grad_(True)
    with composite.context(model) as modified:
        out = modified(x)
        start = torch.zeros_like(out)
        start[:, target] = out[:, target]
        (relevance,) = torch.autograd.grad(out, x, start)
    return relevance


def ours(model: nn.Module, x: torch.Tensor, composite: str, target: int = 1, **params: Any) -> torch.Tensor:
    wrapped = PixelWrapper(model) if composite == "epsilon_gamma_box" else model
    return xai_core.attribute(wrapped, x, "lrp", target=target, composite=composite, **params).attributions


def assert_maps_close(actual: torch.Tensor, expected: torch.Tensor, share: float = 5e-5) -> None:
    expected = expected.detach()
    torch.testing.assert_close(actual, expected, rtol=0, atol=share * float(expected.abs().max()))


class ZennitAdd(nn.Module):
    """``a + b`` through zennit's ``Sum`` module, which its composites give the Norm rule."""

    def __init__(self) -> None:
        super().__init__()
        self.sum = Sum()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.sum(torch.stack([a, b], dim=-1))


RESIDUAL_BN = [(["stem"], "bn0"), (["conv1"], "bn1"), (["conv2"], "bn2")]


# --- zennit ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("composite", sorted(COMPOSITES))
def test_every_composite_matches_zennit_on_a_conv_bn_relu_cnn(composite: str) -> None:
    model, x = relu_cnn(), images()
    expected = zennit_lrp(model, x, zennit_composite(composite, [SequentialMergeBatchNorm()]), target=1)
    assert_maps_close(ours(model, x, composite), expected)


@pytest.mark.parametrize("composite", ["epsilon_plus_flat", "epsilon_alpha2_beta1_flat", "epsilon_gamma_box", "gamma"])
def test_residual_sum_matches_zennits_sum_rule(composite: str) -> None:
    x = images()
    reference = ResidualCNN(adder=ZennitAdd())
    expected = zennit_lrp(reference, x, zennit_composite(composite, [NamedMergeBatchNorm(RESIDUAL_BN)]), target=2)
    assert_maps_close(ours(ResidualCNN(), x, composite, target=2), expected)


class SamePadded(nn.Module):
    """timm's Conv2dSame (F.pad, then conv2d) as the first layer, BN, ReLU6: the flat and z-box rules' padding."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv, self.bn, self.act = Conv2dSame(3, 5, 3, stride=2), nn.BatchNorm2d(5), nn.ReLU6()
        self.conv2, self.pool, self.fc = Conv2dSame(5, 4, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Linear(4, 3)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # zennit gives AvgPool modules the Norm rule but a functional mean the gradient: a module here
        return self.fc(self.pool(self.conv2(self.act(self.bn(self.conv(x))))).flatten(1))


@pytest.mark.parametrize("composite", ["epsilon_plus_flat", "epsilon_gamma_box"])
def test_same_padding_of_the_first_layer_matches_zennit(composite: str) -> None:
    model, x = SamePadded(), images()
    expected = zennit_lrp(model, x, zennit_composite(composite, [NamedMergeBatchNorm([(["conv"], "bn")])]), target=1)
    assert_maps_close(ours(model, x, composite), expected)


# --- Captum ---------------------------------------------------------------------------------------------------------


class NoFlattenModule(nn.Module):
    """relu_cnn's layers without ``nn.Flatten`` (Captum's LRP has no rule for it; it flattens functionally here)."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.body, self.fc = nn.Sequential(*list(base)[:-2]), base[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.body(x), 1))


@pytest.mark.parametrize("name", ["relu_cnn", "residual"])
def test_epsilon_rule_matches_captum_lrp(name: str) -> None:
    from captum.attr import LRP
    from captum.attr._utils.custom_modules import Addition_Module

    model = NoFlattenModule(relu_cnn()).eval() if name == "relu_cnn" else ResidualCNN(adder=Addition_Module())
    x = images()
    expected = LRP(copy.deepcopy(model)).attribute(x, target=1)  # epsilon = 1e-9 on every layer, BN unfolded
    assert_maps_close(ours(model, x, "epsilon", epsilon=1e-9), expected)


# --- closed forms ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["relu_cnn", "relu6_cnn", "residual", "input_batch_norm"])
def test_epsilon_lrp_equals_gradient_x_input_on_relu_networks(name: str) -> None:
    """Survey section 2.2 (Ancona et al. 2018): epsilon -> 0 LRP is gradient x input when no unit saturates."""
    torch.manual_seed(0)
    model = {
        "relu_cnn": relu_cnn,
        "relu6_cnn": lambda: relu_cnn(activation=nn.ReLU6),  # toy activations stay far below 6
        "residual": ResidualCNN,
        "input_batch_norm": lambda: nn.Sequential(nn.BatchNorm2d(3), relu_cnn()).eval(),  # BN with no conv before it
    }[name]()
    x = images()
    lrp = ours(model, x, "epsilon", epsilon=1e-9)
    gxi = xai_core.attribute(model, x, "input_x_gradient", target=1).attributions
    assert_maps_close(lrp, gxi)


def test_relu6_saturation_breaks_the_equality_and_the_relu_copy_restores_it() -> None:
    model, x = relu_cnn(activation=nn.ReLU6), images() * 40.0  # large inputs push units past the clip
    clipped = lrp_vs_gradient_x_input(model, x, target=1)
    unclipped = lrp_vs_gradient_x_input(model, x, target=1, relu_copy=True)
    assert clipped.clipped_fraction > 0.01 and clipped.relative_diff > 0.05
    assert unclipped.relative_diff < 1e-4 and unclipped.clipped_fraction == 0.0
    assert clipped.max_abs_diff == pytest.approx(float((clipped.lrp - clipped.gradient_x_input).abs().max()))


def bias_free_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, bias=False),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3, bias=False),
    ).eval()  # fmt: skip


@pytest.mark.parametrize("composite", sorted(COMPOSITES))
def test_relevance_is_conserved_on_a_bias_free_network(composite: str) -> None:
    model, x = bias_free_cnn(), images()
    relevance = ours(model, x, composite, epsilon=1e-9)
    score = model(x)[:, 1].detach()
    torch.testing.assert_close(relevance.flatten(1).sum(1), score, rtol=2e-4, atol=0.0)


# --- what LRP refuses -----------------------------------------------------------------------------------------------


class Unruly(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind, self.conv, self.fc, self.norm = kind, nn.Conv2d(3, 4, 3), nn.Linear(4, 2), nn.LayerNorm(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        h = {"silu": F.silu, "gelu": F.gelu}.get(self.kind, F.relu)(h)
        if self.kind == "gate":  # squeeze-excitation: a product of two activations
            h = h * torch.sigmoid(h.mean((2, 3), keepdim=True))
        h = h.mean((2, 3))
        return self.fc(self.norm(h) if self.kind == "layer_norm" else h)


@pytest.mark.parametrize(
    ("kind", "named"), [("silu", "silu"), ("gelu", "gelu"), ("gate", "mul"), ("layer_norm", "layer_norm")]
)
def test_an_op_without_a_rule_is_named_not_silently_differentiated(kind: str, named: str) -> None:
    model = Unruly(kind).eval()
    with pytest.raises(xai_core.HookError, match=rf"lrp has no relevance rule for .*{named} \(x1\)"):
        xai_core.attribute(model, images(), "lrp")
    assert hook_count(model) == 0 and torch._C._len_torch_function_stack() == 0


class StandardizedConv(nn.Conv2d):
    """Weight standardisation: arithmetic on parameters only, off the input's path, needs no rule."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight - self.weight.mean((1, 2, 3), keepdim=True)
        return F.conv2d(x, w / (self.weight.std((1, 2, 3), keepdim=True) + 1e-5), self.bias)


def test_computations_on_parameters_need_no_rule() -> None:
    model = nn.Sequential(StandardizedConv(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    relevance = xai_core.attribute(model.eval(), images(), "lrp", target=1, composite="epsilon").attributions
    assert torch.isfinite(relevance).all()


def test_bad_settings_get_clear_messages() -> None:
    with pytest.raises(xai_core.ParameterError, match=r"lrp: parameter 'output' must be 'logit'.*got 'probability'"):
        xai_core.attribute(relu_cnn(), images(), "lrp", output="probability")
    with pytest.raises(xai_core.ParameterError, match=r"'composite' must not be 'epsilon_gamma_box' for a plain"):
        xai_core.attribute(relu_cnn(), images(), "lrp", composite="epsilon_gamma_box")
    with pytest.raises(
        xai_core.ParameterError, match=r"parameter 'epsilon' must be a finite number in \[1e-12, 100.0\]"
    ):
        xai_core.attribute(relu_cnn(), images(), "lrp", epsilon=0.0)
    with (
        pytest.raises(xai_core.HookError, match="batch norm in eval mode"),
        pytest.warns(UserWarning, match="training"),
    ):
        xai_core.attribute(relu_cnn().train(), images(), "lrp")


# --- the bundled EfficientNet-Lite0 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("composite", ["epsilon_plus_flat", "epsilon_gamma_box"])
def test_runs_on_lite0(lite0: Any, chelsea_224: torch.Tensor, composite: str) -> None:
    result = xai_core.attribute(lite0, chelsea_224, "lrp", composite=composite)
    assert result.attributions.shape == chelsea_224.shape and torch.isfinite(result.attributions).all()
    assert result.target.tolist() == lite0.module(chelsea_224).argmax(1).tolist()
    assert hook_count(lite0.module) == 0


def test_lite0_relu_copy_agrees_with_gradient_x_input(lite0: Any, chelsea_224: torch.Tensor) -> None:
    """On Lite0 as it is the maps part where ReLU6 saturates; with ReLU in its place they agree."""
    clipped = lrp_vs_gradient_x_input(lite0, chelsea_224)
    unclipped = lrp_vs_gradient_x_input(lite0, chelsea_224, relu_copy=True)
    assert 0.0 < clipped.clipped_fraction < 0.2 and clipped.relative_diff > 0.1
    assert unclipped.relative_diff < 1e-3

"""DeepLIFT (Rescale) against Captum 0.9's DeepLift, summation-to-delta, closed forms, refusals, and Lite0.

Tolerance: maps agree with Captum to 1e-5 of their largest value (float32).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from toys import PixelWrapper, ResidualCNN, images, linear_model, relu_cnn

import xai_core
from xai_core.paths import PixelSpace, make_baseline

captum_attr = pytest.importorskip("captum.attr", reason="Captum is a test dependency")


def captum_deeplift(model: nn.Module, x: torch.Tensor, baseline: torch.Tensor, target: list[int]) -> torch.Tensor:
    return captum_attr.DeepLift(copy.deepcopy(model)).attribute(x, baseline, target=target)


def without_max_pool(model: nn.Sequential) -> nn.Module:
    return nn.Sequential(*[m for m in model if not isinstance(m, nn.MaxPool2d)]).eval()


def pool_after_conv() -> nn.Module:
    """ReLU, then a convolution, then max pooling: no two of Captum's hooked modules share a tensor."""
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 6, 3), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 5 * 5, 4),
    ).eval()  # fmt: skip


def smooth_activations() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 5, 3), nn.Sigmoid(), nn.Conv2d(5, 5, 3), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(5, 4), nn.ELU(), nn.Linear(4, 4),
    ).eval()  # fmt: skip


MODELS = {
    "relu_cnn_without_max_pool": lambda: without_max_pool(relu_cnn()),
    "max_pool_after_conv": pool_after_conv,
    "residual": ResidualCNN,
    "sigmoid_tanh_elu": smooth_activations,
}


@pytest.mark.parametrize("baseline", ["black", "uniform", "tensor"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_captum_deeplift(name: str, baseline: str) -> None:
    model, x = MODELS[name](), images(batch=3)
    reference = images(batch=1, seed=9)[0] * 0.5 if baseline == "tensor" else baseline
    result = xai_core.attribute(model, x, "deeplift", target=[0, 1, 2], baseline=reference, seed=4)
    base = make_baseline(reference, x, PixelSpace.of(None), generator=torch.Generator().manual_seed(4))
    expected = captum_deeplift(model, x, base, [0, 1, 2]).detach()
    torch.testing.assert_close(result.attributions, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))


def test_summation_to_delta_where_captum_breaks_it() -> None:
    """relu_cnn feeds a ReLU straight into a max pool. Captum 0.9 hooks both modules on the shared tensor and the
    ReLU's hook reads the gradient before the pool's hook has rescaled it, so its attributions miss f(x) - f(x');
    ours add up (both use Captum's maxpool rule)."""
    model, x = relu_cnn(), images(batch=3)
    result = xai_core.attribute(model, x, "deeplift", target=[0, 1, 2])
    _, captum_delta = captum_attr.DeepLift(copy.deepcopy(model)).attribute(
        x, torch.zeros_like(x), target=[0, 1, 2], return_convergence_delta=True
    )
    change = (result.completeness.f_input - result.completeness.f_baseline).abs()
    assert (result.completeness.gap.abs() < 1e-5 * change).all()
    assert captum_delta.abs().max() > 100 * result.completeness.gap.abs().max()


@pytest.mark.parametrize("activation", [nn.ReLU, nn.ReLU6])
def test_summation_to_delta_with_saturating_units(activation: type[nn.Module]) -> None:
    """Inputs x 30 push ReLU6 units past the clip, where the gradient is 0 but the multiplier is not."""
    model, x = relu_cnn(activation=activation), images() * 30.0
    result = xai_core.attribute(PixelWrapper(model), x, "deeplift", target=1, baseline="white")
    change = (result.completeness.f_input - result.completeness.f_baseline).abs()
    assert (result.completeness.gap.abs() < 1e-4 * change).all()
    total = result.attributions.flatten(1).double().sum(1)
    assert torch.allclose(total, result.completeness.f_input - result.completeness.f_baseline, rtol=1e-4)


def test_linear_model_is_weight_times_difference() -> None:
    """On a linear model DeepLIFT, like IG, is exactly w * (x - x')."""
    model, x = linear_model(shape=(3, 12, 12)), images()
    baseline = images(seed=5)
    result = xai_core.attribute(model, x, "deeplift", target=2, baseline=baseline[:1])
    weight = model[1].weight[2].view(1, 3, 12, 12)
    torch.testing.assert_close(result.attributions, weight * (x - baseline[:1]))


def test_one_relu_rescale_multiplier() -> None:
    """f(x) = relu(x) from x' = -1 to x = 2: the multiplier is (2 - 0) / (2 - (-1)) = 2/3, so a = 3 * 2/3 = 2 =
    f(x) - f(x'); the gradient at x times (x - x') would give 3."""
    model, x = nn.Sequential(nn.Flatten(), nn.ReLU()).eval(), torch.full((1, 1, 1, 1), 2.0)
    result = xai_core.attribute(model, x, "deeplift", target=0, baseline=-torch.ones(1, 1, 1))
    assert result.attributions.item() == pytest.approx(2.0)


class Gated(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind, self.conv, self.fc = kind, nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        h = h * torch.sigmoid(h) if self.kind == "product" else {"silu": F.silu, "gelu": F.gelu}[self.kind](h)
        return self.fc(h.mean((2, 3)))


@pytest.mark.parametrize(("kind", "named"), [("silu", "silu"), ("gelu", "gelu"), ("product", "mul of two activations")])
def test_an_op_without_a_rule_is_named_not_silently_differentiated(kind: str, named: str) -> None:
    with pytest.raises(xai_core.HookError, match=rf"deeplift has no rule .* for {named} \(x1\)"):
        xai_core.attribute(Gated(kind).eval(), images(), "deeplift")
    assert torch._C._len_torch_function_stack() == 0


def test_bad_settings_get_clear_messages() -> None:
    with pytest.raises(xai_core.ParameterError, match=r"deeplift: parameter 'output' must be 'logit'"):
        xai_core.attribute(relu_cnn(), images(), "deeplift", output="probability")
    with pytest.raises(xai_core.ParameterError, match=r"deeplift: parameter 'baseline' must be one of .*got 'grey'"):
        xai_core.attribute(relu_cnn(), images(), "deeplift", baseline="grey")
    with pytest.raises(xai_core.HookError, match="batch norm in eval mode"), pytest.warns(UserWarning, match="train"):
        xai_core.attribute(relu_cnn().train(), images(), "deeplift")


def test_runs_on_lite0_and_adds_up(lite0: Any, chelsea_224: torch.Tensor) -> None:
    result = xai_core.attribute(lite0, chelsea_224, "deeplift", baseline="black")
    assert result.attributions.shape == chelsea_224.shape and torch.isfinite(result.attributions).all()
    change = float(result.completeness.f_input[0] - result.completeness.f_baseline[0])
    assert abs(float(result.completeness.gap[0])) < 1e-5 * abs(change)

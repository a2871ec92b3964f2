"""Closed-form answers on toy models (DESIGN.md, Tests)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from toys import images, linear_model, relu_cnn

import xai_core


def _weights(model: nn.Module, classes: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return model[1].weight.detach()[classes].view(len(classes), *shape)


def test_gradient_of_linear_model_is_its_weight_row() -> None:
    model, x = linear_model(), torch.randn(3, 3, 6, 6)
    result = xai_core.attribute(model, x, "saliency", target=[0, 2, 1])
    torch.testing.assert_close(result.attributions, _weights(model, torch.tensor([0, 2, 1]), x.shape[1:]))


def test_input_x_gradient_and_squared_gradient_of_linear_model() -> None:
    model, x = linear_model(), torch.randn(2, 3, 6, 6)
    w = _weights(model, torch.tensor([1, 1]), x.shape[1:])
    torch.testing.assert_close(xai_core.attribute(model, x, "input_x_gradient", target=1).attributions, w * x)
    torch.testing.assert_close(xai_core.attribute(model, x, "squared_gradient", target=1).attributions, w**2)


def test_probability_output_uses_softmax_derivative() -> None:
    # d p_c / d x = p_c (w_c - sum_k p_k w_k) for a linear model
    model, x = linear_model(), torch.randn(1, 3, 6, 6)
    weight = model[1].weight.detach()
    p = torch.softmax(model(x), dim=1).detach()[0]
    expected = p[2] * (weight[2] - (p[:, None] * weight).sum(0))
    result = xai_core.attribute(model, x, "saliency", target=2, output="probability")
    torch.testing.assert_close(result.attributions.flatten(), expected, rtol=1e-5, atol=1e-7)


def test_default_target_is_the_predicted_class() -> None:
    model, x = relu_cnn(), images(batch=3)
    predicted = model(x).argmax(1)
    assert xai_core.attribute(model, x, "saliency").target.tolist() == predicted.tolist()


@pytest.mark.parametrize("method", ["saliency", "guided_backprop", "grad_cam"])
def test_smoothgrad_with_zero_noise_equals_the_method(method: str) -> None:
    model, x = relu_cnn(), images()
    extra = {"layer": model[7]} if method == "grad_cam" else {}
    plain = xai_core.attribute(model, x, method, **extra).attributions
    smooth = xai_core.attribute(model, x, method, noise=xai_core.Noise(sigma=0.0, samples=3), **extra)
    torch.testing.assert_close(smooth.attributions, plain, rtol=1e-5, atol=1e-7)


def test_vargrad_of_linear_model_is_zero() -> None:
    model, x = linear_model(), torch.randn(2, 3, 6, 6)
    result = xai_core.attribute(model, x, "saliency", noise=xai_core.Noise("vargrad", samples=16, sigma=0.3))
    assert result.attributions.abs().max().item() < 1e-10


class Quadratic(nn.Module):
    """f(x) = sum a x^2 for every class: grad = 2 a x, so noise gives Var[grad] = 4 a^2 s^2 and E[grad] = 2 a x."""

    def __init__(self, a: torch.Tensor) -> None:
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.a * x**2).flatten(1).sum(1, keepdim=True).repeat(1, 2)


def test_smoothgrad_and_vargrad_match_their_expectations_on_a_quadratic() -> None:
    a = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(0)) + 0.5
    model, x = Quadratic(a).eval(), torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    sigma, samples = 0.2, 4000
    s = sigma * (x.max() - x.min())
    smooth, squared, var = (
        xai_core.attribute(model, x, "saliency", target=0, noise=xai_core.Noise(mode, samples=samples, sigma=sigma))
        for mode in ("smoothgrad", "smoothgrad_squared", "vargrad")
    )
    # Monte Carlo: standard error of the mean is 2 a s / sqrt(n) ~ 0.01; of the variance about sqrt(2/n) relative.
    torch.testing.assert_close(smooth.attributions[0], 2 * a * x[0], atol=0.06, rtol=0)
    torch.testing.assert_close(var.attributions[0], 4 * a**2 * s**2, rtol=0.12, atol=0)
    # SmoothGrad squared (PAIR's magnitude=True): E[(2 a (x + n))^2] = 4 a^2 (x^2 + s^2).
    torch.testing.assert_close(squared.attributions[0], 4 * a**2 * (x[0] ** 2 + s**2), rtol=0.08, atol=0)
    # The three modes are one set of draws: mean of squares - square of mean = variance, exactly.
    torch.testing.assert_close(
        squared.attributions - smooth.attributions.double().square().float(), var.attributions, rtol=1e-3, atol=1e-4
    )


@pytest.mark.parametrize("activation", [nn.ReLU, nn.ReLU6])
def test_fullgrad_completeness_on_a_relu_net_with_biases(activation: type[nn.Module]) -> None:
    model, x = relu_cnn(activation=activation), images(batch=3)
    result = xai_core.attribute(model, x, "fullgrad")
    scores = model(x).gather(1, result.target.view(-1, 1)).squeeze(1).detach()
    gap = result.completeness.gap
    # ReLU and ReLU6 below its clip are positively homogeneous: f = grad_x.x + sum grad_b.b exactly.
    assert gap.abs().max().item() < 1e-4 * (1 + scores.abs().max().item())

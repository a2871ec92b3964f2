"""The maximum-distance and averaged black-and-white baselines (issue 11), and the Sensitivity(a) axiom.

Closed forms on linear models: IG from x' is exactly w * (x - x'); the black-and-white average is the mean of two
such paths, each complete on its own.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from toys import PixelWrapper, images, linear_model, relu_cnn, smooth_cnn

import xai_core
from xai_core import ParameterError, registry
from xai_core.checks import check_axioms, sensitivity_a
from xai_core.paths import PixelSpace, make_baseline

SHAPE = (3, 6, 6)
TAKES_BASELINE = sorted(n for n, cls in registry.all_methods().items() if any(p.name == "baseline" for p in cls.params))


def _weight(model: nn.Module, classes: list[int]) -> torch.Tensor:
    return model[-1].weight.detach()[classes].view(len(classes), *SHAPE)


def test_every_method_with_a_baseline_offers_the_new_ones() -> None:
    assert {"integrated_gradients", "guided_ig", "split_ig", "idg", "idgi", "integrated_hessians"} <= set(
        TAKES_BASELINE
    )
    for name in TAKES_BASELINE:
        choices = next(p for p in registry.get(name).params if p.name == "baseline").choices
        assert {"max_distance", "black_white"} <= set(choices), name


def test_max_distance_is_the_far_end_of_the_pixel_range() -> None:
    pixels = torch.tensor([0.0, 0.2, 0.49, 0.5, 0.8, 1.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    wrapper = PixelWrapper(relu_cnn())  # model space [-1, 1]
    space = PixelSpace.of(wrapper)
    far = space.to_pixels(make_baseline("max_distance", wrapper.to_model_space(pixels), space))
    torch.testing.assert_close(far[0, 0, 0], torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0]))
    # Largest L1 distance of any image in [0, 1]: |x - x'| = max(x, 1 - x) everywhere.
    torch.testing.assert_close((far - pixels).abs(), torch.maximum(pixels, 1 - pixels))


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_trapezoid"])
def test_ig_from_max_distance_on_a_linear_model(rule: str) -> None:
    model, x = linear_model(shape=SHAPE), torch.rand(2, *SHAPE, generator=torch.Generator().manual_seed(0))
    result = xai_core.attribute(model, x, "integrated_gradients", baseline="max_distance", target=[0, 2], rule=rule)
    far = (x < 0.5).float()
    torch.testing.assert_close(result.attributions, _weight(model, [0, 2]) * (x - far), rtol=1e-5, atol=1e-6)
    assert result.completeness.gap.abs().max() < 1e-5


def test_black_white_is_the_mean_of_two_complete_paths_on_a_linear_model() -> None:
    model, x = linear_model(shape=SHAPE), torch.rand(2, *SHAPE, generator=torch.Generator().manual_seed(1))
    result = xai_core.attribute(model, x, "integrated_gradients", baseline="black_white", target=[1, 0], steps=4)
    w = _weight(model, [1, 0])
    torch.testing.assert_close(result.attributions, 0.5 * (w * x + w * (x - 1)), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        f = model(torch.cat([x, torch.zeros_like(x[:1]), torch.ones_like(x[:1])]))
    torch.testing.assert_close(result.completeness.f_baseline, 0.5 * (f[2, [1, 0]] + f[3, [1, 0]]).double())
    for part in ("black", "white"):  # completeness per path, and each path's own record is kept
        assert result.extras[f"{part}:completeness"].gap.abs().max() < 1e-5
    assert result.completeness.gap.abs().max() < 1e-5


def test_black_white_is_not_a_grey_baseline_on_a_nonlinear_model() -> None:
    model, x = smooth_cnn(), images(size=12)
    run = lambda baseline: xai_core.attribute(  # noqa: E731
        model, x, "integrated_gradients", baseline=baseline, target=[0, 1], steps=32
    )  # fmt: skip
    both, black, white = run("black_white"), run("black"), run("white")
    torch.testing.assert_close(both.attributions, 0.5 * (black.attributions + white.attributions))
    torch.testing.assert_close(both.completeness.gap, 0.5 * (black.completeness.gap + white.completeness.gap))
    torch.testing.assert_close(both.path.scores, 0.5 * (black.path.scores + white.path.scores))


class Quadratic(nn.Module):
    """f_c(x) = sum_i v_ci x_i^2: separable, so IG_i from x' is v_ci (x_i^2 - x'_i^2) exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.randn(2, *SHAPE, generator=torch.Generator().manual_seed(5)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, None] ** 2 * self.v).flatten(2).sum(2)


def test_black_white_on_a_quadratic_is_two_paths_not_a_grey_one() -> None:
    model, x = Quadratic().eval(), torch.rand(2, *SHAPE, generator=torch.Generator().manual_seed(6))
    run = lambda baseline: xai_core.attribute(  # noqa: E731
        model, x, "integrated_gradients", baseline=baseline, target=[0, 1], steps=8
    ).attributions  # fmt: skip
    v = model.v.detach()
    torch.testing.assert_close(run("black_white"), v * (x**2 - 0.5), rtol=1e-5, atol=1e-6)  # (x^2 + x^2 - 1) / 2
    torch.testing.assert_close(run(torch.full(SHAPE, 0.5)), v * (x**2 - 0.25), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", TAKES_BASELINE)
def test_every_baseline_method_runs_both_new_baselines(method: str) -> None:
    model, x = relu_cnn(), images(batch=1, size=8)
    names = {p.name for p in registry.get(method).params}
    cheap: dict[str, Any] = {"steps": 3} if "steps" in names else {}
    if method == "integrated_hessians":
        cheap = {"steps": 2, "patch_size": 4}
    for baseline in ("max_distance", "black_white"):
        result = xai_core.attribute(model, x, method, target=[1], baseline=baseline, **cheap)
        assert torch.isfinite(result.attributions).all(), (method, baseline)
        for record in registry.get(method).records:
            assert getattr(result, record) is not None, (method, baseline, record)


def test_black_white_under_noise_keeps_every_draw() -> None:
    model, x = smooth_cnn(), images(size=12)
    noise = xai_core.Noise("smoothgrad", samples=3, seed=2)
    result = xai_core.attribute(model, x, "integrated_gradients", baseline="black_white", steps=8, noise=noise)
    assert result.completeness.gap.shape == (3, 2) and result.extras["white:completeness"].gap.shape == (3, 2)


def test_a_composite_baseline_cannot_be_made_as_one_tensor() -> None:
    with pytest.raises(ParameterError, match="averages the maps of the \\['black', 'white'\\] baselines"):
        make_baseline("black_white", images(), PixelSpace.of(relu_cnn()))


# --- Sensitivity(a) ----------------------------------------------------------------------------------------------


class Saturating(nn.Module):
    """The paper's example (Sundararajan et al. 2017, sec. 2.1): f(x) = 1 - ReLU(1 - x), x the sum of the pixels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = 1 - torch.relu(1 - x.flatten(1).sum(1, keepdim=True))
        return torch.cat([score, -score], dim=1)


def test_ig_satisfies_sensitivity_a_and_gradients_do_not() -> None:
    model, x = Saturating().eval(), torch.full((2, 1, 8, 8), 2.0)  # f(baseline 0) = 0, f(input) = 1: flat there
    # The 4x4 region sums to 32, so f saturates at alpha = 1/32: the midpoint rule on 256 nodes integrates it exactly.
    ig = sensitivity_a(model, x, "integrated_gradients", target=0, rule="riemann_middle", steps=256)
    assert ig.passed and ig.higher_is_better and abs(ig.value - 1.0) < 1e-6, ig  # complete: the region gets it all
    for method in ("saliency", "input_x_gradient"):
        result = sensitivity_a(model, x, method, target=0)
        assert not result.passed and result.value == 0.0, result  # the gradient is 0 where f saturated


def test_sensitivity_a_uses_the_methods_own_baseline_and_says_when_it_cannot() -> None:
    model, x = smooth_cnn(), images(size=12)
    assert sensitivity_a(model, x, "integrated_gradients", steps=64, baseline="blur").passed
    references = sensitivity_a(model, x, "expected_gradients", references=x)
    assert not references.passed and "reference images" in references.detail
    composite = sensitivity_a(model, x, "integrated_gradients", baseline="black_white")
    assert "not one" in composite.detail
    same = sensitivity_a(model, torch.zeros(2, 3, 12, 12), "saliency")  # the input is the black baseline
    assert "no premise" in same.detail
    assert [r.axiom for r in check_axioms(model, x, "saliency")][2] == "sensitivity_a"

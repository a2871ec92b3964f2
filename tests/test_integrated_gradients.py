"""Integrated Gradients and the shared path machinery: closed forms, completeness, Captum, baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from scipy import ndimage
from toys import PixelWrapper, images, linear_model, relu_cnn, smooth_cnn

import xai_core
from xai_core.params import ParameterError
from xai_core.paths import RULES, PixelSpace, gaussian_blur, make_baseline, quadrature


@pytest.mark.parametrize("rule", RULES)
def test_ig_of_linear_model_is_weight_times_difference(rule: str) -> None:
    model, x = linear_model(shape=(3, 12, 12)), images()
    result = xai_core.attribute(model, x, "integrated_gradients", target=[0, 2], baseline="black", rule=rule, steps=7)
    weight = model[1].weight.detach()[[0, 2]].view_as(x)
    torch.testing.assert_close(result.attributions, weight * x, rtol=1e-5, atol=1e-6)
    assert result.completeness.gap.abs().max() < 1e-4


@pytest.mark.parametrize("rule", RULES)
def test_completeness_within_one_percent_at_256_steps(rule: str) -> None:
    model, x = smooth_cnn(), images(batch=3, size=16)
    result = xai_core.attribute(
        model, x, "integrated_gradients", baseline="black", rule=rule, steps=256, chunk_size=256
    )
    change = result.completeness.f_input - result.completeness.f_baseline
    assert change.abs().min() > 0.05, "the toy model must move between baseline and input for this test to mean much"
    assert (result.completeness.gap.abs() / change.abs()).max() < 0.01


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("seed", [0, 1])
def test_ig_agrees_with_captum(rule: str, seed: int) -> None:
    model, x = (smooth_cnn(seed) if seed else relu_cnn(seed)), images(seed=seed + 20)
    ours = xai_core.attribute(model, x, "integrated_gradients", target=[1, 2], baseline="black", rule=rule, steps=32)
    theirs = IntegratedGradients(model).attribute(x, baselines=0.0, target=[1, 2], n_steps=32, method=rule).detach()
    if rule == "riemann_trapezoid":
        # Captum 0.9 puts n trapezoid nodes on [0, 1] but uses step 1/n, so its weights sum to (n - 1)/n and its
        # completeness is off by 1/n; ours use 1/(n - 1). Same nodes, so the maps differ by exactly that factor.
        theirs = theirs * 32 / 31
    torch.testing.assert_close(ours.attributions, theirs, rtol=1e-4, atol=1e-6)


def test_chunk_size_does_not_change_the_result() -> None:
    model, x = smooth_cnn(), images(batch=3)
    one = xai_core.attribute(model, x, "integrated_gradients", steps=10, chunk_size=1).attributions
    many = xai_core.attribute(model, x, "integrated_gradients", steps=10, chunk_size=64).attributions
    torch.testing.assert_close(one, many, rtol=1e-5, atol=1e-7)


def test_endpoints_reuse_the_path_and_the_profile_is_recorded() -> None:
    model, x = smooth_cnn(), images()
    result = xai_core.attribute(model, x, "integrated_gradients", rule="riemann_trapezoid", steps=5)
    path, completeness = result.path, result.completeness
    assert path is not None and completeness is not None
    assert path.scores.shape == (2, 5) and path.grad_norms.shape == (2, 5) and path.alphas.shape == (5,)
    torch.testing.assert_close(path.scores[:, -1], completeness.f_input, check_dtype=False)
    expected = model(x).gather(1, result.target.view(-1, 1)).squeeze(1).detach()
    torch.testing.assert_close(completeness.f_input, expected, rtol=1e-5, atol=1e-6, check_dtype=False)


def test_quadrature_weights_sum_to_one_and_integrate_polynomials() -> None:
    for rule in RULES:
        alphas, weights = quadrature(rule, 20)
        assert abs(float(weights.sum()) - 1.0) < 1e-12
        assert float(alphas.min()) >= 0.0 and float(alphas.max()) <= 1.0
    alphas, weights = quadrature("gausslegendre", 5)  # exact for degree <= 9
    assert abs(float((weights * alphas**9).sum()) - 0.1) < 1e-12


def test_baselines_live_in_pixel_space() -> None:
    x = images(batch=2).clamp(-1, 1)
    space = PixelSpace.of(PixelWrapper(relu_cnn()))
    torch.testing.assert_close(make_baseline("black", x, space), torch.full_like(x, -1.0))
    torch.testing.assert_close(make_baseline("white", x, space), torch.ones_like(x))
    mean = make_baseline("mean", x, space)
    torch.testing.assert_close(mean[:, :, 0, 0], x.mean(dim=(2, 3)))
    generator = torch.Generator().manual_seed(3)
    uniform = make_baseline("uniform", x, space, generator=generator)
    assert float(uniform.min()) >= -1.0 and float(uniform.max()) <= 1.0
    again = make_baseline("uniform", x, space, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(uniform, again)
    noisy = make_baseline("gaussian", x, space, noise=0.1, generator=generator)
    assert float(noisy.min()) >= -1.0 and float(noisy.max()) <= 1.0
    # A plain module: names refer to its raw input space.
    torch.testing.assert_close(make_baseline("black", x, PixelSpace.of(relu_cnn())), torch.zeros_like(x))


def test_gaussian_blur_matches_scipy() -> None:
    x = images(batch=1, size=20)
    for sigma in (0.7, 3.0, 12.0):
        ours = gaussian_blur(x, sigma)[0].numpy()
        theirs = ndimage.gaussian_filter(x[0].numpy(), sigma=[0, sigma, sigma], mode="constant")
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_custom_baseline_tensor_and_wrapper_black_baseline() -> None:
    model, x = smooth_cnn(), images()
    custom = torch.full((3, 12, 12), 0.25)
    result = xai_core.attribute(model, x, "integrated_gradients", baseline=custom, steps=64)
    expected_baseline = model(custom.expand_as(x)).gather(1, result.target.view(-1, 1)).squeeze(1).detach()
    torch.testing.assert_close(
        result.completeness.f_baseline, expected_baseline, rtol=1e-4, atol=1e-5, check_dtype=False
    )
    wrapped = xai_core.attribute(PixelWrapper(model), x, "integrated_gradients", baseline="black", steps=8)
    direct = xai_core.attribute(model, x, "integrated_gradients", baseline=torch.full((3, 12, 12), -1.0), steps=8)
    torch.testing.assert_close(wrapped.attributions, direct.attributions)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, r"integrated_gradients: parameter 'steps' must be an integer in \[1, 4096\]; got 0"),
        ({"rule": "simpson"}, r"parameter 'rule' must be one of \['riemann_left'"),
        ({"baseline": "grey"}, r"parameter 'baseline' must be one of \['black', 'white'"),
        ({"baseline": torch.zeros(3, 5, 5)}, r"custom baseline must have shape \(3, 12, 12\); got \(1, 3, 5, 5\)"),
        ({"rule": "riemann_trapezoid", "steps": 1}, r"riemann_trapezoid needs steps >= 2; got 1"),
    ],
)
def test_parameters_validate_with_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        xai_core.attribute(smooth_cnn(), images(), "integrated_gradients", **kwargs)

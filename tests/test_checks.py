"""Axiom checks, robustness and hyperparameter sweeps, on models whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toys import images, linear_model, relu_cnn, smooth_cnn

from xai_core.checks import (
    completeness,
    dummy_sensitivity,
    fragility_attack,
    implementation_invariance,
    linearity,
    max_sensitivity,
    sweep,
    symmetry_preservation,
)
from xai_core.checks.axioms import fold_batch_norm
from xai_core.hooks import hook_count


def test_completeness_holds_for_ig_and_fails_for_plain_gradient() -> None:
    model, x = smooth_cnn(), images(size=16)
    passed = completeness(model, x, "integrated_gradients", steps=128)
    failed = completeness(model, x, "saliency")
    assert passed.passed and passed.value < 0.01
    assert not failed.passed and failed.value > 0.1
    # Input x gradient of a linear model is exact against a black baseline: w.x = f(x) - f(0).
    assert completeness(linear_model(shape=(3, 12, 12)), images(), "input_x_gradient").value < 1e-5


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "guided_backprop"])
def test_ignored_pixels_get_no_attribution(method: str) -> None:
    result = dummy_sensitivity(relu_cnn(), images(), method)
    assert result.passed and result.value == 0.0


def test_folding_batch_norm_keeps_the_function_and_gradient_maps() -> None:
    model, x = relu_cnn(), images()
    twin = fold_batch_norm(model, x)
    torch.testing.assert_close(twin(x), model(x), rtol=1e-5, atol=1e-5)
    assert hook_count(model) == hook_count(twin) == 0
    assert implementation_invariance(model, x, "saliency").value < 1e-4
    assert implementation_invariance(model, x, "integrated_gradients", steps=8).passed
    # FullGrad rescales each layer's bias term separately: folding moves bias between layers, and the map moves.
    fullgrad = implementation_invariance(model, x, "fullgrad")
    assert not fullgrad.passed and fullgrad.value > 1e-2
    assert np.isnan(implementation_invariance(linear_model(shape=(3, 12, 12)), x, "saliency").value)


def test_linearity_of_gradients_but_not_of_squared_gradients() -> None:
    model, x = relu_cnn(), images()
    assert linearity(model, x, "saliency").value < 1e-5
    assert linearity(model, x, "integrated_gradients", steps=8).passed
    squared = linearity(model, x, "squared_gradient")
    assert not squared.passed and squared.value > 0.05


def test_symmetry_preserved_by_ig_with_a_symmetric_baseline() -> None:
    result = symmetry_preservation(smooth_cnn(), images(size=16), "integrated_gradients", steps=16)
    assert result.passed and result.value < 1e-5
    assert np.isnan(symmetry_preservation(relu_cnn(), images(), "grad_cam", layer="7").value)


def test_max_sensitivity_is_zero_for_a_linear_gradient_and_positive_for_guided_backprop() -> None:
    x = images()
    flat = max_sensitivity(linear_model(shape=(3, 12, 12)), x, "saliency", radius=0.1, samples=4)
    assert flat.per_sample.shape == (2,) and flat.value < 1e-6
    assert max_sensitivity(relu_cnn(), x, "guided_backprop", radius=0.5, samples=4).value > 1e-3


def test_fragility_attack_keeps_the_class_and_the_budget() -> None:
    model, x = smooth_cnn(), images(size=16)
    result = fragility_attack(model, x, "saliency", epsilon=0.1, steps=6, top_k=40)
    assert result.class_kept.all()
    assert float((result.attacked_inputs - x).abs().max()) <= 0.1 + 1e-6
    for values in (result.topk_intersection, result.random_topk_intersection):
        assert values.shape == (2,) and ((values >= 0) & (values <= 1)).all()
    assert np.isfinite(result.rank_correlation).all()


def test_sweep_of_ig_steps_converges_to_the_reference() -> None:
    model, x = smooth_cnn(), images(size=16)
    result = sweep(model, x, "integrated_gradients", "steps", [2, 8, 64], rule="riemann_left", faithfulness=False)
    assert result.maps.shape == (3, 2, 16, 16)
    np.testing.assert_allclose(result.rank_correlation[-1], 1.0)
    assert (result.rank_correlation[1] >= result.rank_correlation[0] - 1e-6).all()
    with pytest.raises(ValueError, match="reference 5 must be one of the swept values"):
        sweep(model, x, "integrated_gradients", "steps", [2, 8], reference=5)

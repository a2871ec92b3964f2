"""Faithfulness correlation and estimate against Quantus 0.6.0 (same subsets, one-channel images)."""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
from quantus_oracle import gray_cnn, gray_images, gray_maps, quantus_call

import xai_core
from xai_core import metrics
from xai_core.metrics.feature_sets import random_subsets


def test_faithfulness_correlation_agrees_with_quantus_on_the_same_subsets(monkeypatch: pytest.MonkeyPatch) -> None:
    model, x, a = gray_cnn(), gray_images(), gray_maps()
    y = model(x).argmax(1)
    seen: list[float] = []
    ours = metrics.evaluate(
        "faithfulness_correlation", model=model, inputs=x, maps=a, runs=20, subset_size=10, target=y, seed=3,
        progress=lambda f, _p: seen.append(f),
    )  # fmt: skip
    members = random_subsets(torch.full((2,), 144), torch.full((2, 20), 10), 3)
    # Quantus draws np.random.choice(n, subset_size) per run, then per image: play ours back in that order.
    draws = iter([np.flatnonzero(members[b, s].numpy()) for s in range(20) for b in range(2)])
    monkeypatch.setattr(np.random, "choice", lambda *_a, **_k: next(draws))
    reference = quantus.FaithfulnessCorrelation(
        nr_runs=20, subset_size=10, normalise=False, return_aggregate=False, disable_warnings=True
    )
    expected = quantus_call(reference, model, x, y, a, softmax=False)
    np.testing.assert_allclose(ours.per_image, expected, atol=1e-6)
    assert ours.higher_is_better and ours.value == pytest.approx(np.mean(expected), abs=1e-6)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


@pytest.mark.parametrize(("step", "softmax"), [(2, False), (6, True)])
def test_faithfulness_estimate_agrees_with_quantus(step: int, softmax: bool) -> None:
    model, x, a = gray_cnn(1), gray_images(seed=2), gray_maps(seed=5)
    y = torch.tensor([0, 2])
    ours = metrics.evaluate(
        "faithfulness_estimate", model=model, inputs=x, maps=a, features_in_step=step, granularity="pixel", target=y,
        output="probability" if softmax else "logit",
    )  # fmt: skip
    reference = quantus.FaithfulnessEstimate(features_in_step=step, normalise=False, disable_warnings=True)
    # Quantus computes the softmax and the drops in float32: probabilities agree to 1e-5.
    np.testing.assert_allclose(ours.per_image, quantus_call(reference, model, x, y, a, softmax), atol=1e-5)


def test_patches_are_features_and_an_oracle_map_correlates() -> None:
    # A linear model's drops are exactly the patch sums of w * (x - 0): that map correlates perfectly.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2)).eval()
    x = torch.rand(1, 3, 8, 8)
    exact = (model[1].weight[0].reshape(3, 8, 8) * x[0]).sum(0).detach().numpy()[None]
    for name in ("faithfulness_estimate", "faithfulness_correlation"):
        extra = {"subset_size": 3, "runs": 30} if name == "faithfulness_correlation" else {}
        found = metrics.evaluate(name, model=model, inputs=x, maps=exact, target=0, granularity="patch",
                                 patch_size=2, **extra)  # fmt: skip
        assert found.per_image[0] == pytest.approx(1.0, abs=1e-6)


def test_settings_that_exceed_the_features_are_refused_by_name() -> None:
    model, x, a = gray_cnn(), gray_images(), gray_maps()
    with pytest.raises(xai_core.ParameterError, match="parameter 'subset_size' must be at most 144"):
        metrics.evaluate("faithfulness_correlation", model=model, inputs=x, maps=a, subset_size=500)
    with pytest.raises(xai_core.ParameterError, match="parameter 'features_in_step' must be at most 8"):
        metrics.evaluate("faithfulness_estimate", model=model, inputs=x, maps=a, features_in_step=9, patch_size=4)
    with pytest.raises(xai_core.ParameterError, match=r"parameter 'runs' must be an integer in \[2, 10000\]"):
        metrics.evaluate("faithfulness_correlation", model=model, inputs=x, maps=a, runs=1)

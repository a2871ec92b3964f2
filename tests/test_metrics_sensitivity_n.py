"""Sensitivity-n: Ancona et al.'s closed form (linear model, gradient x input, zero baseline) and a literal loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quantus_oracle import gray_cnn, gray_images, gray_maps
from scipy.stats import pearsonr

import xai_core
from xai_core import metrics
from xai_core.metrics.feature_sets import random_subsets
from xai_core.metrics.sensitivity_n import subset_sizes


def test_gradient_times_input_of_a_linear_model_is_sensitive_n_for_every_n() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 10 * 10, 4)).eval()
    x = torch.randn(2, 3, 10, 10)
    target = torch.tensor([1, 3])
    explained = xai_core.attribute(model, x, "input_x_gradient", target=target)
    found = metrics.evaluate("sensitivity_n", model=model, inputs=x, maps=explained, target=target, samples=16,
                             substrate="black")  # fmt: skip
    curve = found.curves[0]
    np.testing.assert_allclose(curve.scores, 1.0, atol=1e-6)
    assert found.value == pytest.approx(1.0, abs=1e-6) and found.higher_is_better
    np.testing.assert_array_equal(curve.counts[0], subset_sizes(100, 8, 0.8))
    np.testing.assert_allclose(curve.fractions, subset_sizes(100, 8, 0.8) / 100)


def test_sensitivity_n_is_the_literal_correlation_over_the_same_subsets() -> None:
    model, x, a = gray_cnn(), gray_images(batch=1, size=8), gray_maps(batch=1, size=8)
    ours = metrics.evaluate("sensitivity_n", model=model, inputs=x, maps=a, target=1, points=4, samples=6, seed=5)
    sizes = subset_sizes(64, 4, 0.8)
    members = random_subsets(torch.tensor([64]), torch.from_numpy(sizes).repeat_interleave(6)[None], 5)[0]
    with torch.no_grad():
        f0 = float(model(x)[0, 1])
        expected = []
        for k in range(sizes.size):
            sums, drops = [], []
            for j in range(6):
                chosen = members[k * 6 + j].reshape(8, 8)
                sums.append(float(a[0][chosen.numpy()].sum()))
                drops.append(f0 - float(model(torch.where(chosen, 0.0, x))[0, 1]))
            expected.append(pearsonr(sums, drops)[0])
    # One-pixel drops are ~1e-3 of the logit: float32 forwards (batched here, single there) agree to 1e-4 on them.
    np.testing.assert_allclose(ours.curves[0].scores[0], expected, atol=1e-4)
    assert ours.value == pytest.approx(np.mean(expected), abs=1e-4)


def test_superpixels_are_refused_by_name() -> None:
    with pytest.raises(xai_core.ParameterError, match="parameter 'granularity' must be 'pixel' or 'patch'"):
        metrics.evaluate("sensitivity_n", model=gray_cnn(), inputs=gray_images(), maps=gray_maps(),
                         granularity="superpixel")  # fmt: skip

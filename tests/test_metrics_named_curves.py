"""Pixel flipping, region perturbation, selectivity (named deletion curves) and IROF against Quantus 0.6.0."""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
from quantus_oracle import gray_cnn, gray_images, gray_maps, quantus_call

from xai_core import metrics


@pytest.fixture(scope="module")
def case() -> tuple:
    model, x, a = gray_cnn(3), gray_images(size=8, seed=7), gray_maps(size=8, seed=8)
    return model, x, a, model(x).argmax(1)


def test_pixel_flipping_is_the_black_pixel_deletion_curve_quantus_computes(case: tuple) -> None:
    model, x, a, y = case
    ours = metrics.evaluate("pixel_flipping", model=model, inputs=x, maps=a, steps=16, target=y)
    reference = quantus.PixelFlipping(features_in_step=4, normalise=False, disable_warnings=True)
    expected = np.array(quantus_call(reference, model, x, y, a, softmax=True))
    np.testing.assert_allclose(ours.scores[:, 1:], expected, atol=1e-6)
    plain = metrics.deletion(model, x, a, steps=16, substrate="black", target=y)
    np.testing.assert_array_equal(ours.scores, plain.scores)  # the alias is the deletion curve
    assert ours.name == "pixel_flipping" and not ours.higher_is_better
    # Quantus' AUC (unit spacing, from the first step) is K * auc - (y_0 + y_1) / 2 of ours.
    quantus_auc = np.trapezoid(expected, axis=1)
    np.testing.assert_allclose(16 * ours.auc - (ours.scores[:, 0] + ours.scores[:, 1]) / 2, quantus_auc, atol=1e-5)


def test_region_perturbation_reports_samek_aopc_of_the_drops_quantus_returns(case: tuple) -> None:
    model, x, a, y = case
    ours = metrics.evaluate("region_perturbation", model=model, inputs=x, maps=a, regions=3, patch_size=4,
                            substrate="black", target=y)  # fmt: skip
    reference = quantus.RegionPerturbation(patch_size=4, regions_evaluation=3, normalise=False, disable_warnings=True)
    drops = np.array(quantus_call(reference, model, x, y, a, softmax=True))
    curve = ours.curves[0]
    assert curve.scores.shape == (2, 4)
    np.testing.assert_allclose(curve.scores[:, :1] - curve.scores[:, 1:], drops, atol=1e-6)
    np.testing.assert_allclose(ours.per_image, drops.sum(axis=1) / 4, atol=1e-6)  # Samek eq. 12, L = 3
    assert ours.name == "region_perturbation" and ours.higher_is_better
    noisy = metrics.evaluate("region_perturbation", model=model, inputs=x, maps=a, regions=3, patch_size=4, target=y)
    again = metrics.evaluate("region_perturbation", model=model, inputs=x, maps=a, regions=3, patch_size=4, target=y)
    np.testing.assert_array_equal(noisy.per_image, again.per_image)  # seeded uniform noise


def test_selectivity_removes_every_patch_one_per_step_as_quantus(case: tuple) -> None:
    model, x, a, y = case
    ours = metrics.evaluate("selectivity", model=model, inputs=x, maps=a, patch_size=2, target=y)
    reference = quantus.Selectivity(patch_size=2, normalise=False, disable_warnings=True)
    expected = np.array(quantus_call(reference, model, x, y, a, softmax=True))
    assert ours.scores.shape == (2, 17)
    np.testing.assert_allclose(ours.scores[:, 1:], expected, atol=1e-6)


def test_irof_follows_quantus_curve_and_maps_to_its_unnormalised_area(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)  # Quantus 0.6.0 calls np.trapz, gone in NumPy 2.4
    # Quantus 0.6.0's IROF masks [B, 1, H, W] against the input's shape, so it runs on one-channel images only.
    model = gray_cnn(4)
    x = gray_images(batch=1, size=16, seed=2)
    x[0, :, -1, -1] = 1.0  # min 0 and max 1: the displayed image is the input, SLIC sees both alike
    a = gray_maps(batch=1, size=16, seed=3)
    y = model(x).argmax(1)
    substrate = torch.full_like(x, 0.4)  # Quantus' "mean" drifts with the perturbed batch: give both one value
    ours = metrics.evaluate("irof", model=model, inputs=x, maps=a, target=y, substrate=substrate)
    reference = quantus.IROF(perturb_baseline=0.4, normalise=False, return_aggregate=False, disable_warnings=True)
    expected = quantus_call(reference, model, x, y, a, softmax=True)
    curve = ours.curves[0]
    n = curve.scores.shape[1] - 1
    assert n > 5 and curve.scores[0, 0] == 1.0
    np.testing.assert_allclose(n * ours.per_image + (1 + curve.scores[:, 1]) / 2, expected, rtol=1e-5)
    assert ours.higher_is_better and ours.value == pytest.approx(1 - curve.auc[0])


def test_irof_needs_positive_scores() -> None:
    x, a = gray_images(), gray_maps()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(x[0].numel(), 2)).eval()
    with torch.no_grad():
        model[1].bias[:] = -100.0
    with pytest.raises(metrics.MetricNotApplicable, match="irof divides by the unperturbed score"):
        metrics.evaluate("irof", model=model, inputs=x, maps=a, output="logit", n_segments=4)

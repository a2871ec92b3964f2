"""ROAD: the imputation against the authors' code (as pytorch-grad-cam ships it) and Quantus, the curves against
Quantus' ROAD and pytorch-grad-cam's ROADCombined, without noise."""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
from pytorch_grad_cam.metrics.road import NoisyLinearImputer, ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from quantus.functions.perturb_func import noisy_linear_imputation as quantus_imputation
from quantus_oracle import gray_cnn, gray_images, gray_maps, quantus_call
from toys import PixelWrapper

import xai_core
from xai_core import metrics
from xai_core.metrics.imputation import linear_imputation, noisy_linear_imputation

# pytorch-grad-cam hands torch tensors to np.argwhere and np.percentile: NumPy 2's deprecation, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.95])
def test_linear_imputation_equals_the_authors_and_quantus(fraction: float) -> None:
    rng = np.random.default_rng(0)
    image = rng.random((3, 11, 9)).astype(np.float32)
    removed = rng.random((11, 9)) < fraction
    removed[0, 0] = removed[-1, -1] = True  # corners: neighbours outside the image
    ours = linear_imputation(image, removed)
    authors = NoisyLinearImputer(noise=0.0)(torch.from_numpy(image), torch.from_numpy((~removed).astype(np.uint8)))
    np.testing.assert_allclose(ours, authors.numpy(), atol=1e-6)
    np.testing.assert_allclose(ours, quantus_imputation(image, np.flatnonzero(removed), noise=0.0), atol=1e-6)
    np.testing.assert_array_equal(ours[:, ~removed], image[:, ~removed])
    # Each interior imputed pixel is the weighted mean of its eight neighbours (the system's equation).
    weights = np.array([[1, 2, 1], [2, 0, 2], [1, 2, 1]]) / 12
    for r, c in np.argwhere(removed[1:-1, 1:-1]) + 1:
        window = ours[:, r - 1 : r + 2, c - 1 : c + 2]
        np.testing.assert_allclose((window * weights).sum(axis=(1, 2)), ours[:, r, c], atol=1e-9)


def test_noise_is_added_to_the_imputed_pixels_only_and_seeded() -> None:
    rng = np.random.default_rng(1)
    image = rng.random((3, 40, 40))
    removed = rng.random((40, 40)) < 0.5
    clean = linear_imputation(image, removed)
    noisy = noisy_linear_imputation(image, removed, 0.05, np.random.default_rng(2))
    diff = noisy - clean
    np.testing.assert_array_equal(diff[:, ~removed], 0.0)
    assert diff[:, removed].std() == pytest.approx(0.05, rel=0.05)
    np.testing.assert_array_equal(noisy, noisy_linear_imputation(image, removed, 0.05, np.random.default_rng(2)))
    with pytest.raises(ValueError, match="at least one known pixel"):
        linear_imputation(image, np.ones((40, 40), bool))


def test_road_morf_accuracy_and_probability_agree_with_quantus_without_noise() -> None:
    model, x, a = gray_cnn(5), gray_images(size=10, seed=3), gray_maps(size=10, seed=4)
    y = model(x).argmax(1)
    common = {"percent_from": 5, "percent_to": 95, "percent_step": 15, "noise": 0.0, "target": y}
    accuracy = metrics.evaluate("road_morf", model=model, inputs=x, maps=a, **common)
    seen: list[torch.Tensor] = []
    handle = model.register_forward_hook(lambda _m, _i, out: seen.append(out.softmax(1)[torch.arange(2), y]))
    reference = quantus.ROAD(percentages=list(range(5, 96, 15)), noise=0.0, normalise=False, disable_warnings=True)
    try:
        expected = quantus_call(reference, model, x, y, a, softmax=True)
    finally:
        handle.remove()
    curve = accuracy.curves[0]
    np.testing.assert_array_equal(curve.fractions * 100, list(expected))
    np.testing.assert_array_equal(curve.scores.mean(axis=0), list(expected.values()))
    probability = metrics.evaluate("road_morf", model=model, inputs=x, maps=a, score="probability", **common)
    np.testing.assert_allclose(probability.curves[0].scores, torch.stack(seen, 1).detach().numpy(), atol=1e-6)
    assert not accuracy.higher_is_better and accuracy.value == pytest.approx(curve.scores.mean())


def test_road_combined_agrees_with_pytorch_grad_cam(monkeypatch: pytest.MonkeyPatch) -> None:
    model, x, a = gray_cnn(6), gray_images(size=10, seed=5), gray_maps(size=10, seed=6)
    y = model(x).argmax(1)
    seen: list[float] = []
    ours = metrics.evaluate_many(
        ["road_combined", "road_morf", "road_lerf"], model=model, inputs=x, maps=a, target=y, percent_from=10,
        percent_to=90, percent_step=10, noise=0.0, score="probability", progress=lambda f, _p: seen.append(f),
    )  # fmt: skip
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)  # the authors' imputer, without its noise
    # A pytorch-grad-cam "percentile" p keeps p % (np.percentile threshold): on 100 pixels that removes 100 - p %.
    expected = ROADCombined(percentiles=list(range(10, 100, 10)))(
        x, a.astype(np.float32), [ClassifierOutputSoftmaxTarget(int(c)) for c in y], model
    )
    np.testing.assert_allclose(ours["road_combined"].per_image, expected, atol=1e-6)
    combined = ours["road_combined"]
    assert combined.curves == (ours["road_morf"].curves[0], ours["road_lerf"].curves[0])
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_a_normalising_wrapper_is_imputed_in_pixel_space() -> None:
    # Linear imputation commutes with the wrapper's affine normalisation: without noise the results match.
    model, x, a = gray_cnn(7), gray_images(size=8), gray_maps(size=8)
    wrapped = PixelWrapper(model)
    common = {"percent_from": 20, "percent_to": 80, "percent_step": 30, "noise": 0.0, "score": "logit", "target": 1}
    bare = metrics.evaluate("road_lerf", model=model, inputs=x, maps=a, **common)
    through = metrics.evaluate("road_lerf", model=wrapped, inputs=x, maps=a, **common)
    np.testing.assert_allclose(bare.per_image, through.per_image, atol=1e-5)


def test_percentages_are_validated_by_name() -> None:
    model, x, a = gray_cnn(), gray_images(), gray_maps()
    with pytest.raises(xai_core.ParameterError, match="parameter 'percent_to' must be at least percent_from"):
        metrics.evaluate("road_morf", model=model, inputs=x, maps=a, percent_from=50, percent_to=10)
    with pytest.raises(xai_core.ParameterError, match=r"parameter 'noise' must be a finite number in \[0.0, 1.0\]"):
        metrics.evaluate("road_lerf", model=model, inputs=x, maps=a, noise=-1)

"""PIC (SIC/AIC) against PAIR's reference ``saliency.metrics.pic`` on seeded images, maps and models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import features
from saliency.metrics import pic as pair
from torch import Tensor, nn
from toys import relu_cnn

import xai_core
from xai_core import metrics
from xai_core.metrics import information as ours

SIZE = 24
THRESHOLDS = [0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.10, 0.13, 0.21, 0.34, 0.5, 0.75]  # PAIR's notebook


class DetailModel(nn.Module):
    """Class 0's logit grows with the image's local detail (a fixed Laplacian): blurring lowers its score."""

    def __init__(self) -> None:
        super().__init__()
        self.laplacian = nn.Conv2d(3, 3, 3, groups=3, bias=False)  # valid: no border edges
        kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        self.laplacian.weight.data[:] = kernel
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        detail = self.laplacian(x).abs().mean(dim=(1, 2, 3))
        return torch.stack([30.0 * detail - 1.0, torch.zeros_like(detail), 0.3 + 0.0 * detail], dim=1)


def photos() -> np.ndarray:
    """Three uint8 crops [3, SIZE, SIZE, 3] of the bundled photos (real texture, so WebP sizes mean something)."""
    crops = []
    for name in ("chelsea", "coffee", "astronaut"):
        image = xai_core.load_sample(name).image.convert("RGB").resize((4 * SIZE, 4 * SIZE))
        crops.append(np.asarray(image)[SIZE : 2 * SIZE, SIZE : 2 * SIZE])
    return np.stack(crops)


def pixels(images: np.ndarray) -> Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).double().div(255).float()


def reference(model: nn.Module, images: np.ndarray, maps: np.ndarray, masks: np.ndarray, kind: str, **kw) -> list:
    """PAIR's compute_pic_metric per image, with its notebook's prediction functions (softmax / top-1)."""
    results = []
    for i in range(len(images)):
        with torch.no_grad():
            target = int(model(pixels(images[i : i + 1])).argmax())

        def predict(batch: np.ndarray, target: int = target) -> np.ndarray:
            with torch.no_grad():
                logits = model(pixels(batch)).double()
            if kind == "sic":
                return logits.softmax(dim=1)[:, target].numpy()
            return (logits.argmax(dim=1) == target).double().numpy()

        args = {"img": images[i], "saliency_map": maps[i], "random_mask": masks[i], "pred_func": predict}
        try:
            results.append(pair.compute_pic_metric(**args, saliency_thresholds=THRESHOLDS, **kw))
        except pair.ComputePicMetricError:
            results.append(None)
    return results


_BLURRED: dict[bytes, np.ndarray] = {}
_PAIR_BLUR = pair.create_blurred_image


def _memo_blur(full_img: np.ndarray, pixel_mask: np.ndarray, method: str = "linear") -> np.ndarray:
    """PAIR's create_blurred_image, remembered: SIC and AIC runs of the reference blur the same images (its per-channel
    griddata is the slow part of these tests)."""
    key = full_img.tobytes() + np.packbits(pixel_mask).tobytes() + method.encode()
    if key not in _BLURRED:
        _BLURRED[key] = _PAIR_BLUR(full_img, pixel_mask, method)
    return _BLURRED[key].copy()


@pytest.fixture(autouse=True)
def _reference_shims(monkeypatch: pytest.MonkeyPatch) -> None:
    # PAIR's pic.py calls np.trapz, which NumPy 2.4 removed; np.trapezoid is the same rule.
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    monkeypatch.setattr(pair, "create_blurred_image", _memo_blur)


def test_pillow_can_encode_webp() -> None:
    assert features.check("webp")
    assert ours.compressed_size(np.zeros((8, 8, 3), np.uint8)) < ours.compressed_size(photos()[0][:8, :8])


@pytest.mark.parametrize(
    ("model", "settings"),
    [
        (DetailModel(), {"min_pred_value": 0.0}),
        (relu_cnn(seed=3, classes=3), {"min_pred_value": 0.3, "keep_monotonous": False, "num_data_points": 50}),
    ],
)
def test_sic_and_aic_agree_with_pairs_reference(model: nn.Module, settings: dict) -> None:
    images = photos()
    maps = np.random.default_rng(5).random((3, SIZE, SIZE))
    maps[1] = np.abs(np.add.outer(np.arange(SIZE) - 15.0, np.arange(SIZE) - 8.0))  # ties: quantile masks grow
    found = metrics.pic(model, pixels(images), maps, thresholds=THRESHOLDS, seed=4, **settings)
    masks = ours.random_masks(3, (SIZE, SIZE), 0.01, 4)  # the seeded masks the metric drew
    assert masks.sum(axis=(1, 2)).tolist() == [int(SIZE * SIZE * 0.01)] * 3
    kept_any = False
    for kind in ("sic", "aic"):
        tolerances = [1e-6]
        expected = reference(model, images, maps, masks, kind, **settings)
        if all(r is None for r in expected):
            assert kind not in found
            continue
        result = found[kind]
        assert result.name == kind and result.higher_is_better and len(result.skipped) == 3
        for i, ref in enumerate(expected):
            assert (ref is None) == bool(result.skipped[i]), result.skipped[i]
            if ref is None:
                assert np.isnan(result.scores[i]).all() and np.isnan(result.auc[i])
                continue
            kept_any = True
            # Scores differ by float32 rounding (batch size, channels-last layout); the curve divides them by the
            # score gap between the original and the blurred image, which scales that rounding.
            tol = 1e-6 / (ref.predictions[-1] - ref.predictions[0])
            tolerances.append(tol)
            np.testing.assert_allclose(result.predictions[i], ref.predictions, rtol=0, atol=1e-6)
            np.testing.assert_allclose(result.fractions, ref.curve_x, rtol=0, atol=0)
            np.testing.assert_allclose(result.scores[i], ref.curve_y, rtol=0, atol=tol)
            assert result.auc[i] == pytest.approx(ref.auc, abs=tol)
            np.testing.assert_allclose(result.thresholds, ref.thresholds)
            blurred = [pair.estimate_image_entropy(img) for img in ref.blurred_images]
            assert result.information[i].tolist() == blurred  # the same images, byte for byte in WebP
        kept = [r for r in expected if r is not None]
        aggregate = pair.aggregate_individual_pic_results(kept, method="median")
        np.testing.assert_allclose(result.aggregate, aggregate.curve_y, rtol=0, atol=max(tolerances))
        assert result.value == pytest.approx(aggregate.auc, abs=max(tolerances))
    assert kept_any


def test_blurred_images_are_pairs_byte_for_byte() -> None:
    image = photos()[0]
    rng = np.random.default_rng(0)
    for fraction in (0.0, 0.01, 0.3, 0.9):
        keep = rng.random((SIZE, SIZE)) < fraction
        np.testing.assert_array_equal(ours.blurred_image(image, keep), pair.create_blurred_image(image, keep))
    assert (ours.blurred_image(image, np.ones((SIZE, SIZE), bool)) == image).all()


def test_a_given_random_mask_reproduces_a_pair_run_and_batches_combine() -> None:
    model, images = DetailModel(), photos()
    maps = np.random.default_rng(1).random((3, SIZE, SIZE))
    mask = pair.generate_random_mask(SIZE, SIZE, fraction=0.02)  # PAIR's own (unseeded) mask, one for all
    found = metrics.pic(model, pixels(images), maps, random_mask=mask, min_pred_value=0.0, thresholds=THRESHOLDS)
    expected = reference(model, images, maps, np.stack([mask] * 3), "sic", min_pred_value=0.0)
    for i, ref in enumerate(expected):
        np.testing.assert_allclose(found["sic"].scores[i], ref.curve_y, rtol=0, atol=1e-6)
    # Per batch, then combined: the aggregate over the three images, as aggregate_individual_pic_results.
    parts = [
        metrics.pic(model, pixels(images[i : i + 1]), maps[i : i + 1], random_mask=mask, min_pred_value=0.0,
                    thresholds=THRESHOLDS, aggregate="mean")["sic"]
        for i in range(3)
    ]  # fmt: skip
    combined = metrics.combine_pic(parts)
    mean = pair.aggregate_individual_pic_results(expected, method="mean")
    np.testing.assert_allclose(combined.aggregate, mean.curve_y, rtol=0, atol=1e-6)
    assert combined.aggregation == "mean" and combined.value == pytest.approx(mean.auc, abs=1e-6)
    median = metrics.combine_pic(parts, aggregate="median")
    assert median.value == pytest.approx(found["sic"].value, abs=1e-9)


def test_one_batched_forward_scores_every_blurred_image() -> None:
    calls: list[int] = []
    model = DetailModel()
    model.register_forward_hook(lambda _m, inputs, _o: calls.append(inputs[0].shape[0]))
    metrics.pic(model, pixels(photos()), np.random.default_rng(0).random((3, SIZE, SIZE)), chunk_size=64,
                thresholds="0.1,0.5", min_pred_value=0.0)  # fmt: skip
    # The unperturbed forward (target, layout), then 3 images x (blurred, 2 thresholds, original) in one chunk.
    assert calls == [3, 3 * 4]


def test_pic_settings_and_inputs_are_checked() -> None:
    model, x, maps = DetailModel(), pixels(photos()), np.ones((3, SIZE, SIZE))
    with pytest.raises(xai_core.ParameterError, match=r"sic: parameter 'thresholds' must be fractions in \(0, 1\]"):
        metrics.pic(model, x, maps, thresholds="0.1,1.5")
    with pytest.raises(xai_core.ParameterError, match=r"parameter 'aggregate' must be one of \['median', 'mean'\]"):
        metrics.evaluate("aic", model=model, inputs=x, maps=maps, aggregate="max")
    with pytest.raises(ValueError, match=r"plain nn.Module must be pixels in \[0, 1\]"):
        metrics.pic(model, x * 2 - 1, maps)
    with pytest.raises(metrics.MetricNotApplicable, match="every image was skipped"):
        metrics.evaluate("sic", model=model, inputs=x, maps=maps, min_pred_value=1.0)
    assert metrics.resolve("sic", {"thresholds": [0.5, 0.1, 0.5]})["thresholds"] == "0.1,0.5"

"""The digits benchmark (data, CNN, training, disk cache) and the data randomization test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xai_core.sanity import data_randomization, digits


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A per-session cache directory shared by the sanity test modules, so each model trains once."""
    root = tmp_path_factory.getbasetemp() / "xai-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XAI_CACHE_DIR", str(root))
        yield root / "digits"


@pytest.fixture(scope="module")
def true_model(cache: Path) -> nn.Module:
    return digits.train_digits_cnn("true")


def test_digits_split_is_seeded_upsampled_and_grey() -> None:
    data = digits.load_digits_data(0)
    assert data.x_train.shape == (1347, 3, 32, 32) and data.x_test.shape == (450, 3, 32, 32)
    assert float(data.x_train.min()) >= 0.0 and float(data.x_train.max()) <= 1.0
    assert torch.equal(data.x_train[:, 0], data.x_train[:, 2])  # one grey channel repeated
    assert set(torch.bincount(data.y_test).tolist()) <= {43, 44, 45, 46}  # stratified: about 45 per class
    assert torch.allclose(data.mean, data.x_train.mean(dim=(0, 2, 3)))
    other = digits.load_digits_data(1)
    assert not torch.equal(other.y_test, data.y_test)


def test_permuted_labels_are_a_seeded_shuffle() -> None:
    data = digits.load_digits_data(0)
    permuted = digits.training_labels(data, "permuted", 0)
    assert torch.equal(permuted.sort().values, data.y_train.sort().values)
    assert (permuted == data.y_train).float().mean() < 0.2
    assert torch.equal(permuted, digits.training_labels(data, "permuted", 0))
    with pytest.raises(ValueError, match="labels"):
        digits.training_labels(data, "shuffled", 0)  # type: ignore[arg-type]


def test_true_label_model_is_accurate_and_cached(cache: Path, true_model: nn.Module) -> None:
    data = digits.load_digits_data(0)
    assert digits.accuracy(true_model, data.x_test, data.y_test) >= 0.9
    assert not true_model.training and isinstance(true_model, digits.DigitsCNN)
    files = sorted(cache.glob("digits_cnn_true_*.pt"))
    assert len(files) == 1
    assert digits.TrainConfig(labels="true").key() in files[0].name
    state = torch.load(files[0], weights_only=True)
    assert set(state) == set(true_model.state_dict())


def test_cache_hit_does_not_retrain(cache: Path, true_model: nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("retrained despite a cached model")

    monkeypatch.setattr(digits, "fit", fail)
    again = digits.train_digits_cnn("true")
    for name, value in true_model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value)
    assert digits.TrainConfig(epochs=3).key() != digits.TrainConfig().key()  # config changes name a new file


def test_training_is_seeded_and_leaves_global_state_alone() -> None:
    data = digits.load_digits_data(0)
    x, y = data.x_train[:128], data.y_train[:128]
    rng, threads = torch.random.get_rng_state(), torch.get_num_threads()
    a = digits.fit(x, y, epochs=1, seed=5)
    b = digits.fit(x, y, epochs=1, seed=5)
    assert torch.equal(torch.random.get_rng_state(), rng) and torch.get_num_threads() == threads
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert all(p.grad is None for p in a.parameters())
    with pytest.raises(ValueError, match="epochs"):
        digits.fit(x, y, epochs=0)


def test_cam_layer_names_the_last_conv() -> None:
    model = digits.DigitsCNN()
    layer = model.get_submodule(model.cam_layer)
    assert isinstance(layer, nn.Conv2d)
    assert layer is [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]


def test_data_randomization_compares_maps_of_both_models(cache: Path, true_model: nn.Module) -> None:
    permuted = digits.train_digits_cnn("permuted", epochs=3)  # few epochs: the test checks the plumbing
    progress: list[float] = []
    result = data_randomization(
        "saliency",
        images=8,
        models=(true_model, permuted),
        similarity=("spearman_abs", "ssim"),
        progress=progress.append,
    )
    x = digits.load_digits_data(0).x_test[:8]
    assert torch.equal(result.images, x)
    assert result.target.tolist() == true_model(x).argmax(dim=1).tolist()
    assert result.true_maps.shape == result.permuted_maps.shape == (8, 32, 32)
    assert set(result.similarity) == {"spearman_abs", "ssim"}
    for values in result.similarity.values():
        assert values.shape == (8,)
        assert np.all((values >= -1.0 - 1e-9) & (values <= 1.0 + 1e-9))
    assert result.mean["ssim"] == pytest.approx(float(np.nanmean(result.similarity["ssim"])))
    assert result.accuracy["true_test"] >= 0.9
    assert result.higher_is_better is False
    assert progress[-1] == 1.0


def test_data_randomization_accepts_images_and_cam_methods(true_model: nn.Module) -> None:
    x = digits.load_digits_data(0).x_test[10:14]
    result = data_randomization("grad_cam", images=x, models=(true_model, digits.DigitsCNN().eval()), target=3)
    assert result.target.tolist() == [3, 3, 3, 3]
    assert result.true_maps.shape == (4, 32, 32)
    with pytest.raises(ValueError, match="images"):
        data_randomization("saliency", images=0, models=(true_model, true_model))


@pytest.mark.slow
def test_permuted_label_model_memorises_its_training_set(cache: Path) -> None:
    data = digits.load_digits_data(0)
    model = digits.train_digits_cnn("permuted")  # about 25 s on 2 CPU cores
    assert digits.accuracy(model, data.x_train, digits.training_labels(data, "permuted", 0)) >= 0.9
    assert digits.accuracy(model, data.x_test, data.y_test) < 0.2

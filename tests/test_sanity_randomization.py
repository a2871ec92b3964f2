"""Model parameter randomization (Adebayo et al. 2018) and the similarity measures it reports."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from torch import nn
from toys import CAM_LAYER_INDEX, images, relu_cnn

import xai_core
from xai_core.hooks import hook_count
from xai_core.sanity import digits, model_randomization, parameter_layers, randomization, similarity
from xai_core.sanity.randomization import reinitialize

# --- similarity measures ------------------------------------------------------------------------------------------


def _smooth_map(seed: int = 0, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    blob = np.exp(-((yy - size / 3) ** 2 + (xx - size / 2) ** 2) / (2 * (size / 6) ** 2))
    return blob + 0.05 * rng.standard_normal((size, size))


@pytest.mark.parametrize("name", list(similarity.MEASURES))
def test_identical_maps_are_perfectly_similar(name: str) -> None:
    m = _smooth_map()
    assert similarity.MEASURES[name](m, m) == pytest.approx(1.0)


def test_sign_flip_inverts_signed_rank_but_not_absolute_rank() -> None:
    m = _smooth_map() - 0.3  # both signs present
    assert similarity.spearman(m, -m) == pytest.approx(-1.0)
    assert similarity.spearman_abs(m, -m) == pytest.approx(1.0)


def test_measures_agree_with_their_reference_definitions() -> None:
    a, b = _smooth_map(0), _smooth_map(1) ** 2
    assert similarity.spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel())[0])
    assert similarity.spearman_abs(a, b) == pytest.approx(spearmanr(np.abs(a).ravel(), np.abs(b).ravel())[0])
    a01 = (a - a.min()) / np.ptp(a)
    b01 = (b - b.min()) / np.ptp(b)
    assert similarity.ssim(a, b) == pytest.approx(structural_similarity(a01, b01, data_range=1.0))
    hog_a, hog_b = similarity.hog_features(a), similarity.hog_features(b)
    assert hog_a.shape == (4 * 9 * 9,)  # 32 px: 4x4 cells of 8 px, 2x2 blocks of 3x3 cells, 9 orientations
    assert similarity.hog_pearson(a, b) == pytest.approx(np.corrcoef(hog_a, hog_b)[0, 1])


def test_unrelated_maps_score_low() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random((32, 32)), rng.random((32, 32))
    for name in ("spearman_abs", "spearman", "ssim"):
        assert abs(similarity.MEASURES[name](a, b)) < 0.2, name


def test_constant_maps_give_nan_correlations_without_warnings() -> None:
    m, zero = _smooth_map(), np.zeros((32, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(similarity.spearman(m, zero))
        assert np.isnan(similarity.spearman_abs(zero, zero))
        assert np.isnan(similarity.hog_pearson(m, zero))
        assert similarity.ssim(zero, zero) == pytest.approx(1.0)
        assert np.isfinite(similarity.ssim(m, zero))
        assert np.isnan(similarity.nanmean(np.array([np.nan, np.nan])))
        assert similarity.nanmean(np.array([np.nan, 0.5])) == 0.5


def test_small_maps_and_batches() -> None:
    rng = np.random.default_rng(0)
    small = rng.random((5, 5))
    assert similarity.ssim(small, small) == pytest.approx(1.0)  # window shrinks to 5
    assert np.isnan(similarity.hog_pearson(rng.random((3, 3)), rng.random((3, 3))))
    a, b = rng.random((3, 16, 16)), rng.random((3, 16, 16))
    out = similarity.similarities(a, b)
    assert set(out) == set(similarity.MEASURES) and all(v.shape == (3,) for v in out.values())
    assert out["spearman"][1] == pytest.approx(similarity.spearman(a[1], b[1]))
    with pytest.raises(ValueError, match="similarity must be"):
        similarity.similarities(a, b, ["pearson"])
    with pytest.raises(ValueError, match="same shape"):
        similarity.spearman(a[0], b[0, :8])


# --- randomization on a toy model -----------------------------------------------------------------------------------


def _snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "ids": [id(p) for p in model.parameters()],
    }


def test_passed_model_stays_bit_identical() -> None:
    model = relu_cnn()
    model[0].weight.requires_grad_(False)  # a frozen layer must stay frozen
    before = _snapshot(model)
    rng_before = torch.random.get_rng_state()
    for mode in ("cascading", "independent"):
        model_randomization(model, images(), "guided_backprop", mode=mode)
        model_randomization(model, images(), "grad_cam", mode=mode, layer=model[CAM_LAYER_INDEX])
    after = _snapshot(model)
    for key in ("training", "requires_grad", "grads", "ids"):
        assert after[key] == before[key], key
    for name, value in before["state"].items():
        assert torch.equal(after["state"][name], value), name
    assert hook_count(model) == 0
    assert torch.equal(torch.random.get_rng_state(), rng_before), "the global RNG state changed"


def test_cascading_runs_from_the_logits_down_and_fixes_the_target() -> None:
    model = relu_cnn()
    forward = [name for name, _ in parameter_layers(model)]
    assert forward == ["0", "1", "3", "4", "7", "11"]  # convs, batch norms and the linear layer, forward order
    progress: list[float] = []
    result = model_randomization(model, images(), "saliency", target=2, progress=progress.append)
    assert result.layers == forward[::-1]
    assert result.mode == "cascading" and result.higher_is_better is False
    assert result.target.tolist() == [2, 2]
    assert progress == pytest.approx([(i + 1) / 7 for i in range(7)])
    assert result.original_map.shape == (2, 12, 12)
    assert all(step.maps.shape == (2, 12, 12) for step in result.steps)
    table = result.similarity_table()
    assert table["layer"] == ["original", *forward[::-1]]
    assert table["spearman_abs"][0] == pytest.approx(1.0)
    assert set(table) == {"layer", *similarity.MEASURES}
    with pytest.raises(ValueError):
        result.original_map[0, 0, 0] = 1.0  # frozen arrays


def test_target_defaults_to_the_trained_models_prediction() -> None:
    model, x = relu_cnn(), images()
    result = model_randomization(model, x, "saliency", layers=["11"])
    assert result.target.tolist() == model(x).argmax(dim=1).tolist()


def test_same_seed_same_result_and_subset_keeps_top_down_order() -> None:
    model, x = relu_cnn(), images()
    a = model_randomization(model, x, "saliency", layers=["0", "7"], seed=3)
    b = model_randomization(model, x, "saliency", layers=["7", "0"], seed=3)
    assert a.layers == b.layers == ["7", "0"]
    assert np.array_equal(a.steps[-1].maps, b.steps[-1].maps)
    with pytest.raises(ValueError, match="parameter layers"):
        model_randomization(model, x, "saliency", layers=["2"])  # a ReLU owns no parameters
    with pytest.raises(ValueError, match="mode"):
        model_randomization(model, x, "saliency", mode="sideways")


def _states_seen(model: nn.Module, mode: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, torch.Tensor]]:
    """The copy's parameters at every ``attribute`` call of a real ``model_randomization`` run."""
    seen: list[dict[str, torch.Tensor]] = []

    def spy(module: nn.Module, *args: object, **kwargs: object) -> object:
        seen.append({k: v.detach().clone() for k, v in module.state_dict().items()})
        return xai_core.attribute(module, *args, **kwargs)

    monkeypatch.setattr(randomization, "attribute", spy)
    model_randomization(model, images(), "saliency", mode=mode)
    return seen


@pytest.mark.parametrize("mode", ["independent", "cascading"])
def test_each_step_changes_the_expected_layers(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = relu_cnn()
    top_down = [name for name, _ in parameter_layers(model)][::-1]
    original, *steps = _states_seen(model, mode, monkeypatch)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in original.items())
    assert len(steps) == len(top_down)
    for step, state in enumerate(steps):
        changed = {k.rsplit(".", 1)[0] for k, v in state.items() if not torch.equal(v, original[k])}
        expected = {top_down[step]} if mode == "independent" else set(top_down[: step + 1])
        # Batch norm goes back to gamma=1, beta=0 (deterministic, but unlike the trained values); its running
        # statistics are buffers and stay as trained (Adebayo et al. re-initialise trainable variables only).
        assert changed == expected, (mode, step)


def test_independent_and_cascading_agree_on_the_first_step() -> None:
    model, x = relu_cnn(), images()
    cascading = model_randomization(model, x, "saliency", seed=1)
    independent = model_randomization(model, x, "saliency", mode="independent", seed=1)
    assert np.array_equal(cascading.steps[0].maps, independent.steps[0].maps)
    assert not np.array_equal(cascading.steps[-1].maps, independent.steps[-1].maps)


def test_layer_without_reset_parameters_is_permuted() -> None:
    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gain = nn.Parameter(torch.arange(12.0).view(3, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.gain.mean()

    layer = Scale()
    reinitialize(layer, seed=0)
    assert not torch.equal(layer.gain, torch.arange(12.0).view(3, 4))
    assert torch.equal(layer.gain.detach().flatten().sort().values, torch.arange(12.0))


def test_wrapper_parameter_layers_are_preferred() -> None:
    class Wrapper:
        def __init__(self, module: nn.Module) -> None:
            self.module = module
            self.cam_layer = str(CAM_LAYER_INDEX)

        def parameter_layers(self) -> list[str]:
            return ["0", "7", "11"]

    wrapped = Wrapper(relu_cnn())
    result = model_randomization(wrapped, images(), "grad_cam")  # the CAM layer comes from the wrapper
    assert result.layers == ["11", "7", "0"]


# --- the paper's finding on a trained model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nn.Module]:
    with pytest.MonkeyPatch.context() as patch:  # the cache the other sanity test modules share
        patch.setenv("XAI_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "xai-cache"))
        yield digits.train_digits_cnn("true")


@pytest.fixture(scope="module")
def cascades(trained: nn.Module) -> dict[str, list[float]]:
    x = digits.load_digits_data(0).x_test[:16]
    return {
        method: model_randomization(trained, x, method).similarity_table()["spearman_abs"]
        for method in ("saliency", "guided_backprop")
    }


# Measured (16 test digits, seed 0; rows: original, then linear, conv3, conv2, conv1 re-initialised cumulatively):
#   saliency        1.000 0.371 0.350 0.187 0.214
#   guided_backprop 1.000 0.726 0.500 0.259 0.301


def test_gradient_maps_decorrelate_under_cascading_randomization(cascades: dict[str, list[float]]) -> None:
    saliency = cascades["saliency"]
    assert len(saliency) == 5
    assert saliency[-1] < 0.3
    assert saliency[-1] < saliency[1] - 0.1  # all layers random vs the logits layer alone


def test_guided_backprop_stays_more_similar_than_the_gradient(cascades: dict[str, list[float]]) -> None:
    # Adebayo et al., Fig. 2: guided backprop is much less sensitive to randomising the top layers. In this shallow
    # CNN it still decorrelates once the convolutions are random, but stays above the gradient at every step.
    saliency, guided = cascades["saliency"], cascades["guided_backprop"]
    assert guided[1] > saliency[1] + 0.2
    assert all(g > s for g, s in zip(guided[1:], saliency[1:], strict=True))

"""Randomization measures agree with Quantus 0.6 (random logit, smooth and efficient MPRT); weight shuffling and
the bottom-up order of the model randomization test.

Quantus re-seeds ``torch.manual_seed(seed + 1)`` before every layer, we seed layer ``i`` with ``seed + i``: the
model compared on has layers whose re-initialisation is deterministic, so both randomise to the same weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import quantus
import torch
from torch import Tensor, nn

import xai_core
from tests.toys import PixelWrapper, images, relu_cnn
from xai_core import metrics
from xai_core.metrics.randomization import SIMILARITIES
from xai_core.metrics.robustness import Perturbations
from xai_core.sanity import model_randomization, similarity
from xai_core.sanity.randomization import shuffle_weights


class FixedConv(nn.Conv2d):
    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.copy_(torch.sin(torch.arange(self.weight.numel()) * 1.7).view_as(self.weight) * 0.3)
            if self.bias is not None:
                self.bias.copy_(torch.cos(torch.arange(self.bias.numel()).float()) * 0.1)


class FixedLinear(nn.Linear):
    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.copy_(torch.cos(torch.arange(self.weight.numel()) * 0.9).view_as(self.weight) * 0.2)
            if self.bias is not None:
                self.bias.zero_()


@pytest.fixture(scope="module")
def setup() -> tuple[nn.Module, Tensor, Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(
        FixedConv(3, 4, 3, padding=1), nn.Softplus(), FixedConv(4, 4, 3, padding=1), nn.Softplus(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), FixedLinear(16, 5),
    )  # fmt: skip
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, std=0.5)
    x = torch.randn(3, 3, 10, 10, generator=torch.Generator().manual_seed(1))
    return model.eval(), x, model(x).argmax(dim=1)


def maps_of(evaluated: Any) -> Any:
    def explain(batch: Tensor, classes: Tensor, model: Any = None) -> np.ndarray:
        return xai_core.attribute(evaluated if model is None else model, batch, "saliency", target=classes).to_maps()

    return explain


def q_explain(model: Any, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
    batch = torch.as_tensor(inputs, dtype=torch.float32)
    return xai_core.attribute(model, batch, "saliency", target=torch.as_tensor(targets)).to_maps()[:, None]


def test_the_similarity_choices_are_the_sanity_measures() -> None:
    assert tuple(similarity.MEASURES) == SIMILARITIES


@pytest.mark.parametrize("measure", ["ssim", "spearman"])
def test_random_logit_agrees_with_quantus(setup: Any, measure: str) -> None:
    """The same random classes (Quantus' seeded draw); Quantus given our 2-D similarity (its own SSIM runs on the
    flattened maps)."""
    model, x, y = setup

    def on_maps(a: np.ndarray, b: np.ndarray, batched: bool = True, **_: Any) -> list[float]:
        return [similarity.MEASURES[measure](p.reshape(10, 10), q.reshape(10, 10)) for p, q in zip(a, b, strict=True)]

    found = metrics.evaluate("random_logit", model=model, inputs=x, explainer=maps_of(model), target=y, seed=42,
                             similarity=measure)  # fmt: skip
    metric = quantus.RandomLogit(num_classes=5, seed=42, similarity_func=on_maps, disable_warnings=True)
    theirs = metric(model=model, x_batch=x.numpy(), y_batch=y.numpy(), explain_func=q_explain)
    np.testing.assert_allclose(found.per_image, theirs, rtol=1e-5)
    assert isinstance(found, metrics.RandomLogitResult)
    assert (found.random_classes != y.numpy()).all() and not found.higher_is_better


def test_efficient_mprt_agrees_with_quantus(setup: Any) -> None:
    model, x, y = setup
    found = metrics.evaluate("efficient_mprt", model=model, inputs=x, explainer=maps_of(model), target=y)
    theirs = quantus.EfficientMPRT(disable_warnings=True)(
        model=model, x_batch=x.numpy(), y_batch=y.numpy(), explain_func=q_explain
    )
    np.testing.assert_allclose(found.per_image, theirs, rtol=1e-9)
    assert found.higher_is_better


def test_smooth_mprt_agrees_with_quantus(setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Quantus' smoothing calls ``quantus.explain`` (not the explain_func) and draws fresh noise from np.random for
    every model; routed to our explainer and our draws (the same for every model), the per-layer similarities
    agree."""
    model, x, y = setup
    samples, seed = 4, 7
    draws = Perturbations("gaussian", 1.0, x.shape, seed)
    noise = [draws.copy(s).double().numpy() for s in range(samples - 1)]
    calls = [0]

    def randn(*shape: int) -> np.ndarray:
        calls[0] += 1
        return noise[(calls[0] - 1) % (samples - 1)].reshape(shape).copy()

    monkeypatch.setattr(np.random, "randn", randn)
    monkeypatch.setattr(quantus, "explain", lambda model, inputs, targets, **_: q_explain(model, inputs, targets))
    common = {"model": model, "x_batch": x.numpy(), "y_batch": y.numpy(), "explain_func": q_explain}
    layers = quantus.SmoothMPRT(nr_samples=samples, disable_warnings=True)(**common)
    assert list(layers) == ["original", "0", "2", "6"]  # bottom-up
    found = metrics.evaluate("smooth_mprt", model=model, inputs=x, explainer=maps_of(model), target=y,
                             samples=samples, seed=seed, layers="all")  # fmt: skip
    table = found.curves[0].scores
    assert found.curves[0].settings["layers"] == ["original", "0", "2", "6"]
    np.testing.assert_allclose(table, np.array([layers[k] for k in layers]).T, atol=1e-9)
    np.testing.assert_allclose(found.per_image, table[:, 1:].mean(axis=1))
    # Quantus' return_average_correlation also averages in its "original" entry (the key it skips is "orig")
    average = quantus.SmoothMPRT(nr_samples=samples, return_average_correlation=True, disable_warnings=True)(**common)
    np.testing.assert_allclose(average, table.mean(axis=1), atol=1e-9)
    last = metrics.evaluate("smooth_mprt", model=model, inputs=x, explainer=maps_of(model), target=y,
                            samples=samples, seed=seed)  # fmt: skip
    np.testing.assert_allclose(last.per_image, table[:, -1], atol=1e-9)


def test_randomised_copies_keep_the_wrapper_and_leave_the_model_alone() -> None:
    module = relu_cnn()
    wrapper = PixelWrapper(module)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    seen: list[Any] = []

    def explain(batch: Tensor, classes: Tensor, model: Any = None) -> np.ndarray:
        seen.append(model)
        return xai_core.attribute((model or wrapper).module, batch, "saliency", target=classes).to_maps()

    progress: list[float] = []
    x = images(batch=2, size=8)
    found = metrics.evaluate("smooth_mprt", model=wrapper, inputs=x, explainer=explain, samples=3, chunk_size=4,
                             layers="all", progress=lambda f, _: progress.append(f))  # fmt: skip
    copies = [m for m in seen if m is not None]
    assert copies and all(isinstance(m, PixelWrapper) and m.module is not module for m in copies)
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in before.items())
    assert progress[-1] == pytest.approx(1.0) and found.curves[0].scores.shape == (2, 7)  # 6 parameter layers


def test_shuffling_permutes_each_tensor_of_a_layer() -> None:
    layer = nn.Conv2d(3, 4, 3)
    weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    shuffle_weights(layer, seed=5)
    assert not torch.equal(layer.weight, weight)
    assert torch.equal(layer.weight.flatten().sort().values, weight.flatten().sort().values)
    assert torch.equal(layer.bias.sort().values, bias.sort().values)
    again = nn.Conv2d(3, 4, 3)
    again.load_state_dict({"weight": weight, "bias": bias})
    shuffle_weights(again, seed=5)
    assert torch.equal(again.weight, layer.weight)  # seeded


def test_model_randomization_has_shuffle_and_bottom_up_modes() -> None:
    model, x = relu_cnn(), images(batch=2, size=8)
    reinit = model_randomization(model, x, "saliency", layers=["0", "11"])
    shuffled = model_randomization(model, x, "saliency", layers=["0", "11"], randomize="shuffle")
    assert shuffled.randomize == "shuffle" and reinit.layers == shuffled.layers == ["11", "0"]
    assert not np.allclose(reinit.steps[-1].maps, shuffled.steps[-1].maps)
    upward = model_randomization(model, x, "saliency", layers=["0", "11"], mode="bottom_up")
    assert upward.layers == ["0", "11"]
    np.testing.assert_allclose(upward.steps[-1].maps, reinit.steps[-1].maps)  # same fully randomised model
    with pytest.raises(ValueError, match=r"randomize must be one of \['reinitialize', 'shuffle'\]; got 'zero'"):
        model_randomization(model, x, "saliency", randomize="zero")
    rise = metrics.evaluate("efficient_mprt", model=model, inputs=x, explainer=maps_of(model), randomize="shuffle")
    assert np.isfinite(rise.per_image).all()


def test_settings_are_validated(setup: Any) -> None:
    model, x, _ = setup
    with pytest.raises(xai_core.ParameterError, match=r"smooth_mprt: parameter 'order' must be one of \['bottom_up', "
                       r"'cascading', 'independent'\]; got 'top_down'"):  # fmt: skip
        metrics.evaluate("smooth_mprt", model=model, inputs=x, explainer=maps_of(model), order="top_down")
    with pytest.raises(xai_core.ParameterError, match=r"efficient_mprt: parameter 'bins' must be an integer in "
                       r"\[2, 10000\]; got 1"):  # fmt: skip
        metrics.evaluate("efficient_mprt", model=model, inputs=x, explainer=maps_of(model), bins=1)

    def channels(batch: Tensor, classes: Tensor, model: Any = None) -> Tensor:
        return xai_core.attribute(model or setup[0], batch, "saliency", target=classes).attributions

    with pytest.raises(ValueError, match=r"this measure compares 2-D maps: let the explainer return maps"):
        metrics.evaluate("random_logit", model=model, inputs=x, explainer=channels)

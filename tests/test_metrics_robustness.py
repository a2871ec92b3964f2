"""Robustness measures agree with Quantus 0.6 when both see the same perturbations; batched; settings validated.

Quantus draws its noise from ``np.random``: each test hands it our draws through ``perturb_func`` (the recipe of
``metrics.robustness``: copy ``s`` is the ``s``-th draw of a seeded ``torch.Generator``), so the comparison is of
the formulas. Quantus runs one image at a time where it normalises by the batch's maximum.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import quantus
import torch
from torch import Tensor

import xai_core
from tests.toys import PixelWrapper, images, linear_model, relu_cnn, smooth_cnn
from xai_core import checks, metrics

SAMPLES, RADIUS, SEED = 5, 0.05, 3
UNIFORM = ("max_sensitivity", "avg_sensitivity", "relative_input_stability", "relative_output_stability")


@pytest.fixture(scope="module")
def setup() -> tuple[Any, Tensor, Tensor]:
    torch.manual_seed(0)
    model = smooth_cnn(classes=3)
    x = images(batch=2, size=8)
    return model, x, model(x).argmax(dim=1)


def explainer(model: Any) -> Any:
    def explain(batch: Tensor, classes: Tensor, model_: Any = None) -> Tensor:
        return xai_core.attribute(model, batch, "saliency", target=classes).attributions

    return explain


def our_draws(kind: str, scale: float, shape: torch.Size, image: int, samples: int = SAMPLES) -> list[np.ndarray]:
    """Image ``image``'s noise of each copy, as the module documents its recipe."""
    generator = torch.Generator().manual_seed(SEED)
    out = []
    for _ in range(samples):
        u = torch.rand(shape, generator=generator) if kind == "uniform" else torch.randn(shape, generator=generator)
        out.append(((u * 2 - 1) if kind == "uniform" else u)[image : image + 1].numpy() * scale)
    return out


def fed(draws: list[np.ndarray]) -> Any:
    """A Quantus ``perturb_func`` returning ``arr`` plus the next of ``draws``."""
    queue = iter(draws)

    def perturb(arr: np.ndarray, indices: np.ndarray, **_: Any) -> np.ndarray:
        return arr + next(queue).reshape(arr.shape).astype(arr.dtype)

    return perturb


def quantus_per_image(cls: Any, model: Any, x: Tensor, y: Tensor, kind: str, scale: float, **kw: Any) -> np.ndarray:
    def q_explain(model: Any, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
        batch = torch.as_tensor(inputs, dtype=torch.float32)
        return xai_core.attribute(model, batch, "saliency", target=torch.as_tensor(targets)).attributions.numpy()

    scores = []
    for i in range(x.shape[0]):
        metric = cls(
            nr_samples=SAMPLES, perturb_func=fed(our_draws(kind, scale, x.shape, i)), disable_warnings=True, **kw
        )
        scores.append(metric(model=model, x_batch=x[i : i + 1].numpy(), y_batch=y[i : i + 1].numpy(),
                             explain_func=q_explain, device="cpu")[0])  # fmt: skip
    return np.array(scores, dtype=np.float64)


@pytest.mark.parametrize(
    ("name", "reference", "options", "rtol"),
    [
        ("max_sensitivity", quantus.MaxSensitivity, {}, 1e-4),
        ("avg_sensitivity", quantus.AvgSensitivity, {}, 1e-4),
        ("relative_input_stability", quantus.RelativeInputStability, {}, 1e-4),
        # ||h - h'|| of float32 logits differing by a few ulps between the two libraries' forwards
        ("relative_output_stability", quantus.RelativeOutputStability, {}, 1e-3),
        ("relative_representation_stability", quantus.RelativeRepresentationStability, {"layer_names": ["5"]}, 1e-4),
    ],
)
def test_uniform_measures_agree_with_quantus(setup: Any, name: str, reference: Any, options: dict, rtol: float) -> None:
    model, x, y = setup
    ours = metrics.evaluate(
        name, model=model, inputs=x, explainer=explainer(model), target=y, radius=RADIUS, samples=SAMPLES, seed=SEED
    )
    theirs = quantus_per_image(reference, model, x, y, "uniform", RADIUS, **options)
    np.testing.assert_allclose(ours.per_image, theirs, rtol=rtol)
    assert not ours.higher_is_better and ours.value == pytest.approx(theirs.mean(), rel=rtol)


def test_local_lipschitz_agrees_with_quantus_on_gaussian_draws(setup: Any) -> None:
    model, x, y = setup
    std = 0.05
    ours = metrics.evaluate(
        "local_lipschitz_estimate", model=model, inputs=x, explainer=explainer(model), target=y, std=std,
        samples=SAMPLES, seed=SEED,
    )  # fmt: skip
    theirs = quantus_per_image(quantus.LocalLipschitzEstimate, model, x, y, "gaussian", std)
    np.testing.assert_allclose(ours.per_image, theirs, rtol=1e-4)


def test_relative_stability_counts_only_copies_that_keep_the_prediction() -> None:
    """A linear model with small margins and a radius that flips some predictions: ours takes the max over the kept
    copies, which is Quantus' value when it is fed only those copies (fed all of them, its np.max returns NaN)."""
    model = linear_model(2, shape=(3, 8, 8), classes=3)
    x = images(batch=2, size=8)
    y = model(x).argmax(dim=1)
    radius, samples = 0.5, 12  # keeps 8 and 10 of the 12 copies

    def explain(batch: Tensor, classes: Tensor, model_: Any = None) -> Tensor:
        return xai_core.attribute(model, batch, "input_x_gradient", target=classes).attributions

    def q_explain(model: Any, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
        return explain(torch.as_tensor(inputs, dtype=torch.float32), torch.as_tensor(targets)).numpy()

    ours = metrics.evaluate(
        "relative_input_stability", model=model, inputs=x, explainer=explain, target=y, radius=radius,
        samples=samples, seed=SEED,
    )  # fmt: skip
    assert isinstance(ours, metrics.RobustnessResult)
    for i in range(2):
        draws = our_draws("uniform", radius, x.shape, i, samples)
        kept = [d for d in draws if model(x[i : i + 1] + torch.from_numpy(d)).argmax(1) == y[i]]
        assert 0 < len(kept) < samples  # the case under test
        assert np.isnan(ours.draws[:, i]).sum() == samples - len(kept)
        metric = quantus.RelativeInputStability(nr_samples=len(kept), perturb_func=fed(kept), disable_warnings=True)
        theirs = metric(model=model, x_batch=x[i : i + 1].numpy(), y_batch=y[i : i + 1].numpy(), explain_func=q_explain)
        assert ours.per_image[i] == pytest.approx(theirs[0], rel=1e-4)
        # the worst copy is regenerated exactly, and it is one the model still predicts as the image
        worst = int(ours.worst[i])
        np.testing.assert_allclose(ours.worst_inputs[i], (x[i] + torch.from_numpy(draws[worst][0])).numpy(), atol=1e-6)
        assert model(torch.tensor(ours.worst_inputs[i : i + 1])).argmax(1) == y[i]
    everything = metrics.evaluate(
        "relative_input_stability", model=model, inputs=x, explainer=explain, target=y, radius=radius,
        samples=samples, seed=SEED, same_prediction=False,
    )  # fmt: skip
    assert not np.isnan(everything.draws).any() and (everything.per_image >= ours.per_image).all()


def test_unnormalised_sensitivity_is_yehs_closed_form() -> None:
    """An explainer returning twice its input: ``||Φ(x + δ) - Φ(x)|| = 2 ||δ||`` exactly (max and mean over δ)."""
    model, x = smooth_cnn(classes=3), images(batch=2, size=6)

    def doubled(batch: Tensor, classes: Tensor, model: Any = None) -> Tensor:
        return 2 * batch

    norms = np.stack([[2 * np.linalg.norm(d) for d in our_draws("uniform", RADIUS, x.shape, i)] for i in range(2)])
    for name, expected in (("max_sensitivity", norms.max(axis=1)), ("avg_sensitivity", norms.mean(axis=1))):
        found = metrics.evaluate(
            name, model=model, inputs=x, explainer=doubled, relative=False, radius=RADIUS, samples=SAMPLES, seed=SEED
        )
        np.testing.assert_allclose(found.per_image, expected, rtol=1e-5)


def test_a_linear_models_gradient_is_perfectly_robust() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 6, 3)).eval()
    x = images(batch=2, size=6)
    found = metrics.evaluate_many(
        ["max_sensitivity", "avg_sensitivity", "local_lipschitz_estimate"], model=model, inputs=x,
        explainer=explainer(model), samples=3,
    )  # fmt: skip
    for result in found.values():
        np.testing.assert_allclose(result.per_image, 0.0, atol=1e-6)


class Counting:
    def __init__(self, model: Any) -> None:
        self.explain, self.sizes = explainer(model), []

    def __call__(self, batch: Tensor, classes: Tensor, model: Any = None) -> Tensor:
        self.sizes.append(batch.shape[0])
        return self.explain(batch, classes)


def test_copies_are_explained_in_stacked_batches_shared_by_the_suite(setup: Any) -> None:
    model, x, y = setup
    counting = Counting(model)
    found = metrics.evaluate_many(
        [*UNIFORM, "relative_representation_stability"], model=model, inputs=x, explainer=counting, target=y,
        samples=SAMPLES, chunk_size=4,
    )  # fmt: skip
    # the originals (2 images) and 5 copies x 2 images in chunks of 4: one set of calls for all five measures
    assert counting.sizes == [2, 4, 4, 2]
    alone = metrics.evaluate("max_sensitivity", model=model, inputs=x, explainer=explainer(model), target=y,
                             samples=SAMPLES)  # fmt: skip
    np.testing.assert_allclose(found["max_sensitivity"].per_image, alone.per_image, rtol=1e-6)


def test_checks_max_sensitivity_is_a_thin_call_of_the_metric() -> None:
    model, x = relu_cnn(), images(batch=2, size=8)
    old = checks.max_sensitivity(model, x, "saliency", radius=0.05, samples=4, seed=1)
    new = metrics.evaluate("max_sensitivity", model=model, inputs=x, explainer=explainer(model), radius=0.05,
                           samples=4, seed=1)  # fmt: skip
    np.testing.assert_array_equal(old.per_sample, new.per_image)
    assert old.method == "saliency"


def test_a_wrapper_is_perturbed_in_pixel_space_and_clipped() -> None:
    module = relu_cnn()
    wrapper = PixelWrapper(module)
    x = wrapper.to_model_space(torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
    progress: list[float] = []
    found = metrics.evaluate(
        "max_sensitivity", model=wrapper, inputs=x, explainer=explainer(module), radius=0.5, samples=3,
        progress=lambda f, _: progress.append(f),
    )  # fmt: skip
    assert isinstance(found, metrics.RobustnessResult)
    pixels = wrapper.to_pixels(torch.tensor(found.worst_inputs))
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0 and progress[-1] == 1.0
    assert found.draws.shape == (3, 2)


def test_settings_are_validated_with_name_range_and_value(setup: Any) -> None:
    model, x, _ = setup
    with pytest.raises(xai_core.ParameterError, match=r"max_sensitivity: parameter 'radius' must be a finite number"
                       r" in \[1e-06, 1.0\]; got 2"):  # fmt: skip
        metrics.evaluate("max_sensitivity", model=model, inputs=x, explainer=explainer(model), radius=2)
    with pytest.raises(xai_core.ParameterError, match=r"parameter 'samples' must be an integer in \[1, 1000\]; got 0"):
        metrics.evaluate("local_lipschitz_estimate", model=model, inputs=x, explainer=explainer(model), samples=0)
    with pytest.raises(ValueError, match="needs model, inputs, explainer; missing: explainer"):
        metrics.evaluate("avg_sensitivity", model=model, inputs=x)


def test_describe_carries_what_a_page_needs() -> None:
    rows = {row["name"]: row for row in metrics.describe()}
    for name in (*UNIFORM, "relative_representation_stability", "local_lipschitz_estimate"):
        row = rows[name]
        assert row["family"] == "robustness" and row["needs"] == ["model", "inputs", "explainer"]
        assert row["title"] and row["summary"] and row["paper"] and row["url"].startswith("https://")
        assert row["higher_is_better"] is False
        assert all(p["help"] for p in row["params"])


class FlatLinear(torch.nn.Module):
    """A linear model with no layer before its only parameter layer: no representation for RRS."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3 * 6 * 6, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.flatten(1))


def test_rrs_without_a_representation_is_left_out_and_the_others_computed() -> None:
    model, x = FlatLinear().eval(), images(batch=2, size=6)
    found = metrics.evaluate_many(
        ["max_sensitivity", "relative_representation_stability"], model=model, inputs=x, explainer=explainer(model),
        samples=2,
    )  # fmt: skip
    assert list(found) == ["max_sensitivity"]
    with pytest.raises(metrics.MetricNotApplicable, match="no layer feeds the model's last parameter layer"):
        metrics.evaluate("relative_representation_stability", model=model, inputs=x, explainer=explainer(model))

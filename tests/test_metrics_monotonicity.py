"""Monotonicity (Arya) and monotonicity correlation (Nguyen) against Quantus 0.6.0 and AIX360's loop."""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
from quantus_oracle import gray_cnn, gray_images, gray_maps, quantus_call
from torch import nn

from xai_core import metrics
from xai_core.metrics.monotonicity import random_values


def recorded(model: nn.Module, y: torch.Tensor, run: object) -> np.ndarray:
    """Quantus' predictions of ``y``'s probability at each step (it returns only the verdict)."""
    seen: list[torch.Tensor] = []
    handle = model.register_forward_hook(lambda _m, _i, out: seen.append(out.softmax(1)[torch.arange(len(y)), y]))
    try:
        run()  # type: ignore[operator]
    finally:
        handle.remove()
    return torch.stack(seen, 1).detach().numpy()


@torch.no_grad()
def aix360_monotonicity(model: nn.Module, x: torch.Tensor, coefs: np.ndarray, base: torch.Tensor) -> tuple:
    """AIX360's ``monotonicity_metric``, one feature at a time, with its probabilities."""
    cls = int(model(x[None]).argmax())
    x_copy, ar = base.clone().reshape(-1), np.argsort(coefs.reshape(-1), kind="stable")
    probs = []
    for ind in ar:
        x_copy[ind] = x.reshape(-1)[ind]
        probs.append(float(model(x_copy.reshape(1, *x.shape)).softmax(1)[0, cls]))
    return bool(np.all(np.diff(probs) >= 0)), np.array(probs)


def test_monotonicity_agrees_with_aix360_and_with_quantus_once_its_insertion_is_mended() -> None:
    model, x, a = gray_cnn(), gray_images(size=8), gray_maps(size=8)
    y = model(x).argmax(1)
    ours = metrics.evaluate("monotonicity", model=model, inputs=x, maps=a, steps=64, target=y)
    for i in range(2):
        verdict, probs = aix360_monotonicity(model, x[i], a[i], torch.zeros_like(x[i]))
        np.testing.assert_allclose(ours.curves[0].scores[i, 1:], probs, atol=1e-6)
        assert ours.per_image[i] == float(verdict)
    # Quantus 0.6.0 writes its baseline value over the baseline image at every step, so the features never go in
    # and every map passes on a flat curve:
    default = quantus.Monotonicity(features_in_step=4, normalise=False, abs=False, disable_warnings=True)
    flat = recorded(model, y, lambda: quantus_call(default, model, x, y, a, softmax=True))
    assert np.ptp(flat, axis=1).max() == 0.0

    # With an insertion that copies the image's values at the indices, it computes the published measure.
    def insert(arr: np.ndarray, indices: np.ndarray, **_: object) -> np.ndarray:
        out, rows = arr.copy(), np.arange(len(arr))[:, None]
        out[rows, indices] = x.numpy().reshape(len(arr), -1)[rows, indices]
        return out

    mended = quantus.Monotonicity(features_in_step=4, perturb_func=insert, normalise=False, abs=False,
                                  disable_warnings=True)  # fmt: skip
    verdicts: list = []
    curve = recorded(model, y, lambda: verdicts.extend(quantus_call(mended, model, x, y, a, softmax=True)))
    four = metrics.evaluate("monotonicity", model=model, inputs=x, maps=a, steps=16, target=y)
    np.testing.assert_allclose(four.curves[0].scores[:, 1:], curve, atol=1e-6)
    np.testing.assert_array_equal(four.per_image, np.array(verdicts, dtype=float))


def test_monotonicity_of_a_model_that_only_counts_pixels_passes_and_a_reversed_one_fails() -> None:
    class Sum(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = x.flatten(1).sum(1)
            return torch.stack([s, -s], 1)

    model, x = Sum().eval(), torch.rand(1, 3, 6, 6) + 0.1
    curve = metrics.evaluate("monotonicity", model=model, inputs=x, maps=np.random.rand(1, 6, 6), target=0,
                             steps=36, output="logit")  # fmt: skip
    assert curve.per_image[0] == 1.0 and curve.value == 1.0
    assert metrics.evaluate("monotonicity", model=model, inputs=x, maps=np.random.rand(1, 6, 6), target=1,
                            steps=36, output="logit").value == 0.0  # fmt: skip


@pytest.mark.parametrize("step", [1, 4])
def test_monotonicity_correlation_agrees_with_quantus_on_the_same_draws(step: int) -> None:
    model, x, a = gray_cnn(2), gray_images(seed=4, size=8), gray_maps(seed=6, size=8)
    y = model(x).argmax(1)
    samples = 4
    ours = metrics.evaluate(
        "monotonicity_correlation", model=model, inputs=x, maps=a, samples=samples, features_in_step=step,
        granularity="pixel", target=y, seed=9,
    )  # fmt: skip
    draws = [random_values(model, x, "uniform", samples, 9, b).reshape(samples, -1).numpy() for b in range(2)]
    calls = [0]

    def replay(arr: np.ndarray, indices: np.ndarray, **_: object) -> np.ndarray:
        """Quantus asks for sample ``k % samples`` of each step in turn: hand it our draw at those pixels."""
        s, calls[0] = calls[0] % samples, calls[0] + 1
        out = arr.copy()
        for b in range(len(arr)):
            out[b, indices[b]] = draws[b][s, indices[b]]
        return out

    reference = quantus.MonotonicityCorrelation(nr_samples=samples, features_in_step=step, perturb_func=replay,
                                                normalise=False, abs=False, disable_warnings=True)  # fmt: skip
    np.testing.assert_allclose(ours.per_image, quantus_call(reference, model, x, y, a, softmax=True), atol=1e-9)
    assert ours.higher_is_better

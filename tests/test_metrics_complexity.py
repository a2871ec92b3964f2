"""Complexity measures agree with Quantus 0.6 image by image, and with their closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import quantus

import xai_core
from xai_core import metrics

QUANTUS = {
    "sparseness": quantus.Sparseness,
    "complexity": quantus.Complexity,
    "effective_complexity": quantus.EffectiveComplexity,
}


def maps() -> np.ndarray:
    rng = np.random.default_rng(0)
    out = rng.normal(size=(3, 10, 12))
    out[1] = np.where(rng.random((10, 12)) < 0.8, 0.0, out[1])  # sparse
    out[2] *= 1e-3  # a small map next to larger ones
    return out


def quantus_scores(name: str, a: np.ndarray) -> np.ndarray:
    x, y = np.zeros((len(a), 1, *a.shape[1:])), np.zeros(len(a), dtype=int)
    scores = QUANTUS[name](disable_warnings=True)(model=None, x_batch=x, y_batch=y, a_batch=a[:, None].copy())
    return np.asarray(scores, dtype=np.float64)


@pytest.mark.parametrize("name", list(QUANTUS))
def test_complexity_measures_agree_with_quantus_per_image(name: str) -> None:
    a = maps()
    found = metrics.evaluate(name, maps=a)
    theirs = np.concatenate([quantus_scores(name, a[i : i + 1]) for i in range(len(a))])
    np.testing.assert_allclose(found.per_image, theirs, rtol=1e-12)
    assert found.higher_is_better is (name == "sparseness")


def test_an_images_score_does_not_depend_on_the_rest_of_the_batch_unlike_quantus() -> None:
    """Quantus normalises by the batch's largest value: the small map's effective complexity changes with its
    neighbours there (117 pixels above eps instead of 120), not here."""
    a = maps()
    alone = metrics.evaluate("effective_complexity", maps=a[2:]).per_image[0]
    assert metrics.evaluate("effective_complexity", maps=a).per_image[2] == alone == 120
    assert quantus_scores("effective_complexity", a)[2] < alone


def test_closed_forms_of_a_uniform_and_a_single_pixel_map() -> None:
    n = 8 * 8
    uniform, single = np.ones((1, 8, 8)), np.zeros((1, 8, 8))
    single[0, 3, 4] = -2.0  # the sign does not matter: |m|
    assert metrics.evaluate("sparseness", maps=uniform).value == pytest.approx(0.0, abs=1e-12)
    assert metrics.evaluate("sparseness", maps=single).value == pytest.approx(1 - 1 / n, abs=1e-5)
    assert metrics.evaluate("complexity", maps=uniform).value == pytest.approx(np.log(n), abs=1e-9)
    assert metrics.evaluate("complexity", maps=single).value == pytest.approx(0.0, abs=1e-9)
    assert metrics.evaluate("effective_complexity", maps=single).value == 1
    assert metrics.evaluate("effective_complexity", maps=uniform, eps=0.999).value == n


def test_a_zero_map_is_sparse_zero_and_has_no_entropy() -> None:
    zero = np.zeros((2, 4, 4))
    zero[1, 0, 0] = 1.0
    assert metrics.evaluate("sparseness", maps=zero).per_image[0] == pytest.approx(0.0)
    entropy = metrics.evaluate("complexity", maps=zero)
    assert np.isnan(entropy.per_image[0]) and entropy.value == pytest.approx(0.0, abs=1e-9)


def test_eps_is_validated() -> None:
    with pytest.raises(xai_core.ParameterError, match=r"effective_complexity: parameter 'eps' must be a finite number "
                       r"in \[0.0, 1.0\]; got 2"):  # fmt: skip
        metrics.evaluate("effective_complexity", maps=maps(), eps=2)

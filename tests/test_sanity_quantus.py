"""The randomization-test similarity measures agree with Quantus 0.6's definitions (MPRT's similarity_func)."""

from __future__ import annotations

import numpy as np
import pytest
from quantus.functions import similarity_func as quantus

from xai_core.sanity import similarity


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_similarities_agree_with_quantus(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(28, 28))
    b = a + rng.normal(scale=0.8, size=(28, 28))
    assert similarity.spearman(a, b) == pytest.approx(quantus.correlation_spearman(a.ravel(), b.ravel()), abs=1e-12)
    assert similarity.spearman_abs(a, b) == pytest.approx(
        quantus.correlation_spearman(np.abs(a).ravel(), np.abs(b).ravel()), abs=1e-12
    )
    # Quantus takes the data range from both maps; on maps min-max normalised to [0, 1] that range is 1, as ours.
    a01, b01 = similarity.normalize01(a), similarity.normalize01(b)
    assert similarity.ssim(a, b) == pytest.approx(quantus.ssim(a01, b01), abs=1e-10)
    hog_a, hog_b = similarity.hog_features(a), similarity.hog_features(b)
    assert similarity.hog_pearson(a, b) == pytest.approx(quantus.correlation_pearson(hog_a, hog_b), abs=1e-10)

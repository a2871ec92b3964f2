"""What every faithfulness measure of issue 14 promises: it runs on an RGB model from an Attribution, reports
progress up to 1, gives the same result whatever the chunk size, and declares what the app's Learn page shows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from toys import relu_cnn

import xai_core
from xai_core import metrics

SMALL = {
    "faithfulness_correlation": {"runs": 6, "subset_size": 20},
    "faithfulness_estimate": {"patch_size": 4},
    "monotonicity": {"steps": 8},
    "monotonicity_correlation": {"samples": 2, "patch_size": 4},
    "sensitivity_n": {"points": 3, "samples": 4},
    "pixel_flipping": {"steps": 8},
    "region_perturbation": {"regions": 4, "patch_size": 4},
    "selectivity": {"patch_size": 4},
    "irof": {"n_segments": 8},
    "infidelity": {"samples": 5},
    "road_morf": {"percent_from": 10, "percent_to": 90, "percent_step": 40},
    "road_lerf": {"percent_from": 10, "percent_to": 90, "percent_step": 40},
    "road_combined": {"percent_from": 10, "percent_to": 90, "percent_step": 40},
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_measure_runs_reports_progress_and_does_not_depend_on_the_chunk(name: str) -> None:
    model = relu_cnn(classes=3)
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    explained = xai_core.attribute(model, x, "saliency")
    seen: list[float] = []
    found = metrics.evaluate(name, model=model, inputs=x, maps=explained, progress=lambda f, _p: seen.append(f),
                             **SMALL[name])  # fmt: skip
    again = metrics.evaluate(name, model=model, inputs=x, maps=explained, chunk_size=1, **SMALL[name])
    values = getattr(found, "per_image", getattr(found, "auc", None))
    assert values is not None and values.shape == (2,)
    assert np.isfinite(values).all() or name.startswith("faithfulness")  # a correlation may be undefined
    # float32 forwards of 8 images or 1 differ in the last bits; small drops carry that into a correlation
    np.testing.assert_allclose(values, getattr(again, "per_image", getattr(again, "auc", None)), atol=1e-4)
    assert found.higher_is_better == metrics.get(name).higher_is_better
    assert seen and seen[-1] == pytest.approx(1.0) and all(b >= a for a, b in itertools.pairwise(seen))


def test_describe_carries_what_the_learn_page_needs() -> None:
    described = {entry["name"]: entry for entry in metrics.describe()}
    for name in SMALL:
        entry = described[name]
        assert entry["family"] == "faithfulness"
        assert entry["title"] and entry["summary"] and entry["paper"] and entry["url"].startswith("https://arxiv.org/")
        assert all(p["help"] for p in entry["params"])

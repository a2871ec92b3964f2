"""Infidelity against Captum 0.9's ``captum.metrics.infidelity`` given the same perturbations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.metrics import infidelity
from toys import relu_cnn

from xai_core import metrics
from xai_core.metrics.infidelity import perturbations


@pytest.mark.parametrize(("output", "normalize"), [("logit", False), ("logit", True), ("probability", False)])
def test_infidelity_agrees_with_captum(output: str, normalize: bool) -> None:
    model = relu_cnn(classes=5)
    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    maps = np.random.default_rng(0).normal(size=(2, 10, 10)) * 0.1
    target = torch.tensor([1, 4])
    ours = metrics.evaluate("infidelity", model=model, inputs=x, maps=maps, target=target, samples=12, sigma=0.2,
                            seed=7, output=output, normalize=normalize)  # fmt: skip
    noise = perturbations(x.shape, 12, 0.2, 7).float()  # [B, samples, H, W], image-major as Captum's repeat_interleave

    def perturb(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shared = noise.reshape(-1, 1, 10, 10).expand_as(inputs)  # the same draw in every channel of a pixel
        return shared, inputs - shared

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        out = model(inputs)
        return out.softmax(1) if output == "probability" else out

    # A 2-D map is one attribution per pixel: spread over the channels so that Σ_c I Φ_c = I * map.
    spread = torch.from_numpy(maps).float()[:, None].expand_as(x) / 3
    expected = infidelity(forward, perturb, x, spread, target=target, n_perturb_samples=12, normalize=normalize)
    np.testing.assert_allclose(ours.per_image, expected.double().numpy(), rtol=2e-5, atol=1e-9)
    assert not ours.higher_is_better


def test_an_exact_linear_explanation_has_zero_infidelity() -> None:
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 6, 2)).eval()
    x = torch.randn(1, 3, 6, 6)
    # f(x) - f(x - I) = Σ_c w_c · I (shared over channels): the map Σ_c w_c predicts it exactly.
    exact = model[1].weight[0].reshape(3, 6, 6).sum(0).detach().numpy()[None]
    found = metrics.evaluate("infidelity", model=model, inputs=x, maps=exact, target=0, samples=20)
    assert found.value == pytest.approx(0.0, abs=1e-9)
    worse = metrics.evaluate("infidelity", model=model, inputs=x, maps=-exact, target=0, samples=20)
    assert worse.value > 1e-3

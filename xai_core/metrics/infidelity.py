"""Infidelity (Yeh, Hsieh, Suggala, Inouye, Ravikumar 2019, eq. 2): ``INFD(Φ, f, x) = E_I[(I^T Φ - (f(x) - f(x -
I)))²]``, how badly the attribution, read as a linear model of the output, predicts the output change under random
perturbations ``I``. Lower is better.

Perturbations are Gaussian, ``I ~ N(0, σ²)`` per pixel and shared by the pixel's channels (the paper's "noisy
baseline" with a zero baseline), ``samples`` per image, seeded; scored in chunked gradient-free forwards. A map
``Φ`` ``[H, W]`` is a per-pixel attribution, so ``I^T Φ = Σ_{h,w} I_hw Φ_hw``: with a map that sums the
per-channel attributions this equals the per-channel ``Σ_{c,h,w} I_hw Φ_chw``, which is why the noise is shared by
the channels. With ``normalize`` the attribution is first scaled by the best ``β = E[I^TΦ Δ] / E[(I^TΦ)²]`` (the
paper's scale-invariant form, Captum's ``normalize=True``).

Captum 0.9's ``captum.metrics.infidelity`` is the oracle: given the same perturbations (its ``perturb_func``) and
the map spread over the channels it agrees to float32 rounding (tests/test_metrics_infidelity.py). Yeh et al.'s
square-removal perturbations are not offered: they differ per channel, which a 2-D map cannot be scored against.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from xai_core.metrics.base import Metric, MetricContext
from xai_core.metrics.feature_sets import LOGIT_OUTPUT, SUBSET_SEED, prepare, score_images
from xai_core.metrics.records import ScoreResult
from xai_core.metrics.registry import register
from xai_core.params import BoolParam, FloatParam, IntParam


def perturbations(shape: torch.Size, samples: int, sigma: float, seed: int) -> Tensor:
    """``I`` ``[B, samples, H, W]`` (float64): ``N(0, σ²)`` draws from a generator seeded with ``seed``."""
    b, _, h, w = shape
    gen = torch.Generator().manual_seed(seed)
    return sigma * torch.randn(b, samples, h, w, generator=gen, dtype=torch.float64)


@register
class Infidelity(Metric):
    """``mean_j (I_j^T Φ - (f(x) - f(x - I_j)))²`` per image over ``samples`` Gaussian perturbations."""

    name, title = "infidelity", "Infidelity"
    paper = "Yeh, Hsieh, Suggala, Inouye, Ravikumar. On the (In)fidelity and Sensitivity of Explanations. NeurIPS 2019"
    url = "https://arxiv.org/abs/1901.09392"
    summary = "Mean squared error of the map's linear prediction of the output change under random noise."
    higher_is_better = False
    needs = ("model", "inputs", "maps")
    params = (
        IntParam("samples", 50, "random perturbations per image (Captum's n_perturb_samples)", low=1, high=100000),
        FloatParam("sigma", 0.1, "standard deviation of the Gaussian perturbation, in the model's input units",
                   low=1e-6, high=100.0),
        BoolParam("normalize", False, "scale the map by the best β first (Captum's normalize)"),
        LOGIT_OUTPUT, SUBSET_SEED,
    )  # fmt: skip

    def compute(self, ctx: MetricContext, **s: Any) -> ScoreResult:
        run = prepare(ctx, s["output"])
        samples = s["samples"]
        noise = perturbations(run.x.shape, samples, s["sigma"], s["seed"])

        def build(r: Tensor, c: Tensor) -> Tensor:
            return run.x[r.to(run.x.device)] - noise[r, c].to(run.x).unsqueeze(1)

        scores = score_images(run, samples, build, lambda f: ctx.report(f))
        change = run.base[:, None] - scores  # f(x) - f(x - I)
        predicted = (noise * run.maps.double().cpu()[:, None]).sum(dim=(2, 3)).numpy()  # I^T Φ
        if s["normalize"]:
            pp, pc = (predicted * predicted).sum(axis=1), (predicted * change).sum(axis=1)
            beta = np.where(pp != 0, pc / np.where(pp != 0, pp, 1.0), 0.0)  # Captum's safe_div: 0 / 0 -> 0
            predicted = beta[:, None] * predicted
        per_image = ((predicted - change) ** 2).mean(axis=1)
        return ScoreResult(name=self.name, value=float(per_image.mean()), per_image=per_image, higher_is_better=False)

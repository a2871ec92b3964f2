"""SmoothGrad and VarGrad: a wrapper over any registered method (composition, as Captum's NoiseTunnel).

SmoothGrad (Smilkov et al. 2017, https://arxiv.org/abs/1706.03825): M_hat(x) = 1/n sum_i M(x + N(0, s^2)), with the
noise level s = sigma * (max(x) - min(x)) per sample, sigma being the paper's "noise level" (10-20% works best).
VarGrad (Adebayo et al. 2018, https://arxiv.org/abs/1810.03292): the variance of M(x + noise) over the same
samples (population variance, as Captum and the sanity-checks code).

Noise samples are evaluated in chunks of whole noise draws (``chunk_size`` images per call); the noise comes
from a CPU ``torch.Generator`` seeded by ``seed``, one draw per noise sample in order, so the map does not depend
on the device or the chunk size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from xai_core.batching import chunks
from xai_core.methods.base import Context, Method
from xai_core.params import FloatParam, IntParam, Param

POSTPROCESSORS = ("smoothgrad", "vargrad")
PARAMS: tuple[Param, ...] = (
    IntParam("samples", 25, "noisy copies averaged", low=1, high=10000),
    FloatParam("sigma", 0.15, "noise std as a fraction of the input's value range (max - min)", low=0.0, high=1.0),
    IntParam("seed", 0, "seed of the noise generator", low=0, high=2**31 - 1),
)


def noisy_map(
    method: Method, inputs: Tensor, ctx: Context, params: dict[str, Any], *, mode: str, samples: int, sigma: float,
    seed: int,
) -> Tensor:  # fmt: skip
    """Mean (``smoothgrad``) or variance (``vargrad``) of ``method``'s map over ``samples`` noisy inputs."""
    if mode not in POSTPROCESSORS:
        raise ValueError(f"postprocess must be one of {list(POSTPROCESSORS)} or None; got {mode!r}")
    batch = inputs.shape[0]
    flat = inputs.flatten(1)
    spread = (flat.max(dim=1).values - flat.min(dim=1).values).view(-1, *([1] * (inputs.ndim - 1)))
    stdev = sigma * spread
    generator = torch.Generator().manual_seed(seed)
    draws_per_chunk = max(1, ctx.chunk_size // batch)
    total = sum_sq = None
    for part in chunks(samples, draws_per_chunk):
        draws = part.stop - part.start
        noise = torch.stack([torch.randn(inputs.shape, generator=generator) for _ in range(draws)])
        noisy = (inputs.unsqueeze(0) + noise.to(inputs.device, inputs.dtype) * stdev).flatten(0, 1)
        maps = method.compute(noisy, ctx.for_batch(ctx.target.repeat(draws)), **params).double()
        maps = maps.view(draws, batch, *maps.shape[1:])
        total = maps.sum(0) if total is None else total + maps.sum(0)
        sum_sq = (maps**2).sum(0) if sum_sq is None else sum_sq + (maps**2).sum(0)
        ctx.report(part.stop / samples)
    assert total is not None and sum_sq is not None
    mean = total / samples
    result = mean if mode == "smoothgrad" else (sum_sq / samples - mean**2).clamp(min=0)
    return result.to(inputs.dtype)

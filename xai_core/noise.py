"""SmoothGrad, SmoothGrad squared and VarGrad: a wrapper over any registered method (composition, as NoiseTunnel).

SmoothGrad (Smilkov et al. 2017, https://arxiv.org/abs/1706.03825): M_hat(x) = 1/n sum_i M(x + N(0, s^2)), with the
noise level s = sigma * (max(x) - min(x)) per sample, sigma being the paper's "noise level" (10-20% works best).
SmoothGrad squared (PAIR ``saliency``'s ``magnitude=True``, Xplique's SquareGrad, "SG-SQ" in Hooker et al. 2019's
ROAR, https://arxiv.org/abs/1806.10758): 1/n sum_i M(x + noise_i)^2, element-wise, before any channel reduction.
VarGrad (Adebayo et al. 2018, https://arxiv.org/abs/1810.03292): the variance of M(x + noise) over the same samples
(population variance, as Captum and the sanity-checks code).

The setting is a ``Noise`` record, validated by its own schema (``PARAMS``) and passed to ``attribute`` apart from the
method's parameters (``attribute(..., noise=Noise("smoothgrad", samples=25))``), so a method's ``seed`` or ``samples``
never collides with the wrapper's.

Noise samples are evaluated in chunks of whole noise draws (``chunk_size`` images per call); the noise comes
from a CPU ``torch.Generator`` seeded by ``seed``, one draw per noise sample in order, so the map does not depend
on the device or the chunk size. Whatever the method records (completeness gap, path profile) is kept for every
draw (``extras.merge_draws``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from xai_core.batching import chunks
from xai_core.composite_baselines import compute_with_baselines
from xai_core.extras import merge_draws
from xai_core.methods.base import Context, Method
from xai_core.params import ChoiceParam, FloatParam, IntParam, Param, ParameterError, validate

MODES = ("smoothgrad", "smoothgrad_squared", "vargrad")
POSTPROCESSORS = MODES  # the survey's name for this family
MODE = ChoiceParam("mode", "smoothgrad", "mean, mean of squares, or variance of the maps over the noisy copies", MODES)
PARAMS: tuple[Param, ...] = (
    IntParam("samples", 25, "noisy copies averaged", low=1, high=10000),
    FloatParam("sigma", 0.15, "noise std as a fraction of the input's value range (max - min)", low=0.0, high=1.0),
    IntParam("seed", 0, "seed of the noise generator", low=0, high=2**31 - 1),
)
TITLES = {"smoothgrad": "SmoothGrad", "smoothgrad_squared": "SmoothGrad²", "vargrad": "VarGrad"}
# Each mode's summary and paper, declared once (the README table, the Learn page): (summary, paper, url).
PAPERS = {
    "smoothgrad": (
        "Mean of a method's maps over copies of the image with Gaussian noise added.",
        "Smilkov, Thorat, Kim, Viégas, Wattenberg. SmoothGrad: removing noise by adding noise. 2017",
        "https://arxiv.org/abs/1706.03825",
    ),
    "smoothgrad_squared": (
        "Mean of the squared maps over the same noisy copies (SG-SQ).",
        "Hooker, Erhan, Kindermans, Kim. A Benchmark for Interpretability Methods in Deep Neural Networks. NeurIPS "
        "2019",
        "https://arxiv.org/abs/1806.10758",
    ),
    "vargrad": (
        "Variance of a method's maps over copies of the image with Gaussian noise added.",
        "Adebayo, Gilmer, Goodfellow, Kim. Local explanation methods for deep neural networks lack sensitivity to "
        "parameter values. 2018",
        "https://arxiv.org/abs/1810.03292",
    ),
}


def describe() -> list[dict[str, Any]]:
    """Every noise mode as the registries describe entries: name, title, family, summary, paper, url, params."""
    return [
        {
            "name": mode,
            "title": TITLES[mode],
            "family": "postprocess",
            "summary": PAPERS[mode][0],
            "paper": PAPERS[mode][1],
            "url": PAPERS[mode][2],
            "params": [p.describe() for p in PARAMS],
        }
        for mode in MODES
    ]


@dataclass(frozen=True)
class Noise:
    """A SmoothGrad / SmoothGrad-squared / VarGrad setting; validated when made (``ParameterError`` otherwise)."""

    mode: str = "smoothgrad"
    samples: int = 25
    sigma: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        MODE.coerce(self.mode, "noise")
        resolved = validate(PARAMS, {"samples": self.samples, "sigma": self.sigma, "seed": self.seed}, self.mode)
        for name, value in resolved.items():
            object.__setattr__(self, name, value)  # coerced types: 0.2 stays float, 25.0 becomes 25

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Noise:
        """The inverse of ``to_dict``; unknown keys are refused with their names."""
        unknown = sorted(set(data) - {"mode", *(p.name for p in PARAMS)})
        if unknown:
            raise ParameterError(f"noise: unknown setting(s) {unknown}; it takes 'mode', 'samples', 'sigma', 'seed'")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def title(self) -> str:
        """How the app names it: ``SmoothGrad (25 x 0.15)``."""
        return f"{TITLES[self.mode]} ({self.samples} x {self.sigma:g})"


def _repeat_per_input(value: Any, batch: int, draws: int) -> Any:
    """A per-input tensor parameter ``[B, ...]`` (a baseline) for a chunk of ``draws`` noise draws: ``[draws*B, ...]``.

    The chunk's inputs are laid out draw-major (draw 0's B images, then draw 1's, ...), so the tensor is tiled whole.
    """
    if isinstance(value, Tensor) and value.ndim >= 1 and value.shape[0] == batch and batch > 1:
        return value.repeat(draws, *([1] * (value.ndim - 1)))
    return value


def _share(ctx: Context, start: int, draws: int, samples: int, fraction: float) -> None:
    """A noise chunk's own progress as a fraction of all the draws (the inner method reports between its chunks)."""
    ctx.report((start + draws * fraction) / samples)


def noisy_map(method: Method, inputs: Tensor, ctx: Context, params: dict[str, Any], noise: Noise) -> Tensor:
    """Mean, mean of squares, or variance of ``method``'s map over ``noise.samples`` noisy copies of ``inputs``."""
    batch = inputs.shape[0]
    flat = inputs.flatten(1)
    spread = (flat.max(dim=1).values - flat.min(dim=1).values).view(-1, *([1] * (inputs.ndim - 1)))
    stdev = noise.sigma * spread
    generator = torch.Generator().manual_seed(noise.seed)
    draws_per_chunk = max(1, ctx.chunk_size // batch)
    total = sum_sq = None
    recorded: list[dict[str, Any]] = []
    draws_done: list[int] = []
    for part in chunks(noise.samples, draws_per_chunk):
        draws = part.stop - part.start
        draw = torch.stack([torch.randn(inputs.shape, generator=generator) for _ in range(draws)])
        noisy = (inputs.unsqueeze(0) + draw.to(inputs.device, inputs.dtype) * stdev).flatten(0, 1)
        clean = inputs.repeat(draws, *([1] * (inputs.ndim - 1)))  # draw-major, as ``noisy``
        share = (
            (lambda f, start=part.start, n=draws: ctx.report((start + n * f) / noise.samples)) if ctx.progress else None
        )
        chunk_ctx = ctx.for_batch(ctx.target.repeat(draws), extras={}, progress=share, clean_inputs=clean)
        chunk_params = {name: _repeat_per_input(value, batch, draws) for name, value in params.items()}
        maps = compute_with_baselines(method, noisy, chunk_ctx, chunk_params).double()
        maps = maps.view(draws, batch, *maps.shape[1:])
        total = maps.sum(0) if total is None else total + maps.sum(0)
        sum_sq = (maps**2).sum(0) if sum_sq is None else sum_sq + (maps**2).sum(0)
        recorded.append(chunk_ctx.extras)
        draws_done.append(draws)
        ctx.report(part.stop / noise.samples)
    assert total is not None and sum_sq is not None
    ctx.extras.update(merge_draws(recorded, draws_done, batch))
    mean = total / noise.samples
    if noise.mode == "smoothgrad":
        result = mean
    elif noise.mode == "smoothgrad_squared":
        result = sum_sq / noise.samples
    else:
        result = (sum_sq / noise.samples - mean**2).clamp(min=0)
    return result.to(inputs.dtype)

"""Expected Gradients (Erion et al. 2021; Sturmfels, Lundberg, Lee 2020; survey sec. 2.3, eqs. 15-16).

EG(x) = E_{x' ~ D, a ~ U(0, 1)} [(x - x') * grad f(x' + a (x - x'))]   (eq. 15, IG averaged over baselines x' ~ D)
      ~ 1/k sum_j (x - x'_j) * grad f(x'_j + a_j (x - x'_j))          (eq. 16, one random baseline and a per sample)

As ``PathExplainerTorch.attributions(..., use_expectation=True)`` in suinleelab/path_explain: every sample draws a
reference with replacement and its own a. The reference set D is the bundled sample photos preprocessed by the
model wrapper, or a user tensor ``references`` ``[R, C, H, W]`` in the model's input space. EG satisfies
completeness in expectation: E[sum(EG)] = f(x) - E_D[f(x')], so the recorded gap uses the mean f over the drawn
references and shrinks like 1/sqrt(samples).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from xai_core.batching import chunks
from xai_core.extras import COMPLETENESS, Completeness
from xai_core.methods._adversarial import scores_at
from xai_core.methods.base import Context, Method
from xai_core.params import ChoiceParam, IntParam, ParameterError
from xai_core.paths import gradients_at
from xai_core.registry import register
from xai_core.targets import Target

SAMPLES = IntParam("samples", 32, "gradient samples: one random reference and one random a each", low=1, high=4096)
SEED = IntParam("seed", 0, "seed of the reference and a draws", low=0, high=2**31 - 1)
_SAMPLE_REFERENCES: weakref.WeakKeyDictionary[Any, Tensor] = weakref.WeakKeyDictionary()


class ReferencesParam(ChoiceParam):
    """``"samples"`` (the bundled photos through the wrapper's preprocessing) or a tensor ``[R, C, H, W]``."""

    def coerce(self, value: Any, method: str) -> Any:
        return value if isinstance(value, Tensor) else super().coerce(value, method)


REFERENCES = ReferencesParam(
    "references", "samples", "baseline distribution D: the bundled sample photos, or a tensor [R, C, H, W]",
    choices=("samples",),
)  # fmt: skip


def expected_gradients_attr(
    model: nn.Module, inputs: Tensor, target: Target, references: Tensor, alphas: Tensor, baseline_index: Tensor,
    chunk_size: int, progress: Callable[[float], None] | None = None,
) -> Tensor:  # fmt: skip
    """1/S sum_s (x - r[j_s]) * grad f(r[j_s] + a_s (x - r[j_s])) (eq. 16) for fixed draws.

    ``alphas`` and ``baseline_index`` are ``[S]`` (shared by the batch) or ``[S, B]``; with one reference and
    ``alphas`` the nodes of a Riemann rule this is Integrated Gradients with that rule.
    """
    batch = inputs.shape[0]
    alpha = alphas.to(inputs.device, inputs.dtype)
    index = baseline_index.to(inputs.device).long()
    alpha = alpha.view(-1, 1).expand(-1, batch) if alpha.ndim == 1 else alpha
    index = index.view(-1, 1).expand(-1, batch) if index.ndim == 1 else index
    if alpha.shape != index.shape or alpha.shape[1] != batch:
        raise ValueError(f"alphas {tuple(alpha.shape)} and baseline_index {tuple(index.shape)} must be [S] or [S, B]")
    samples = alpha.shape[0]
    refs = references.to(inputs.device, inputs.dtype)
    total = torch.zeros_like(inputs, dtype=torch.float64)

    def locate(part: slice) -> tuple[Tensor, Tensor, Tensor]:
        ids = torch.arange(part.start, part.stop, device=inputs.device)
        s, b = ids // batch, ids % batch  # k-major layout of gradients_at
        return refs[index[s, b]], alpha[s, b].view(-1, *([1] * (inputs.ndim - 1))), b

    def points(part: slice) -> Tensor:
        ref, a, b = locate(part)
        return ref + a * (inputs[b] - ref)

    def accumulate(part: slice, grad: Tensor, _scores: Tensor) -> None:
        ref, _, b = locate(part)
        total.index_add_(0, b, ((inputs[b] - ref).double() * grad.double()))

    gradients_at(model, points, samples * batch, target, chunk_size=chunk_size, on_chunk=accumulate, progress=progress)
    return (total / samples).to(inputs.dtype)


def sample_references(ctx: Context, like: Tensor) -> Tensor:
    """The bundled sample photos through ``ctx.wrapper.preprocess``, cached per wrapper."""
    if ctx.wrapper is None:
        raise ParameterError(
            "expected_gradients: references='samples' needs a model from load_model (for its preprocessing); "
            "for a plain nn.Module pass references= a tensor [R, C, H, W] in the model's input space"
        )
    cached = None
    with contextlib.suppress(TypeError):  # a wrapper that takes no weak reference is simply not cached
        cached = _SAMPLE_REFERENCES.get(ctx.wrapper)
    if cached is None:
        from xai_core.images import load_sample, sample_images  # PIL/skimage only when the photos are needed

        cached = torch.cat([ctx.wrapper.preprocess(load_sample(name).image) for name in sample_images()])
        with contextlib.suppress(TypeError):
            _SAMPLE_REFERENCES[ctx.wrapper] = cached
    return cached.to(like.device, like.dtype)


def _references(value: str | Tensor, ctx: Context, inputs: Tensor) -> Tensor:
    refs = sample_references(ctx, inputs) if isinstance(value, str) else value.to(inputs.device, inputs.dtype)
    refs = refs.unsqueeze(0) if refs.ndim == inputs.ndim - 1 else refs
    if refs.ndim != inputs.ndim or refs.shape[1:] != inputs.shape[1:] or refs.shape[0] < 1:
        raise ParameterError(
            f"expected_gradients: references must have shape [R, {', '.join(map(str, inputs.shape[1:]))}]; "
            f"got {tuple(refs.shape)}"
        )
    return refs.detach()


def _mean_reference_score(ctx: Context, refs: Tensor, index: Tensor) -> Tensor:
    """mean_s f_c(r[j_s]) per image (c its class): the baseline term of completeness in expectation."""
    used, position = index.unique(return_inverse=True)  # forward only the references that were drawn
    with torch.inference_mode():
        picked = refs[used.to(refs.device)]
        logits = torch.cat([ctx.model(picked[part]) for part in chunks(used.numel(), ctx.chunk_size)])
    per_image = [Target(c.repeat(used.numel()), ctx.target.output)(logits) for c in ctx.target.classes]
    scores = torch.stack(per_image).cpu()  # [B, U]
    return scores.gather(1, position.T).double().mean(dim=1).to(logits.dtype)


@register
class ExpectedGradients(Method):
    name = "expected_gradients"
    title = "Expected Gradients"
    records = ("completeness",)
    family = "integrated"
    paper = (
        "Erion, Janizek, Sturmfels, Lundberg, Lee. Improving performance of deep learning models with axiomatic "
        "attribution priors and expected gradients. Nature Machine Intelligence 2021"
    )
    url = "https://arxiv.org/abs/1906.10670"
    summary = "Integrated Gradients averaged over baselines drawn from a reference set, with random path points."
    reduction = "sum"
    params = (REFERENCES, SAMPLES, SEED)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return int(params["samples"])

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        f_input, _ = scores_at(ctx.model, inputs, ctx.target)  # also validates the target first
        refs = _references(params["references"], ctx, inputs)
        generator = ctx.generator or torch.Generator().manual_seed(params["seed"])
        samples, batch = params["samples"], inputs.shape[0]
        # Draws image by image, so an image's map does not depend on the rest of the batch or the chunking.
        alphas, index = torch.empty(samples, batch), torch.empty(samples, batch, dtype=torch.long)
        for b in range(batch):
            index[:, b] = torch.randint(refs.shape[0], (samples,), generator=generator)
            alphas[:, b] = torch.rand(samples, generator=generator)
        attributions = expected_gradients_attr(
            ctx.model, inputs, ctx.target, refs, alphas, index, ctx.chunk_size, progress=ctx.report
        )
        f_baseline = _mean_reference_score(ctx, refs, index).to(f_input.device)
        ctx.extras[COMPLETENESS] = Completeness.of(attributions, f_input, f_baseline)
        ctx.extras["reference_index"] = index.T.clone()
        return attributions

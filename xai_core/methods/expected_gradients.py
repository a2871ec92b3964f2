"""Expected Gradients (Erion et al. 2021; Sturmfels, Lundberg, Lee 2020; survey sec. 2.3, eqs. 15-16).

EG(x) = E_{x' ~ D, a ~ U(0, 1)} [(x - x') * grad f(x' + a (x - x'))]   (eq. 15, IG averaged over baselines x' ~ D)
      ~ 1/k sum_j (x - x'_j) * grad f(x'_j + a_j (x - x'_j))          (eq. 16, one random baseline and a per sample)

As ``PathExplainerTorch.attributions(..., use_expectation=True)`` in suinleelab/path_explain: every sample draws a
reference with replacement and its own a. EG satisfies completeness in expectation: E[sum(EG)] = f(x) - E_D[f(x')],
so the recorded gap uses the mean f over the drawn references and shrinks like 1/sqrt(samples).

The reference set D (``references=``):
- ``"samples"`` (default): the bundled sample photos through the model wrapper's preprocessing;
- a folder path or a list of images (PIL images, ``LoadedImage``s, paths, bytes, uploaded files): a
  ``ReferenceSet`` (``_references.py``), validated when the request is made, preprocessed by the wrapper when used;
- a tensor ``[R, C, H, W]`` in the model's input space (the only choice for a plain ``nn.Module``).

The explained image is never its own baseline: a reference equal to an input (max |difference| <= 1e-5 in model
space, which holds when both are the same photo through the same preprocessing) is left out of that input's draws,
as path_explain's training loop draws references from *other* batch elements. The bundled photos include every
sample image the app offers, so without this one draw in six would be x' = x and add nothing (x - x' = 0), shrinking
the map by a sixth. ``extras["reference_set"]`` (``ReferenceInfo``) records the source, the count and how many were
left out; its ``caption()`` is a line for the app. Under a noise wrapper the inputs are noisy copies; the comparison
is made with the noise-free image the wrapper passes along (``Context.clean_inputs``), so it is left out there too.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from xai_core.batching import chunks
from xai_core.extras import COMPLETENESS, Completeness
from xai_core.methods._adversarial import scores_at
from xai_core.methods._references import ReferenceInfo, ReferenceSet, same_as_input
from xai_core.methods.base import Context, Method
from xai_core.params import ChoiceParam, IntParam, ParameterError
from xai_core.paths import gradients_at
from xai_core.registry import register
from xai_core.targets import Target

SAMPLES = IntParam("samples", 32, "gradient samples: one random reference and one random a each", low=1, high=4096)
SEED = IntParam("seed", 0, "seed of the reference and a draws", low=0, high=2**31 - 1)
_SAMPLE_REFERENCES: weakref.WeakKeyDictionary[Any, Tensor] = weakref.WeakKeyDictionary()


class ReferencesParam(ChoiceParam):
    """``"samples"``, a folder path, a list of images, a ``ReferenceSet`` or a tensor ``[R, C, H, W]``."""

    def coerce(self, value: Any, method: str) -> Any:
        if isinstance(value, (Tensor, ReferenceSet)):
            if isinstance(value, Tensor) and (not value.is_floating_point() or value.ndim not in (3, 4)):
                raise self._fail(method, "a float tensor [R, C, H, W]", f"tensor of shape {tuple(value.shape)}")
            return value
        if value == "samples":
            return value
        if isinstance(value, (str, os.PathLike)):
            return ReferenceSet.folder(value)
        if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
            return ReferenceSet.images(value)
        raise self._fail(method, "'samples', a folder, a list of images or a tensor [R, C, H, W]", value)


REFERENCES = ReferencesParam(
    "references", "samples", "baseline distribution D: the bundled sample photos (never the explained image), a "
    "folder or list of images, or a tensor [R, C, H, W]", choices=("samples",),
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


def _references(value: str | Tensor | ReferenceSet, ctx: Context, inputs: Tensor) -> tuple[Tensor, str]:
    """The reference tensor in the model's input space and a description of where it came from."""
    if isinstance(value, ReferenceSet):
        if ctx.wrapper is None:
            raise ParameterError(
                "expected_gradients: reference images need a model from load_model (for its preprocessing); for a "
                "plain nn.Module pass references= a tensor [R, C, H, W] in the model's input space"
            )
        refs, source = value.tensor(ctx.wrapper), value.source
    elif isinstance(value, str):
        refs = sample_references(ctx, inputs)
        source = f"the {refs.shape[0]} bundled sample photos"
    else:
        refs, source = value, ""
    refs = refs.to(inputs.device, inputs.dtype)
    refs = refs.unsqueeze(0) if refs.ndim == inputs.ndim - 1 else refs
    if refs.ndim != inputs.ndim or refs.shape[1:] != inputs.shape[1:] or refs.shape[0] < 1:
        raise ParameterError(
            f"expected_gradients: references must have shape [R, {', '.join(map(str, inputs.shape[1:]))}]; "
            f"got {tuple(refs.shape)}"
        )
    return refs.detach(), source or f"a tensor of {refs.shape[0]} images"


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
        refs, source = _references(params["references"], ctx, inputs)
        # [B, R]: never the explained image as its own baseline (under noise, compared with the noise-free image)
        same = same_as_input(refs, inputs if ctx.clean_inputs is None else ctx.clean_inputs).cpu()
        if bool(same.all(dim=1).any()):
            raise ParameterError(
                f"expected_gradients: every reference ({source}) is the explained image; give at least one other image"
            )
        generator = ctx.generator or torch.Generator().manual_seed(params["seed"])
        samples, batch = params["samples"], inputs.shape[0]
        # Draws image by image, so an image's map does not depend on the rest of the batch or the chunking.
        alphas, index = torch.empty(samples, batch), torch.empty(samples, batch, dtype=torch.long)
        for b in range(batch):
            allowed = torch.nonzero(~same[b]).flatten()
            index[:, b] = allowed[torch.randint(allowed.numel(), (samples,), generator=generator)]
            alphas[:, b] = torch.rand(samples, generator=generator)
        attributions = expected_gradients_attr(
            ctx.model, inputs, ctx.target, refs, alphas, index, ctx.chunk_size, progress=ctx.report
        )
        f_baseline = _mean_reference_score(ctx, refs, index).to(f_input.device)
        ctx.extras[COMPLETENESS] = Completeness.of(attributions, f_input, f_baseline)
        ctx.extras["reference_index"] = index.T.clone()
        ctx.extras["reference_set"] = ReferenceInfo(source, refs.shape[0], same.sum(dim=1))
        return attributions

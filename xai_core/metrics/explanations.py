"""What the measures that re-explain share (robustness, randomization): the model's outputs on the inputs, the
explained classes, and chunked calls of the caller's ``explainer`` on stacked batches.

An ``explainer`` (``base.Explainer``) is called on stacked batches of at most ``chunk`` images: every perturbed or
noisy copy of every image goes through as few calls as the memory budget allows (``batching.auto_chunk_size``, the
same budget ``attribute`` uses; ``chunk_size`` overrides it), never one call per copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xai_core.batching import auto_chunk_size, chunks
from xai_core.metrics.base import Explainer, MetricContext
from xai_core.metrics.perturbation import on_model_device
from xai_core.metrics.records import as_maps
from xai_core.targets import resolve_target


@dataclass(frozen=True)
class Prepared:
    """The evaluated model and inputs on its device, the explained classes, the chunk size and, when they were
    needed, the logits."""

    model: Any
    module: nn.Module
    x: Tensor  # [B, C, H, W]
    classes: Tensor  # [B] long on the CPU
    chunk: int
    logits: Tensor | None  # [B, K] float64 on the CPU


def logits_of(module: nn.Module, x: Tensor, chunk: int) -> Tensor:
    """``module(x)`` as float64 on the CPU, in chunks, without autograd."""
    with torch.inference_mode():
        return torch.cat([module(x[sl]).double().cpu() for sl in chunks(x.shape[0], chunk)])


def prepare(ctx: MetricContext, logits: bool = False) -> Prepared:
    """The classes to explain: ``ctx.target``, else the target of an ``Attribution`` given as ``maps``, else the
    predicted class; the model's outputs on ``ctx.inputs`` when asked for or needed for the prediction (a forward
    costs about a third of an explanation: none is run that is not used)."""
    assert ctx.inputs is not None  # the registry checked the metric's needs
    module, x = on_model_device(ctx.model, ctx.inputs)
    if ctx.chunk_size is not None and ctx.chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1 or None; got {ctx.chunk_size}")
    chunk = ctx.chunk_size or auto_chunk_size(module, x)
    target: Any = ctx.target
    if target is None and isinstance(getattr(ctx.maps, "target", None), Tensor):
        target = ctx.maps.target
    outputs = logits_of(module, x, chunk) if logits or target is None else None
    classes = resolve_target(target, x.shape[0], None if outputs is None else outputs.argmax(dim=1)).classes
    if outputs is not None and int(classes.max()) >= outputs.shape[1]:
        raise ValueError(f"target classes must lie in [0, {outputs.shape[1] - 1}]; got {classes.tolist()}")
    return Prepared(ctx.model, module, x, classes, chunk, outputs)


def as_explanation(out: Any) -> Tensor:
    """An explainer's output as a float64 tensor ``[N, ...]``: an ``Attribution``'s attributions, a tensor or an
    array (on the CPU)."""
    raw = getattr(out, "attributions", out)
    value = raw.detach() if isinstance(raw, Tensor) else torch.as_tensor(np.asarray(raw))
    return value.double().cpu()


def as_explanation_maps(out: Any) -> np.ndarray:
    """An explainer's output as 2-D maps ``[N, H, W]``: an ``Attribution`` by its method's convention
    (``to_maps``), else maps ``[N, H, W]`` or ``[N, 1, H, W]``; per-channel attributions are refused with advice."""
    if hasattr(out, "to_maps"):
        return np.asarray(out.to_maps(), dtype=np.float64)
    try:
        return as_maps(as_explanation(out))
    except ValueError as why:
        raise ValueError(
            f"{why}; this measure compares 2-D maps: let the explainer return maps, e.g. "
            "`xai_core.attribute(...).to_maps()` or the Attribution itself"
        ) from None


def call(explainer: Explainer, x: Tensor, classes: Tensor, model: Any = None) -> Any:
    """One explainer call; ``model`` is passed only when it is not the evaluated model."""
    return explainer(x, classes) if model is None else explainer(x, classes, model=model)


def explain_all(
    explainer: Explainer, x: Tensor, classes: Tensor, chunk: int, convert: Callable[[Any], Any], model: Any = None
) -> Any:
    """``convert(explainer(x, classes))`` in chunks of ``chunk`` images, concatenated along the batch axis."""
    parts = [convert(call(explainer, x[sl], classes[sl], model)) for sl in chunks(x.shape[0], chunk)]
    return torch.cat(parts) if isinstance(parts[0], Tensor) else np.concatenate(parts)


def stacked(copies: int, batch: int, chunk: int) -> Iterator[tuple[Tensor, Tensor]]:
    """``(copy index, image index)`` of the rows of each stacked call over ``copies`` copies of ``batch`` images,
    copy-major (row ``s * batch + b`` is copy ``s`` of image ``b``), at most ``chunk`` rows per call."""
    for sl in chunks(copies * batch, chunk):
        rows = torch.arange(sl.start, sl.stop)
        yield rows // batch, rows % batch

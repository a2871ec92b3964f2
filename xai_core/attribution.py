"""``attribute``: the one entry point from (model, inputs, a ``Request`` or a method id with parameters) to an
``Attribution``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xai_core import noise as noise_module
from xai_core import registry
from xai_core.batching import auto_chunk_size
from xai_core.composite_baselines import compute_with_baselines
from xai_core.extras import COMPLETENESS, INTERACTIONS, PATH, Completeness, Interactions, PathProfile
from xai_core.hooks import model_lock
from xai_core.methods.base import Context
from xai_core.noise import Noise
from xai_core.params import ParameterError
from xai_core.paths import PixelSpace
from xai_core.request import Request
from xai_core.targets import resolve_target


@dataclass(frozen=True)
class Attribution:
    """One result type for every method.

    ``attributions`` is shaped like the inputs for pixel-space methods and ``[B, 1, H, W]`` (upsampled to the
    input size) for CAM-style methods. ``request`` is what was run (method, resolved parameters, noise, output,
    layer); ``completeness``, ``path`` and ``interactions`` are the typed records a method keeps beside its map
    (``xai_core.extras``; None when the method has none); ``extras`` holds anything else a method records.
    """

    attributions: Tensor
    request: Request
    target: Tensor
    kind: str
    reduction: str
    seed: int | None = None
    completeness: Completeness | None = None
    path: PathProfile | None = None
    interactions: Interactions | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def params(self) -> Mapping[str, Any]:
        """The method's resolved parameters (every default filled in)."""
        return self.request.params

    @property
    def noise(self) -> Noise | None:
        return self.request.noise

    @property
    def output(self) -> str:
        return self.request.output

    def to_maps(self) -> np.ndarray:
        """The 2-D maps ``[B, H, W]`` by the method's display convention (see ``viz.reduce``)."""
        from xai_core.viz import reduce  # viz depends on nothing here; imported lazily to keep torch-only use light

        return reduce(self.attributions, self.reduction)

    def settings(self) -> dict[str, Any]:
        """The exact settings that reproduce this map, as plain data: ``{"request": ..., "target": [...]}``.

        ``attribute(model, x, Request.from_dict(s["request"]), target=s["target"])`` gives the same map.
        """
        return {"request": self.request.to_dict(), "target": self.target.tolist()}


def _module_of(model: Any) -> tuple[nn.Module, str | None]:
    module = getattr(model, "module", model)
    if not isinstance(module, nn.Module):
        raise TypeError(f"model must be an nn.Module or a model wrapper from load_model; got {type(model).__name__}")
    return module, getattr(model, "cam_layer", None)


def resolve_layer(module: nn.Module, layer: nn.Module | str | None, method: str) -> nn.Module:
    """A module given directly or by dotted name (``"blocks.6.0"``); an error listing candidates otherwise."""
    if isinstance(layer, nn.Module):
        return layer
    if layer is None:
        raise ParameterError(f"{method} needs layer= (a module or a dotted name such as 'features.7')")
    try:
        return module.get_submodule(layer)
    except AttributeError:
        convs = [n for n, m in module.named_modules() if isinstance(m, nn.Conv2d)][-3:]
        raise ParameterError(f"{method}: layer {layer!r} is not a submodule; last conv layers are {convs}") from None


def as_request(
    method: str | Request,
    params: Mapping[str, Any],
    *,
    noise: Noise | Mapping[str, Any] | str | None = None,
    output: str | None = None,
    layer: str | None = None,
) -> Request:
    """``method`` as a ``Request``: a request is taken as it is (giving more settings beside it is an error)."""
    if isinstance(method, Request):
        given = sorted([*params, *(n for n, v in (("noise", noise), ("output", output), ("layer", layer)) if v)])
        if given:
            raise ParameterError(f"a Request carries its own settings; also given: {given}")
        return method
    if "postprocess" in params or "postprocess_params" in params:
        raise ParameterError(
            "postprocess= is now noise=: attribute(..., noise=xai_core.Noise('smoothgrad', samples=25, sigma=0.15))"
        )
    if layer is not None and not registry.get(method).needs_layer:
        layer = None  # attribute's layer= is for CAM methods and ignored by the others (sanity checks pass it to all)
    return Request.create(method, params, noise=noise, output=output or "logit", layer=layer)


def _check_inputs(inputs: Any) -> None:
    if not isinstance(inputs, Tensor) or inputs.ndim != 4 or not inputs.is_floating_point():
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ParameterError(f"inputs must be a float tensor [batch, channels, height, width]; got {shape}")
    if not bool(torch.isfinite(inputs).all()):
        raise ParameterError("inputs contain NaN or infinite values")


def _predicted(module: nn.Module, x: Tensor) -> Tensor:
    """The predicted class per sample: one gradient-free forward (an explicit target needs none)."""
    with torch.inference_mode():
        scores = module(x)
    if scores.ndim != 2:
        raise ParameterError(
            f"target=None explains the predicted class, which needs outputs [batch, classes]; this model returns "
            f"shape {tuple(scores.shape)}: return [batch, 1] for a single score and pass target=0"
        )
    return scores.argmax(dim=1).clone()  # a normal tensor: inference tensors cannot enter autograd


def attribute(
    model: Any,
    inputs: Tensor,
    method: str | Request,
    *,
    target: int | Sequence[int] | Tensor | None = None,
    output: str | None = None,
    layer: nn.Module | str | None = None,
    noise: Noise | Mapping[str, Any] | str | None = None,
    chunk_size: int | None = None,
    progress: Callable[[float], None] | None = None,
    **params: Any,
) -> Attribution:
    """Explain ``model``'s prediction on ``inputs`` with a registered method.

    Args:
        model: a wrapper from ``xai_core.load_model`` or any ``nn.Module`` mapping ``[B, C, H, W]`` to ``[B, K]``.
        inputs: float tensor ``[B, C, H, W]`` in the model's input space.
        method: a registry id (see ``xai_core.methods.describe()``) or a ``Request`` (which then carries every setting).
        target: class per sample (int, sequence or tensor), or ``None`` for the predicted class.
        output: ``"logit"`` (default) or ``"probability"``: the scalar that is explained.
        layer: CAM methods only (others ignore it): a dotted name, or a module of ``model``; defaults to the
            wrapper's ``cam_layer``.
        noise: SmoothGrad / SmoothGrad squared / VarGrad over the method: ``Noise("smoothgrad", samples=25,
            sigma=0.15, seed=0)``, its dict form, or a mode name for the defaults. Its settings never mix with the
            method's parameters.
        chunk_size: images per forward/backward call in sampling loops; automatic from a memory budget if None.
        progress: called with the fraction done, for long computations.
        **params: the method's hyperparameters (see its schema); unknown names are refused.

    Raises:
        ParameterError: an unknown method or parameter, a value out of range (named, with the range and the value).
    """
    module, default_layer = _module_of(model)
    layer_module = layer if isinstance(layer, nn.Module) else None
    layer_name = layer if isinstance(layer, str) else None
    request = as_request(method, params, noise=noise, output=output, layer=layer_name)
    _check_inputs(inputs)
    cls = registry.get(request.method)
    if module.training:
        warnings.warn("the model is in training mode (dropout, batch statistics): maps will vary", stacklevel=2)

    device = next((p.device for p in module.parameters()), inputs.device)
    x = inputs.detach().to(device)
    target_layer = None
    if cls.needs_layer:
        chosen = layer_module if layer_module is not None else request.layer or default_layer
        target_layer = resolve_layer(module, chosen, request.method)
    with model_lock(module):
        predicted = _predicted(module, x) if target is None else None
        tgt = resolve_target(target, x.shape[0], predicted, request.output)
        seed = request.params.get("seed", request.noise.seed if request.noise else None)
        ctx = Context(
            model=module,
            target=tgt,
            layer=target_layer,
            generator=torch.Generator().manual_seed(seed) if seed is not None else None,
            chunk_size=chunk_size or auto_chunk_size(module, x),
            progress=progress,
            space=PixelSpace.of(model),
            wrapper=model if model is not module else None,
        )
        instance = cls()
        resolved = dict(request.params)
        if request.noise is None:
            maps = compute_with_baselines(instance, x, ctx, resolved)
            ctx.report(1.0)
        else:
            maps = noise_module.noisy_map(instance, x, ctx, resolved, request.noise)
    extras = dict(ctx.extras)
    return Attribution(
        attributions=maps.detach(),
        request=request,
        target=tgt.classes.clone(),
        kind=cls.kind,
        reduction=cls.reduction,
        seed=seed,
        completeness=extras.pop(COMPLETENESS, None),
        path=extras.pop(PATH, None),
        interactions=extras.pop(INTERACTIONS, None),
        extras=extras,
    )

"""``attribute``: the one entry point from (model, inputs, method name, parameters) to an ``Attribution``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xai_core import noise, registry
from xai_core.batching import auto_chunk_size
from xai_core.hooks import model_lock
from xai_core.methods.base import Context
from xai_core.params import ParameterError, validate
from xai_core.paths import PixelSpace
from xai_core.targets import resolve_target


@dataclass(frozen=True)
class Attribution:
    """One result type for every method.

    ``attributions`` is shaped like the inputs for pixel-space methods and ``[B, 1, H, W]`` (upsampled to the
    input size) for CAM-style methods. ``params`` holds the resolved method parameters; ``postprocess`` and
    ``postprocess_params`` the SmoothGrad/VarGrad wrapper if any; ``extras`` method-specific values (for
    example a completeness gap).
    """

    attributions: Tensor
    method: str
    params: Mapping[str, Any]
    target: Tensor
    output: str
    kind: str
    reduction: str
    postprocess: str | None = None
    postprocess_params: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def to_maps(self) -> np.ndarray:
        """The 2-D maps ``[B, H, W]`` by the method's display convention (see ``viz.reduce``)."""
        from xai_core.viz import reduce  # viz depends on nothing here; imported lazily to keep torch-only use light

        return reduce(self.attributions, self.reduction)

    def settings(self) -> dict[str, Any]:
        """The exact settings that reproduce this map, as plain data (the app's JSON download)."""
        return {
            "method": self.method,
            "params": dict(self.params),
            "target": self.target.tolist(),
            "output": self.output,
            "postprocess": self.postprocess,
            "postprocess_params": dict(self.postprocess_params),
        }


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


def _route_postprocess_params(
    cls: type, method: str, postprocess: str, params: dict[str, Any], explicit: dict[str, Any]
) -> dict[str, Any]:
    """Move the wrapper's keywords out of ``params``; a name both declare is ambiguous unless given explicitly."""
    own = {p.name for p in cls.params}  # type: ignore[attr-defined]
    for name in [p.name for p in noise.PARAMS]:
        if name not in params:
            continue
        if name not in own:
            explicit[name] = params.pop(name)
        elif name == "seed":
            explicit.setdefault("seed", params[name])  # one seed reproduces the method's draws and the noise
        elif name not in explicit:
            raise ParameterError(
                f"'{name}' is a parameter of both {method} and {postprocess}: pass the {postprocess} value as "
                f"postprocess_params={{'{name}': ...}}"
            )
    return validate(noise.PARAMS, explicit, postprocess)


def attribute(
    model: Any,
    inputs: Tensor,
    method: str,
    *,
    target: int | Sequence[int] | Tensor | None = None,
    output: str = "logit",
    layer: nn.Module | str | None = None,
    postprocess: str | None = None,
    postprocess_params: Mapping[str, Any] | None = None,
    chunk_size: int | None = None,
    progress: Callable[[float], None] | None = None,
    **params: Any,
) -> Attribution:
    """Explain ``model``'s prediction on ``inputs`` with a registered method.

    Args:
        model: a wrapper from ``xai_core.load_model`` or any ``nn.Module`` mapping ``[B, C, H, W]`` to ``[B, K]``.
        inputs: float tensor ``[B, C, H, W]`` in the model's input space.
        method: a registry id, see ``xai_core.methods()``.
        target: class per sample (int, sequence or tensor), or ``None`` for the predicted class.
        output: ``"logit"`` or ``"probability"``: the scalar that is explained.
        layer: CAM methods only; defaults to the wrapper's ``cam_layer``.
        postprocess: ``"smoothgrad"`` or ``"vargrad"`` over the method; takes ``samples``, ``sigma``, ``seed``,
            as keywords or in ``postprocess_params``. A name the method also declares (``samples`` of Expected
            Gradients, say) must go in ``postprocess_params``; ``seed`` alone may be shared and seeds both.
        postprocess_params: the wrapper's parameters, explicitly.
        chunk_size: images per forward/backward call in sampling loops; automatic from a memory budget if None.
        progress: called with the fraction done, for long computations.
        **params: the method's hyperparameters (see its schema); unknown names are refused.
    """
    module, default_layer = _module_of(model)
    cls = registry.get(method)
    if not isinstance(inputs, Tensor) or inputs.ndim != 4 or not inputs.is_floating_point():
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a float tensor [batch, channels, height, width]; got {shape}")
    post_params: dict[str, Any] = {}
    if postprocess is not None:
        if postprocess not in noise.POSTPROCESSORS:
            raise ParameterError(
                f"postprocess must be one of {list(noise.POSTPROCESSORS)} or None; got {postprocess!r}"
            )
        post_params = _route_postprocess_params(cls, method, postprocess, params, dict(postprocess_params or {}))
    elif postprocess_params:
        raise ParameterError("postprocess_params given without postprocess='smoothgrad' or 'vargrad'")
    resolved = validate(cls.params, params, method)
    if module.training:
        warnings.warn("the model is in training mode (dropout, batch statistics): maps will vary", stacklevel=2)

    device = next((p.device for p in module.parameters()), inputs.device)
    x = inputs.detach().to(device)
    target_layer = (
        resolve_layer(module, layer if layer is not None else default_layer, method) if cls.needs_layer else None
    )
    with model_lock(module):
        predicted = None
        if target is None:  # one gradient-free forward; with an explicit target the method's own forward suffices
            with torch.inference_mode():
                predicted = module(x).argmax(dim=1)
            predicted = predicted.clone()  # a normal tensor: inference tensors cannot enter autograd
        tgt = resolve_target(target, x.shape[0], predicted, output)
        seed = resolved.get("seed", post_params.get("seed"))
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
        if postprocess is None:
            maps = instance.compute(x, ctx, **resolved)
            ctx.report(1.0)
        else:
            maps = noise.noisy_map(instance, x, ctx, resolved, mode=postprocess, **post_params)
    return Attribution(
        attributions=maps.detach(),
        method=method,
        params=resolved,
        target=tgt.classes.clone(),
        output=output,
        kind=cls.kind,
        reduction=cls.reduction,
        postprocess=postprocess,
        postprocess_params=post_params,
        seed=seed,
        extras=dict(ctx.extras),
    )


def methods() -> list[dict[str, Any]]:
    """Every registered method: name, family, paper, parameter schema (see ``Method.describe``)."""
    return [cls.describe() for cls in registry.all_methods().values()]

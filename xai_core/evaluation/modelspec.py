"""How a worker builds its model: from a zoo name or a factory, and a checkpoint path; never a pickled module.

A ``ModelSpec`` is plain data (it crosses process and machine boundaries as JSON). ``name`` is either a name of
``xai_core.available_models()`` (the bundled EfficientNet-Lite0, torchvision architectures) or a factory
``"path/to/file.py:function"`` / ``"package.module:function"`` returning an ``nn.Module`` (or a ``ModelWrapper``), for
one's own architecture; ``weights`` is a state-dict file, read with ``torch.load(weights_only=True)`` as
``load_model`` reads it. A factory's module gets ImageNet normalisation, a square ``input_size`` crop and, for CAM
methods, its last ``Conv2d`` as the default layer.

``checksum`` identifies the loaded weights (SHA-256 over every tensor of the state dict), so a results folder can
refuse rows from another model whatever file they came from.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xai_core import models
from xai_core.models import IMAGENET_MEAN, IMAGENET_STD, ModelError, ModelWrapper


@dataclass(frozen=True)
class ModelSpec:
    """A model by name (or factory) and weights file, buildable anywhere the files are.

    Attributes:
        name: a zoo name (``available_models()``) or a factory ``"file.py:function"`` / ``"module:function"``.
        weights: a state-dict file; None: the zoo's pretrained weights (factories: their own initialisation).
        num_classes: outputs of a zoo checkpoint; inferred from it when None.
        input_size: the square crop a factory model takes (zoo models know theirs).
        device: ``"auto"`` (``$XAI_DEVICE``, else CUDA, then MPS, then CPU, on the worker), or a torch device.
    """

    name: str = models.BUNDLED
    weights: str | None = None
    num_classes: int | None = None
    input_size: int = 224
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_factory(self) -> bool:
        return ":" in self.name

    def build(self) -> ModelWrapper:
        """The model on this worker's device; a ``ModelError`` naming the fault otherwise."""
        device = models.default_device() if self.device == "auto" else self.device
        if not self.is_factory:
            return models.load_model(self.name, self.weights, device=device, num_classes=self.num_classes)
        built = _factory(self.name)()
        if isinstance(built, ModelWrapper):
            wrapper = built
        elif isinstance(built, nn.Module):
            wrapper = _wrap(self.name, built, self.input_size)
        else:
            raise ModelError(f"{self.name} returned a {type(built).__name__}; expected an nn.Module or a ModelWrapper")
        if self.weights is not None:
            state = models._read_state_dict(Path(self.weights).expanduser())
            models._load_strict(wrapper.module, state, self.name, Path(self.weights), head="")
            wrapper.source = str(self.weights)
        wrapper.module.eval()
        return wrapper.to(device)


def _factory(name: str) -> Any:
    where, _, function = name.rpartition(":")
    try:
        if where.endswith(".py"):
            path = Path(where).expanduser()
            if not path.is_file():
                raise ModelError(f"model factory file not found: {path}")
            spec = importlib.util.spec_from_file_location(f"_xai_factory_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise ModelError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ImportError as err:
        raise ModelError(f"cannot import the model factory module {where!r}: {err}") from None
    made = getattr(module, function, None)
    if not callable(made):
        raise ModelError(f"{where} has no callable {function!r} (the model factory)")
    return made


def _wrap(name: str, module: nn.Module, size: int) -> ModelWrapper:
    """A ``ModelWrapper`` for a factory's module: ImageNet statistics, resize 256/224 of the crop, bilinear."""
    module.eval()
    with torch.inference_mode():
        outputs = module(torch.zeros(1, 3, size, size))
    if outputs.ndim != 2:
        raise ModelError(f"{name}: the model must return [batch, classes]; it returned {tuple(outputs.shape)}")
    convs = [n for n, m in module.named_modules() if isinstance(m, nn.Conv2d)]
    return ModelWrapper(
        name=name,
        module=module,
        labels=[f"class {i}" for i in range(outputs.shape[1])],
        cam_layer=convs[-1] if convs else "",
        input_size=(size, size),
        resize=round(size * 256 / 224),
        interpolation="bilinear",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        source=name,
    )


def weights_checksum(module: nn.Module) -> str:
    """SHA-256 over the state dict's names, dtypes, shapes and bytes, in name order (parameters and buffers)."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{key}:{data.dtype}:{tuple(data.shape)}:".encode())
        digest.update(data.numpy().tobytes() if data.dtype != torch.bfloat16 else data.float().numpy().tobytes())
    return digest.hexdigest()


def describe(spec: ModelSpec, model: ModelWrapper) -> dict[str, Any]:
    """The spec's model entry: name, weights file, checksum, classes and input size."""
    return {
        "name": spec.name,
        "weights": spec.weights or model.source,
        "checksum": weights_checksum(model.module),
        "num_classes": model.num_classes,
        "input_size": list(model.input_size),
        "resize": model.resize,
        "interpolation": model.interpolation,
    }

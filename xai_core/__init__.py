"""Saliency Studio's engine: gradient-based feature attribution for image classifiers.

    import xai_core
    model = xai_core.load_model()                       # bundled EfficientNet-Lite0 (ImageNet)
    x = model.preprocess(image)                         # PIL image -> [1, 3, 224, 224]
    result = xai_core.attribute(model, x, "grad_cam")   # an Attribution record
    xai_core.methods.describe()                         # every method with its parameter schema

The public API is what this module exports: the functions and records below and the modules ``methods``,
``metrics``, ``noise``, ``viz``, ``settings`` (every environment setting), ``jobs`` (cancellation, fair-use limits,
the queue), ``teaching`` (the Learn page's lessons and demonstrations), ``checks``, ``sanity``, ``study`` and
``evaluation`` (dataset-scale evaluation). The app imports nothing else (tests/test_house_rules.py). Every name loads
on first use (PEP 562), so ``import xai_core`` and the command line's ``--help`` do not import PyTorch; the first
function or record used imports them all and registers every method.

Engine modules log through ``logging.getLogger(__name__)``; the package adds only a ``NullHandler``, so an
application (the Streamlit app, the CLI) decides where log records go.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from xai_core import checks, evaluation, jobs, methods, metrics, noise, sanity, settings, study, teaching, viz
    from xai_core.attribution import Attribution, attribute
    from xai_core.extras import Completeness, Interactions, PathProfile
    from xai_core.hooks import HookError
    from xai_core.images import ImageError, LoadedImage, load_image, load_sample, sample_images
    from xai_core.jobs import Cancelled
    from xai_core.models import (
        ModelError,
        ModelInfo,
        ModelWrapper,
        available_models,
        default_device,
        load_model,
        model_catalog,
    )
    from xai_core.noise import Noise
    from xai_core.params import ParameterError
    from xai_core.request import Request
    from xai_core.targets import Target

_SUBPACKAGES = (
    "checks", "evaluation", "jobs", "methods", "metrics", "noise", "sanity", "settings", "study", "teaching", "viz",
)  # fmt: skip
# public name -> the module that defines it
_EXPORTS = {
    "Attribution": "xai_core.attribution",
    "attribute": "xai_core.attribution",
    "Completeness": "xai_core.extras",
    "Interactions": "xai_core.extras",
    "PathProfile": "xai_core.extras",
    "HookError": "xai_core.hooks",
    "ImageError": "xai_core.images",
    "LoadedImage": "xai_core.images",
    "load_image": "xai_core.images",
    "load_sample": "xai_core.images",
    "sample_images": "xai_core.images",
    "Cancelled": "xai_core.jobs",
    "ModelError": "xai_core.models",
    "ModelInfo": "xai_core.models",
    "ModelWrapper": "xai_core.models",
    "available_models": "xai_core.models",
    "default_device": "xai_core.models",
    "load_model": "xai_core.models",
    "model_catalog": "xai_core.models",
    "Noise": "xai_core.noise",
    "ParameterError": "xai_core.params",
    "Request": "xai_core.request",
    "Target": "xai_core.targets",
}


logging.getLogger(__name__).addHandler(logging.NullHandler())


def _load_public_api() -> None:
    """Import every exported function and record into this module (once) and register every method."""
    importlib.import_module("xai_core.methods")  # each method registers itself on import
    namespace = globals()
    for name, module in _EXPORTS.items():
        namespace[name] = getattr(importlib.import_module(module), name)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"xai_core.{name}")  # the import binds it here: no second call
    if name in _EXPORTS:
        _load_public_api()
        return globals()[name]
    raise AttributeError(f"module 'xai_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBPACKAGES, *_EXPORTS})


__all__ = [
    "Attribution",
    "Cancelled",
    "Completeness",
    "HookError",
    "ImageError",
    "Interactions",
    "LoadedImage",
    "ModelError",
    "ModelInfo",
    "ModelWrapper",
    "Noise",
    "ParameterError",
    "PathProfile",
    "Request",
    "Target",
    "attribute",
    "available_models",
    "checks",
    "default_device",
    "evaluation",
    "jobs",
    "load_image",
    "load_model",
    "load_sample",
    "methods",
    "metrics",
    "model_catalog",
    "noise",
    "sample_images",
    "sanity",
    "settings",
    "study",
    "teaching",
    "viz",
]

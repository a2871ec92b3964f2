"""Saliency Studio's engine: gradient-based feature attribution for image classifiers.

    import xai_core
    model = xai_core.load_model()                       # bundled EfficientNet-Lite0 (ImageNet)
    x = model.preprocess(image)                         # PIL image -> [1, 3, 224, 224]
    result = xai_core.attribute(model, x, "grad_cam")   # an Attribution record
    xai_core.methods.describe()                         # every method with its parameter schema

The public API is what this module exports: the functions and records below and the modules ``methods``,
``metrics``, ``noise``, ``viz``, ``settings`` (every environment setting), ``jobs`` (cancellation, fair-use limits,
the queue), ``teaching`` (the Learn page's lessons and demonstrations), ``checks``, ``sanity`` and ``study`` (the last
three are imported on first use). The app imports nothing else (tests/test_house_rules.py).

Engine modules log through ``logging.getLogger(__name__)``; the package adds only a ``NullHandler``, so an
application (the Streamlit app, the CLI) decides where log records go.
"""

import importlib
import logging
from types import ModuleType

from xai_core import jobs, methods, metrics, noise, settings, teaching, viz
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

logging.getLogger(__name__).addHandler(logging.NullHandler())

# Heavier imports (SciPy statistics, SQLAlchemy, pandas and pyarrow), loaded when first used.
_LAZY = ("checks", "evaluation", "sanity", "study")


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY:
        return importlib.import_module(f"xai_core.{name}")
    raise AttributeError(f"module 'xai_core' has no attribute {name!r}")


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

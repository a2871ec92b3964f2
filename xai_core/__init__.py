"""Saliency Studio's engine: gradient-based feature attribution for image classifiers.

import xai_core
model = xai_core.load_model()                       # bundled EfficientNet-Lite0 (ImageNet)
x = model.preprocess(image)                         # PIL image -> [1, 3, 224, 224]
result = xai_core.attribute(model, x, "grad_cam")   # an Attribution record
xai_core.methods()                                  # every method with its parameter schema
"""

from xai_core import methods as _methods_package  # noqa: F401  (registers every method)
from xai_core import metrics
from xai_core.attribution import Attribution, attribute, methods
from xai_core.hooks import HookError
from xai_core.images import ImageError, LoadedImage, load_image, load_sample, sample_images
from xai_core.models import ModelError, ModelWrapper, available_models, default_device, load_model
from xai_core.params import ParameterError
from xai_core.targets import Target

__all__ = [
    "Attribution",
    "HookError",
    "ImageError",
    "LoadedImage",
    "ModelError",
    "ModelWrapper",
    "ParameterError",
    "Target",
    "attribute",
    "available_models",
    "default_device",
    "load_image",
    "load_model",
    "load_sample",
    "methods",
    "metrics",
    "sample_images",
]

"""Agreement with reference libraries on small seeded models: Captum 0.9 and pytorch-grad-cam 1.5.

Tolerances: float32 on CPU, same operations in a different order, so 1e-5 relative / 1e-6 absolute for
gradients, 1e-4 absolute for maps rescaled to [0, 1] (OpenCV's and PyTorch's bilinear resizes differ in rounding).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    LayerAttribution,
    LayerGradCam,
    Saliency,
)
from pytorch_grad_cam import FullGrad, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from toys import CAM_LAYER_INDEX, images, relu_cnn

import xai_core

TARGETS = [1, 3]
FULL_RESOLUTION_LAYER = 5  # the ReLU after the second conv: 12x12, so no resize is involved


def _minmax(maps: np.ndarray) -> np.ndarray:
    flat = maps.reshape(maps.shape[0], -1)
    low, high = flat.min(1)[:, None, None], flat.max(1)[:, None, None]
    return (maps - low) / (high - low + 1e-7)


@pytest.mark.parametrize(
    ("method", "oracle", "kwargs"),
    [
        ("saliency", Saliency, {"abs": False}),
        ("input_x_gradient", InputXGradient, {}),
        ("guided_backprop", GuidedBackprop, {}),
        ("deconvnet", Deconvolution, {}),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_pixel_methods_agree_with_captum(method: str, oracle: type, kwargs: dict, seed: int) -> None:
    model, x = relu_cnn(seed), images(seed=seed + 10)
    ours = xai_core.attribute(model, x, method, target=TARGETS).attributions
    theirs = oracle(copy.deepcopy(model)).attribute(x.clone().requires_grad_(True), target=TARGETS, **kwargs)
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_grad_cam_agrees_with_captum(seed: int) -> None:
    model, x = relu_cnn(seed), images(seed=seed + 10)
    ours = xai_core.attribute(model, x, "grad_cam", target=TARGETS, layer=model[CAM_LAYER_INDEX]).attributions
    twin = copy.deepcopy(model)
    layer_map = LayerGradCam(twin, twin[CAM_LAYER_INDEX]).attribute(x, target=TARGETS, relu_attributions=True)
    theirs = LayerAttribution.interpolate(layer_map, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-5, atol=1e-6)


def test_guided_grad_cam_agrees_with_captum() -> None:
    model, x = relu_cnn(), images()
    ours = xai_core.attribute(model, x, "guided_grad_cam", target=TARGETS, layer=model[CAM_LAYER_INDEX]).attributions
    twin = copy.deepcopy(model)
    theirs = GuidedGradCam(twin, twin[CAM_LAYER_INDEX]).attribute(x, target=TARGETS, interpolate_mode="bilinear")
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grad_cam_pp_agrees_with_pytorch_grad_cam(seed: int) -> None:
    model, x = relu_cnn(seed), images(seed=seed + 10)
    ours = xai_core.attribute(model, x, "grad_cam_pp", target=TARGETS, layer=model[FULL_RESOLUTION_LAYER])
    twin = copy.deepcopy(model)
    with GradCAMPlusPlus(model=twin, target_layers=[twin[FULL_RESOLUTION_LAYER]]) as cam:
        theirs = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(t) for t in TARGETS])
    np.testing.assert_allclose(_minmax(ours.to_maps()), theirs, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fullgrad_agrees_with_pytorch_grad_cam(seed: int) -> None:
    model, x = relu_cnn(seed), images(seed=seed + 10)
    ours = xai_core.attribute(model, x, "fullgrad", target=TARGETS, normalize="channel")
    twin = copy.deepcopy(model)
    with FullGrad(model=twin, target_layers=[]) as cam:
        theirs = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(t) for t in TARGETS])
    np.testing.assert_allclose(_minmax(ours.to_maps()), theirs, atol=1e-4)

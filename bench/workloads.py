"""The models and images every benchmark runs on: the bundled EfficientNet-Lite0 and a random-weight ResNet-50.

Both take the same ImageNet-normalised 224 x 224 crops of the bundled sample images (Lite0's preprocessing);
batches larger than the six samples repeat them flipped and shifted, so no two images in a batch are equal.
Targets are each image's predicted class, computed once and passed explicitly to every library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torchvision
from torch import Tensor, nn

from xai_core.batching import sample_activation_bytes
from xai_core.images import load_sample, sample_images
from xai_core.models import load_model

MODELS = ("efficientnet_lite0", "resnet50")


@dataclass
class Workload:
    """A model as ``attribute`` takes it, its module, its Grad-CAM layer, inputs and targets on one device."""

    name: str
    model: Any  # a load_model wrapper (Lite0) or the bare module (ResNet-50)
    module: nn.Module
    cam_layer: str
    black: Tensor  # [1, 3, H, W] a black image in the model's input space (IG's "black" baseline)
    images: Tensor  # [max_batch, 3, H, W]
    classes: Tensor  # [max_batch] predicted class per image
    device: torch.device

    def batch(self, size: int) -> tuple[Tensor, Tensor]:
        return self.images[:size], self.classes[:size]

    def bytes_per_image(self) -> int:
        """Peak bytes one image adds to a forward+backward: the sum of all layer outputs (measured on CPU at
        0.8-0.9x of the real resident-set growth for both models at batch 16, so taken at 1x)."""
        return sample_activation_bytes(self.module, self.images[:1]) + 4 * self.images[0].numel()


_IMAGE_CACHE: dict[int, Tensor] = {}


def sample_batch(max_batch: int) -> Tensor:
    """``[max_batch, 3, 224, 224]`` Lite0-preprocessed crops of the bundled samples (CPU)."""
    if max_batch not in _IMAGE_CACHE:
        wrapper = load_model("efficientnet_lite0", device="cpu")
        base = torch.cat([wrapper.preprocess(load_sample(name).image) for name in sorted(sample_images())])
        images = []
        for i in range(max_batch):
            image, variant = base[i % len(base)], i // len(base)
            if variant % 2:
                image = image.flip(-1)
            images.append(image.roll(shifts=4 * (variant // 2), dims=-1))
        _IMAGE_CACHE[max_batch] = torch.stack(images)
    return _IMAGE_CACHE[max_batch]


def build(name: str, device: torch.device, max_batch: int) -> Workload:
    """The named workload with ``max_batch`` images on ``device``; ResNet-50 gets seeded random weights."""
    images = sample_batch(max_batch).to(device)
    if name == "efficientnet_lite0":
        wrapper = load_model("efficientnet_lite0", device=str(device))
        model: Any = wrapper
        module, cam_layer = wrapper.module, wrapper.cam_layer
        black = wrapper.to_model_space(torch.zeros(1, 3, *images.shape[-2:], device=device))
    elif name == "resnet50":
        torch.manual_seed(0)
        module = torchvision.models.resnet50(weights=None).eval().to(device)
        model, cam_layer = module, "layer4"
        black = torch.zeros(1, 3, *images.shape[-2:], device=device)
    else:
        raise ValueError(f"unknown workload {name!r}; expected one of {MODELS}")
    with torch.inference_mode():
        predicted = torch.cat([module(images[i : i + 8]).argmax(1) for i in range(0, max_batch, 8)])
    classes = predicted.clone()  # a normal tensor: inference tensors cannot be saved for backward
    return Workload(name, model, module, cam_layer, black, images, classes, device)

"""Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM map (Selvaraju et al. 2017, sec. 3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from xai_core import registry
from xai_core.methods.base import Context, Method
from xai_core.registry import register


@register
class GuidedGradCam(Method):
    name = "guided_grad_cam"
    title = "Guided Grad-CAM"
    family = "vanilla"
    paper = (
        "Selvaraju et al. Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization. ICCV 2017"
    )
    url = "https://arxiv.org/abs/1610.02391"
    summary = "Pixel-level guided backprop masked by the class-discriminative Grad-CAM map."
    reduction = "abs_sum"
    needs_layer = True

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return 2

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        guided = registry.get("guided_backprop")().compute(inputs, ctx)
        cam = registry.get("grad_cam")().compute(inputs, ctx)  # [B, 1, H, W] broadcasts over channels
        return guided * cam

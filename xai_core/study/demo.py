"""Synthetic stimuli (random images, random smooth maps) for demos and tests: no model, milliseconds to build."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from xai_core import viz
from xai_core.study.spec import Stimulus


def synthetic_stimuli(
    images: int = 3,
    methods: Sequence[str] = ("saliency", "grad_cam", "integrated_gradients"),
    *,
    labels: Sequence[str] = ("cat", "dog", "car", "boat", "tree"),
    size: int = 32,
    seed: int = 0,
) -> list[Stimulus]:
    """``images x methods`` stimuli; image ``i`` is labelled ``labels[i % len(labels)]`` (target = prediction)."""
    if images < 1 or not methods or size < 4:
        raise ValueError(f"need images >= 1, at least one method and size >= 4; got {images}, {list(methods)}, {size}")
    rng = np.random.default_rng(seed)
    out = []
    for index in range(images):
        picture = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        digest = hashlib.sha256(picture.tobytes()).hexdigest()
        label, cls = labels[index % len(labels)], index % len(labels)
        for method in methods:
            coarse = rng.random((4, 4)).astype(np.float32)
            overlay = viz.overlay(picture, viz.normalize(coarse), alpha=0.5)
            settings = {"method": method, "params": {}, "model": "synthetic", "image_hash": digest, "target": cls}
            out.append(
                Stimulus(
                    method=method,
                    image_hash=digest,
                    target_class=cls,
                    target_label=label,
                    settings=settings,
                    png=viz.to_png_bytes(overlay),
                    predicted_class=cls,
                    predicted_label=label,
                    image_png=viz.to_png_bytes(picture),
                )
            )
    return out

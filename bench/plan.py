"""Which configurations a run measures: full or ``--quick``, on CPU or CUDA.

The CPU plan is sized to finish in about 15 minutes on 2 cores: path and sampling methods on ResNet-50 (about
0.2 s per image forward+backward) run on one image only, and Captum's settings whose single batch would not fit
in memory are reported as skipped rather than run.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Plan:
    repeats: int  # rounds for single-pass methods (ResNet-50 at 8 images: heavy_repeats)
    heavy_repeats: int  # rounds for IG and SmoothGrad on Lite0 with one image, and the chunk sweep
    expensive_repeats: int  # the rest: ResNet-50 path methods, 8-image path methods, PAIR, curves, randomization
    models: tuple[str, ...]
    batches: dict[str, tuple[int, ...]]  # single-pass methods, per model
    heavy_batches: dict[str, tuple[int, ...]]  # integrated_gradients, smoothgrad, per model
    captum_sweep: dict[str, tuple[int | None, ...]]  # per case: Captum's batching argument, None = its default
    expensive_sweep: dict[str, tuple[int | None, ...]]  # the same for the expensive configurations
    pair_batches: tuple[int, ...]  # images for Blur IG / Guided IG (Lite0)
    pair_sweep: tuple[int, ...]  # PAIR Blur IG batch_size
    curve_batches: tuple[int, ...]  # images for insertion/deletion (Lite0)
    randomization_batches: tuple[int, ...]  # images for cascading randomization (Lite0)
    floor_sizes: dict[str, tuple[int, ...]]
    fwd_sizes: tuple[int, ...]
    chunk_sweep: tuple[int, ...]  # our chunk_size for IG, 50 steps, Lite0, 1 image
    memory: bool
    memory_batch: int  # batch of the single-pass memory probes
    budget_s: float = 900.0  # configurations whose estimated time would overrun this are skipped, and say so
    autocast: tuple[str, ...] = ()
    memory_budget_gib: float = 10.0
    notes: list[str] = field(default_factory=list)


def make_plan(device: str, quick: bool) -> Plan:
    if device == "cuda":
        return Plan(
            repeats=2 if quick else 10,
            heavy_repeats=2 if quick else 5,
            expensive_repeats=2 if quick else 3,
            models=("efficientnet_lite0", "resnet50"),
            batches={"efficientnet_lite0": (1, 8, 32), "resnet50": (1, 8, 32)},
            heavy_batches={"efficientnet_lite0": (1, 8, 32), "resnet50": (1, 8) if quick else (1, 8, 32)},
            captum_sweep={
                "integrated_gradients": (None, 32, 128) if quick else (None, 16, 32, 64, 128, 256, 512),
                "smoothgrad": (None, 4) if quick else (None, 1, 2, 4, 8, 16),
            },
            expensive_sweep={
                "integrated_gradients": (None, 32, 128) if quick else (None, 32, 64, 128, 256, 512),
                "smoothgrad": (None, 4) if quick else (None, 1, 2, 4, 8, 16),
            },
            pair_batches=(1,) if quick else (1, 8),
            pair_sweep=(1, 32) if quick else (1, 8, 32, 100),
            curve_batches=(1, 8),
            randomization_batches=(1, 8),
            floor_sizes={m: (1, 8, 32, 64, 128, 256) for m in ("efficientnet_lite0", "resnet50")},
            fwd_sizes=(1, 32, 128, 256),
            chunk_sweep=(8, 32, 128, 512),
            memory=True,
            memory_batch=32,
            budget_s=600.0 if quick else 1500.0,
            autocast=("float16", "bfloat16"),
            memory_budget_gib=0.0,  # CUDA: decided from the free memory at run time
        )
    if quick:
        return Plan(
            repeats=2,
            heavy_repeats=2,
            expensive_repeats=2,
            models=("efficientnet_lite0", "resnet50"),
            batches={"efficientnet_lite0": (1, 8), "resnet50": (1,)},
            heavy_batches={"efficientnet_lite0": (1,), "resnet50": ()},
            captum_sweep={"integrated_gradients": (None, 8, 32), "smoothgrad": (None, 8)},
            expensive_sweep={"integrated_gradients": (None, 16), "smoothgrad": (None, 4)},
            pair_batches=(1,),
            pair_sweep=(1, 16),
            curve_batches=(1,),
            randomization_batches=(1,),
            floor_sizes={"efficientnet_lite0": (1, 4, 8, 16), "resnet50": (1, 8)},
            fwd_sizes=(1, 8, 32),
            chunk_sweep=(2, 8, 16),
            memory=True,
            memory_batch=1,
            budget_s=480.0,
        )
    return Plan(
        repeats=5,
        heavy_repeats=3,
        expensive_repeats=2,
        models=("efficientnet_lite0", "resnet50"),
        batches={"efficientnet_lite0": (1, 8), "resnet50": (1, 8)},
        heavy_batches={"efficientnet_lite0": (1, 8), "resnet50": (1,)},
        captum_sweep={
            "integrated_gradients": (None, 4, 8, 16, 32, 64),
            "smoothgrad": (None, 1, 2, 4, 8, 16),
        },
        expensive_sweep={
            "integrated_gradients": (None, 8, 16, 32, 64),  # Lite0 x 8: the default does not fit
            "smoothgrad": (None, 1, 2, 4),  # x 8 images per call
        },
        pair_batches=(1,),
        pair_sweep=(1, 16),
        curve_batches=(1, 8),
        randomization_batches=(1,),
        floor_sizes={"efficientnet_lite0": (1, 2, 4, 8, 16, 32), "resnet50": (1, 2, 4, 8, 16)},
        fwd_sizes=(1, 8, 16, 32),
        chunk_sweep=(1, 2, 4, 8, 16, 32),
        memory=True,
        memory_batch=8,
        budget_s=900.0,
    )

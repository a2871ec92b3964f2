"""The peers: Captum 0.9, PAIR's ``saliency`` 0.2.1, and the straightforward loops a user would otherwise write.

Each function returns a zero-argument callable; the result is a tensor laid out as ours, so the agreement
check can compare the two directly. Captum and the loops use the same module object as ours (Captum removes
its hooks after each call; the randomization loop works on deep copies).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import xai_core
from bench.timing import fwd_bwd
from bench.workloads import Workload

# --- Captum ----------------------------------------------------------------------------------------------------


def captum(
    name: str, wl: Workload, x: Tensor, classes: Tensor, setting: int | None, steps: int, rule: str, samples: int,
    stdev: float,
) -> Callable[[], Tensor]:  # fmt: skip
    """Captum's implementation of case ``name``; ``setting`` is its batching argument where it has one."""
    from captum.attr import (
        GuidedBackprop,
        InputXGradient,
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        NoiseTunnel,
        Saliency,
    )

    module = wl.module
    target = classes.tolist()
    if name == "saliency":
        method = Saliency(module)
        return lambda: method.attribute(x.clone(), target=target, abs=False)
    if name == "input_x_gradient":
        ixg = InputXGradient(module)
        return lambda: ixg.attribute(x.clone(), target=target)
    if name == "guided_backprop":
        guided = GuidedBackprop(module)
        return lambda: guided.attribute(x.clone(), target=target)
    if name == "grad_cam":
        cam = LayerGradCam(module, module.get_submodule(wl.cam_layer))

        def grad_cam() -> Tensor:
            layer_map = cam.attribute(x.clone(), target=target, relu_attributions=True)
            return LayerAttribution.interpolate(layer_map, tuple(x.shape[-2:]), interpolate_mode="bilinear")

        return grad_cam
    if name == "integrated_gradients":
        ig = IntegratedGradients(module)
        baseline = wl.black.expand_as(x).contiguous()
        return lambda: ig.attribute(
            x.clone(), baselines=baseline, target=target, n_steps=steps, method=rule, internal_batch_size=setting
        )
    if name == "smoothgrad":
        tunnel = NoiseTunnel(Saliency(module))
        return lambda: tunnel.attribute(
            x.clone(), nt_type="smoothgrad", nt_samples=samples, nt_samples_batch_size=setting, stdevs=stdev,
            target=target, abs=False,
        )  # fmt: skip
    raise ValueError(f"Captum has no case {name!r}")


# --- PAIR saliency ---------------------------------------------------------------------------------------------


def pair_call_model(module: nn.Module, device: torch.device) -> Callable[..., dict[str, np.ndarray]]:
    """PAIR's ``call_model_function`` for a torch classifier: NHWC arrays in, input gradients of the class out."""
    import saliency.core as saliency

    def call_model(x_batch: np.ndarray, call_model_args: Any = None, expected_keys: Any = None) -> dict:
        # NCHW-contiguous, as our inputs: a channels-last view takes other conv kernels, whose ~1e-6 differences
        # Guided IG's feature selection amplifies into a different path (0.36 relative map error after 5 steps).
        x = torch.from_numpy(np.ascontiguousarray(x_batch, dtype=np.float32)).permute(0, 3, 1, 2).contiguous()
        x = x.to(device)
        classes = torch.full((x.shape[0],), int(call_model_args["class"]), device=device)
        grad = fwd_bwd(module, x, classes)
        return {saliency.INPUT_OUTPUT_GRADIENTS: grad.permute(0, 2, 3, 1).cpu().numpy()}

    return call_model


def _per_image(x: Tensor, classes: Tensor, explain: Callable[[np.ndarray, int], np.ndarray]) -> Tensor:
    """PAIR explains one image at a time (float64 HWC): run it per image, return ``[B, C, H, W]`` like ours."""
    maps = [explain(image.permute(1, 2, 0).double().cpu().numpy(), int(c)) for image, c in zip(x, classes, strict=True)]
    return torch.from_numpy(np.stack(maps)).permute(0, 3, 1, 2).float().to(x.device)


def pair_blur_ig(wl: Workload, x: Tensor, classes: Tensor, batch_size: int, params: dict) -> Callable[[], Tensor]:
    import saliency.core as saliency

    blur, call_model = saliency.BlurIG(), pair_call_model(wl.module, wl.device)
    settings = {"max_sigma": params["max_sigma"], "steps": params["steps"], "grad_step": params["grad_step"]}

    def explain(image: np.ndarray, c: int) -> np.ndarray:
        return blur.GetMask(image, call_model, {"class": c}, sqrt=params["sqrt"], batch_size=batch_size, **settings)

    return lambda: _per_image(x, classes, explain)


@contextmanager
def numpy_quantile_interpolation() -> Iterator[None]:
    """PAIR 0.2.1's Guided IG calls ``np.quantile(..., interpolation=)``, which NumPy 2 removed: map it to ``method=``
    for the duration of the call (the same shim as tests/test_path_methods.py)."""
    quantile = np.quantile

    def patched(a: Any, q: Any, *args: Any, interpolation: str | None = None, **kwargs: Any) -> Any:
        return quantile(a, q, *args, **({"method": interpolation} if interpolation else {}), **kwargs)

    np.quantile = patched
    try:
        yield
    finally:
        np.quantile = quantile


def pair_guided_ig(wl: Workload, x: Tensor, classes: Tensor, params: dict) -> Callable[[], Tensor]:
    import saliency.core as saliency

    guided, call_model = saliency.GuidedIG(), pair_call_model(wl.module, wl.device)

    def explain(image: np.ndarray, c: int) -> np.ndarray:
        with numpy_quantile_interpolation():
            return guided.GetMask(
                image, call_model, {"class": c}, x_baseline=np.zeros_like(image), x_steps=params["steps"],
                fraction=params["fraction"], max_dist=params["max_dist"],
            )  # fmt: skip

    return lambda: _per_image(x, classes, explain)


# --- insertion / deletion: the engine and RISE's CausalMetric loop ---------------------------------------------

_MAPS: dict[tuple[str, int], np.ndarray] = {}


def saliency_maps(wl: Workload, batch: int) -> np.ndarray:
    """The maps both curve implementations score: our saliency maps ``[B, H, W]`` (max |grad| over channels)."""
    key = (wl.name, batch)
    if key not in _MAPS:
        x, classes = wl.batch(batch)
        _MAPS[key] = np.asarray(xai_core.attribute(wl.model, x, "saliency", target=classes).to_maps(), np.float32)
    return _MAPS[key]


def engine_curves(wl: Workload, batch: int, steps: int, chunk_size: int | None) -> Callable[[], Tensor]:
    from xai_core import metrics

    x, classes = wl.batch(batch)
    maps = saliency_maps(wl, batch)

    def call() -> Tensor:
        opts: dict[str, Any] = {"target": classes, "steps": steps, "chunk_size": chunk_size}
        ins = metrics.insertion(wl.model, x, maps, **opts).scores
        dele = metrics.deletion(wl.model, x, maps, **opts).scores
        return torch.from_numpy(np.stack([ins, dele])).float()

    return call


def rise_blur(x: Tensor, sigma: float = 5.0) -> Tensor:
    """RISE's insertion substrate: ``conv2d(x, gkern(klen, sigma), padding=klen // 2)`` per channel."""
    from xai_core.metrics import gaussian_kernel

    kernel = torch.from_numpy(gaussian_kernel(sigma)).to(x)
    weight = kernel.expand(x.shape[1], 1, *kernel.shape)
    return F.conv2d(x, weight, padding=kernel.shape[-1] // 2, groups=x.shape[1])


def loop_curves(wl: Workload, batch: int, steps: int) -> Callable[[], Tensor]:
    """RISE's ``CausalMetric.single_run`` per image: one forward of one image per step, pixels set in place.

    Step ``k`` has the ``round(k * HW / steps)`` most salient pixels replaced (the engine's schedule; RISE's own
    uses a fixed number of pixels per step), so both produce the same curve.
    """
    x, classes = wl.batch(batch)
    maps = saliency_maps(wl, batch)
    blurred = rise_blur(x)
    hw = x.shape[-2] * x.shape[-1]
    counts = [(2 * k * hw + steps) // (2 * steps) for k in range(steps + 1)]

    def call() -> Tensor:
        out = torch.empty(2, batch, steps + 1)
        for b in range(batch):
            order = torch.argsort(torch.from_numpy(maps[b]).flatten().double(), descending=True, stable=True)
            order = order.to(x.device)
            for mode, (start, finish) in enumerate(((blurred[b], x[b]), (x[b], blurred[b]))):
                image, source = start.clone().flatten(1), finish.flatten(1)
                done = 0
                for k in range(steps + 1):
                    pixels = order[done : counts[k]]
                    image[:, pixels] = source[:, pixels]
                    done = counts[k]
                    with torch.no_grad():
                        probs = wl.module(image.view(1, *x.shape[1:])).softmax(dim=1)
                    out[mode, b, k] = probs[0, classes[b]].item()
        return out

    return call


# --- cascading randomization ----------------------------------------------------------------------------------


def engine_randomization() -> Callable[..., Any] | None:
    try:
        from xai_core.sanity import model_randomization
    except ImportError:
        return None
    return model_randomization


def _maps_of(result: Any) -> Tensor:
    """Every step's maps ``[L + 1, B, H, W]``: the trained model's first, then each randomised model's."""
    return torch.from_numpy(np.stack([result.original_map, *[step.maps for step in result.steps]]))


def engine_cascading(wl: Workload, batch: int) -> Callable[[], Tensor]:
    run = engine_randomization()
    assert run is not None
    x, classes = wl.batch(batch)
    return lambda: _maps_of(run(wl.model, x, "saliency", target=classes, mode="cascading", seed=0))


def loop_cascading(wl: Workload, batch: int) -> Callable[[], Tensor]:
    """Deep-copy the model; re-initialise one more layer from the logits down, each with ``reset_parameters`` seeded
    ``seed + position`` (running statistics kept, as the engine does), recompute the map and the same four
    similarity measures to the original map. The same deliverable as ``model_randomization``, so the maps agree."""
    from xai_core.sanity.similarity import similarities

    x, classes = wl.batch(batch)

    def call() -> Tensor:
        model = copy.deepcopy(wl.module)
        layers = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None][::-1]
        original = xai_core.attribute(model, x, "saliency", target=classes).to_maps()
        maps = [original]
        for position, layer in enumerate(layers):
            buffers = {name: b.clone() for name, b in layer.named_buffers(recurse=False)}
            torch.manual_seed(position)
            with torch.no_grad():
                if hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()
                else:  # the engine's fallback: permute the layer's own parameters
                    for p in layer.parameters(recurse=False):
                        p.copy_(p.flatten()[torch.randperm(p.numel())].view_as(p))
                for name, b in buffers.items():
                    getattr(layer, name).copy_(b)
            maps.append(xai_core.attribute(model, x, "saliency", target=classes).to_maps())
            similarities(original, maps[-1])
        return torch.from_numpy(np.stack(maps))

    return call

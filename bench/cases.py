"""What is timed: each benchmark case with our call, its peer's call at a given setting, and its floor.

A case maps (workload, batch) to zero-argument callables, so the timer, the agreement check and the memory probe
(``bench.memory``, in a fresh process) all run exactly the same code. Settings are identical on both sides:
same inputs, targets, baseline tensor, quadrature rule, number of steps and samples, noise level.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

import xai_core
from bench import peers
from bench.timing import Floor
from bench.workloads import Workload
from xai_core import registry

IG_STEPS = 50
IG_RULE = "gausslegendre"  # the default of both xai_core and Captum; its nodes are identical in both
SG_SAMPLES, SG_SIGMA = 25, 0.15
BLUR_IG = {"steps": 100, "max_sigma": 50.0, "grad_step": 0.01, "sqrt": False}  # PAIR's defaults
GUIDED_IG = {"steps": 200, "fraction": 0.25, "max_dist": 0.02}  # PAIR's defaults
CURVE_STEPS = 100


@dataclass(frozen=True)
class Case:
    """One benchmark row: our method and its peer.

    ``sweep``: the peer's batching argument (Captum ``internal_batch_size`` / ``nt_samples_batch_size``, PAIR
    ``batch_size``); ``None`` is the peer's default. ``tolerance``: the largest ``max|ours - peer| / max|peer|``
    accepted as the same map.
    """

    name: str
    peer: str  # "captum", "pair" or "loop"
    method: str | None  # the registry id our side needs (None: not a method, e.g. curves)
    tolerance: float
    sweep_arg: str | None = None
    note: str = ""
    cost: float = 1.6  # rough seconds of a call / its floor, for the run's time budget (PAIR's blurs are dear)

    def available(self) -> str | None:
        """None when our side exists in this checkout, else why not."""
        if self.method is not None and self.method not in registry.all_methods():
            return f"`{self.method}` is not registered in xai_core yet"
        if self.name == "insertion_deletion" and importlib.util.find_spec("xai_core.metrics") is None:
            return "xai_core.metrics is not available yet"
        if self.name == "cascading_randomization" and peers.engine_randomization() is None:
            return "xai_core.sanity.model_randomization is not available yet"
        return None


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("saliency", "captum", "saliency", 1e-4),
        Case("input_x_gradient", "captum", "input_x_gradient", 1e-4),
        Case("guided_backprop", "captum", "guided_backprop", 1e-4),
        Case("grad_cam", "captum", "grad_cam", 1e-4),
        Case("integrated_gradients", "captum", "integrated_gradients", 1e-3, "internal_batch_size"),
        Case(
            "smoothgrad",
            "captum",
            "saliency",
            1e-4,
            "nt_samples_batch_size",
            note="maps checked exactly at sigma = 0; at sigma = 0.15 the two draw different noise",
        ),
        Case("blur_ig", "pair", "blur_ig", 1e-3, "batch_size", cost=4.0),
        Case("guided_ig", "pair", "guided_ig", 1e-3),
        Case("insertion_deletion", "loop", None, 1e-5, cost=2.5),
        Case(
            "cascading_randomization",
            "loop",
            None,
            1e-4,
            note="saliency maps of the trained model and after each of the layers is re-initialised, top down",
        ),
    )
}


def images_per_call(case: Case, batch: int, setting: int | None) -> int:
    """Images in the largest single forward+backward the peer makes at ``setting`` (for the memory check)."""
    total = {"integrated_gradients": IG_STEPS * batch, "smoothgrad": SG_SAMPLES * batch}.get(case.name, batch)
    if case.name == "smoothgrad":
        return batch * min(SG_SAMPLES, setting) if setting else total
    if case.name == "blur_ig":
        return min(BLUR_IG["steps"], setting or 1)
    return min(total, setting) if setting else total


def floor_seconds(case: Case, batch: int, floor: Floor, layers: int = 0) -> float:
    """The minimal passes of ``case`` on ``batch`` images, at the best measured batch size."""
    if case.name == "integrated_gradients":
        return floor.images(IG_STEPS * batch)
    if case.name == "smoothgrad":
        return floor.images(SG_SAMPLES * batch)
    if case.name == "blur_ig":
        return floor.images(BLUR_IG["steps"] * batch)
    if case.name == "guided_ig":
        return floor.sequential(GUIDED_IG["steps"], batch)
    if case.name == "insertion_deletion":
        return floor.images(2 * (CURVE_STEPS + 1) * batch, kind="fwd")
    if case.name == "cascading_randomization":
        return (layers + 1) * floor.images(batch)
    return floor.images(batch)


_PREDICTED: Any = object()  # sentinel: the predicted classes, passed explicitly


def ours(
    case: Case, wl: Workload, batch: int, *, chunk_size: int | None = None, autocast: torch.dtype | None = None,
    sigma: float = SG_SIGMA, target: Any = _PREDICTED,
) -> Callable[[], Tensor]:  # fmt: skip
    """Our side of ``case``: a callable returning the map ``[B, C, H, W]`` (or the curves ``[2, B, steps + 1]``).

    ``target=None`` leaves the class to ``attribute`` (the app's call), which predicts it with one more forward.
    """
    x, classes = wl.batch(batch)
    kwargs: dict[str, Any] = {"target": classes if target is _PREDICTED else target, "chunk_size": chunk_size}
    model: Any = wl.model
    if case.name == "grad_cam":
        kwargs["layer"] = wl.cam_layer
    elif case.name == "integrated_gradients":
        kwargs.update(baseline=wl.black, steps=IG_STEPS, rule=IG_RULE)
    elif case.name == "smoothgrad":
        kwargs.update(noise=xai_core.Noise("smoothgrad", samples=SG_SAMPLES, sigma=sigma, seed=0))
    elif case.name == "blur_ig":
        model = wl.module  # PAIR blurs the array it is given: both blur the model-space input
        kwargs.update(BLUR_IG)
    elif case.name == "guided_ig":
        model = wl.module  # baseline "black" of a bare module is 0, PAIR's default baseline
        kwargs.update(GUIDED_IG, baseline="black")
    elif case.name == "insertion_deletion":
        return peers.engine_curves(wl, batch, CURVE_STEPS, chunk_size)
    elif case.name == "cascading_randomization":
        return peers.engine_cascading(wl, batch)
    method = case.method or case.name

    def call() -> Tensor:
        with torch.autocast(wl.device.type, dtype=autocast) if autocast is not None else nullcontext():
            return xai_core.attribute(model, x, method, **kwargs).attributions

    return call


def peer(case: Case, wl: Workload, batch: int, setting: int | None, *, sigma: float = SG_SIGMA) -> Callable[[], Tensor]:
    """The peer's side of ``case`` at ``setting`` (its batching argument; ``None`` = the peer's default)."""
    x, classes = wl.batch(batch)
    if case.peer == "captum":
        spread = float((x.flatten(1).max(1).values - x.flatten(1).min(1).values).mean())
        return peers.captum(case.name, wl, x, classes, setting, IG_STEPS, IG_RULE, SG_SAMPLES, sigma * spread)
    if case.name == "blur_ig":
        return peers.pair_blur_ig(wl, x, classes, setting or 1, BLUR_IG)
    if case.name == "guided_ig":
        return peers.pair_guided_ig(wl, x, classes, GUIDED_IG)
    if case.name == "insertion_deletion":
        return peers.loop_curves(wl, batch, CURVE_STEPS)
    if case.name == "cascading_randomization":
        return peers.loop_cascading(wl, batch)
    raise ValueError(f"no peer for case {case.name!r}")

"""Interleaved A/B timing, medians, and the forward(+backward) floor every method is compared with.

Candidates are timed in rounds: each round runs every candidate once, in an order rotated by one per round, so a
slow period of the machine (other processes, thermal limits) hits every candidate alike instead of one of them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that wall-clock time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes, GPU work included."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleaved(
    candidates: Mapping[str, Callable[[], Any]], repeats: int, device: torch.device, *, warmup: bool = True
) -> dict[str, list[float]]:
    """Times of ``repeats`` rounds of every candidate (A, B, C, B, C, A, ...): name -> seconds per round."""
    names = list(candidates)
    if warmup:
        for name in names:
            candidates[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(time_call(candidates[name], device))
    return times


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def fwd_bwd(module: nn.Module, x: Tensor, classes: Tensor) -> Tensor:
    """The minimal pass a gradient method needs: forward, pick the target logits, gradient w.r.t. the input."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = module(x).gather(1, classes.view(-1, 1)).sum()
        (grad,) = torch.autograd.grad(scores, x)
    return grad


def fwd_only(module: nn.Module, x: Tensor) -> Tensor:
    with torch.inference_mode():
        return module(x)


@dataclass
class Floor:
    """Measured seconds per call of ``size`` images, forward+backward (``fb``) and forward only (``fwd``).

    The floor of a job of ``n`` images is ``n`` times the best seconds per image over the measured batch sizes
    that are at most ``n``: a lower bound on any implementation that does the same passes on this machine.
    """

    fb: dict[int, float] = field(default_factory=dict)
    fwd: dict[int, float] = field(default_factory=dict)

    def _per_image(self, table: Mapping[int, float], n: int) -> float:
        usable = {size: t / size for size, t in table.items() if size <= max(n, min(table))}
        return min(usable.values())

    def images(self, n: int, kind: str = "fb") -> float:
        """Floor seconds for ``n`` images in as few, as well-sized calls as allowed."""
        table = self.fb if kind == "fb" else self.fwd
        return n * self._per_image(table, n) if table else float("nan")

    def sequential(self, steps: int, batch: int) -> float:
        """Floor of ``steps`` dependent passes of ``batch`` images each (Guided IG: step k needs step k-1)."""
        return steps * self.images(batch)

    def best_size(self, kind: str = "fb") -> int:
        table = self.fb if kind == "fb" else self.fwd
        return min(table, key=lambda size: table[size] / size)


def measure_floor(
    module: nn.Module,
    sample: Tensor,
    classes: Tensor,
    sizes: Sequence[int],
    fwd_sizes: Sequence[int],
    repeats: int,
    device: torch.device,
) -> tuple[Floor, dict[str, dict[int, list[float]]]]:
    """Median seconds of one forward+backward (and one forward) of ``size`` copies of ``sample``, interleaved."""
    jobs: dict[str, Callable[[], Any]] = {}
    for size in sizes:
        x, c = sample[:1].expand(size, -1, -1, -1).contiguous(), classes[:1].expand(size).contiguous()
        jobs[f"fb{size}"] = lambda x=x, c=c: fwd_bwd(module, x, c)
    for size in fwd_sizes:  # a forward-only job may take either layout (the curves score in channels-last)
        x = sample[:1].expand(size, -1, -1, -1).contiguous()
        jobs[f"fwd{size}"] = lambda x=x: fwd_only(module, x)
        x_nhwc = x.contiguous(memory_format=torch.channels_last)
        jobs[f"fwd_nhwc{size}"] = lambda x=x_nhwc: fwd_only(module, x)
    raw = interleaved(jobs, repeats, device)
    floor = Floor(
        fb={size: median(raw[f"fb{size}"]) for size in sizes},
        fwd={size: min(median(raw[f"fwd{size}"]), median(raw[f"fwd_nhwc{size}"])) for size in fwd_sizes},
    )
    return floor, {
        "fb": {size: raw[f"fb{size}"] for size in sizes},
        "fwd": {size: raw[f"fwd{size}"] for size in fwd_sizes},
        "fwd_nhwc": {size: raw[f"fwd_nhwc{size}"] for size in fwd_sizes},
    }

"""Memory-budgeted chunking shared by every path, sampling and perturbation loop.

The best chunk differs by device: on a 2-core CPU a forward+backward of EfficientNet-Lite0 at 224 is fastest
at about 8 images per call (larger chunks only add cache misses), on a GPU as many as fit the budget.
``auto_chunk_size`` estimates a sample's activation memory once per (model, input shape) from a probe forward and
divides the device's budget by it.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

CPU_CHUNK_CAP = 8
GPU_CHUNK_CAP = 512
CPU_BUDGET_BYTES = 4 * 1024**3
GPU_BUDGET_FRACTION = 0.5  # of the memory free on the device when asked
# A forward+backward keeps every activation plus its gradient plus autograd's saved tensors: about 3x outputs.
BACKWARD_OVERHEAD = 3

_PER_SAMPLE: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], int]] = weakref.WeakKeyDictionary()


def sample_activation_bytes(model: nn.Module, sample: Tensor) -> int:
    """Bytes of all leaf-module outputs for one sample: a probe forward (``hooks.leaf_output_bytes``), cached per
    model and input shape."""
    shape = tuple(sample.shape[1:])
    cache = _PER_SAMPLE.setdefault(model, {})
    if shape not in cache:
        from xai_core.hooks import leaf_output_bytes  # hooks owns registration; imported here to keep this light

        cache[shape] = max(leaf_output_bytes(model, sample[:1]), sample[:1].numel() * sample.element_size())
        log.debug("%s: %d activation bytes per sample of shape %s", type(model).__name__, cache[shape], shape)
    return cache[shape]


def auto_chunk_size(model: nn.Module, sample: Tensor, *, budget_bytes: int | None = None) -> int:
    """How many samples of ``sample``'s shape one forward+backward may take on its device."""
    device = sample.device
    cap = CPU_CHUNK_CAP if device.type == "cpu" else GPU_CHUNK_CAP
    if budget_bytes is None:
        if device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(device)
            budget_bytes = int(free * GPU_BUDGET_FRACTION)
        else:
            budget_bytes = CPU_BUDGET_BYTES
    per_sample = sample_activation_bytes(model, sample) * BACKWARD_OVERHEAD
    size = max(1, min(cap, budget_bytes // max(per_sample, 1)))
    log.debug("chunk size %d on %s (budget %d bytes, %d per sample)", size, device, budget_bytes, per_sample)
    return int(size)


def chunks(total: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``range(total)``."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1; got {size}")
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))

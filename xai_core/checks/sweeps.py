"""Hyperparameter sensitivity: sweep one parameter of a method and report how the map and its scores move.

Each setting's map is compared with the reference setting's (by default the last value, e.g. the most steps or
samples: the most expensive, most converged one) by Spearman rank correlation; optionally the insertion and
deletion AUCs of every setting are computed too, so a user sees whether a cheaper setting explains as well.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from torch import Tensor

from xai_core.attribution import attribute


@dataclass(frozen=True)
class SweepResult:
    method: str
    param: str
    values: tuple[Any, ...]
    reference: Any
    maps: np.ndarray  # [V, B, H, W]
    rank_correlation: np.ndarray  # [V, B] with the reference setting's map
    seconds: np.ndarray  # [V]
    insertion_auc: np.ndarray | None = None  # [V, B]
    deletion_auc: np.ndarray | None = None


def sweep(
    model: Any,
    inputs: Tensor,
    method: str,
    param: str,
    values: Sequence[Any],
    *,
    target: int | Sequence[int] | Tensor | None = None,
    reference: Any = None,
    faithfulness: bool = False,
    faithfulness_steps: int = 20,
    progress: Callable[[float], None] | None = None,
    **params: Any,
) -> SweepResult:
    """Run ``method`` once per value of ``param`` (other parameters fixed) on the same target."""
    if not values:
        raise ValueError("values must not be empty")
    reference = values[-1] if reference is None else reference
    if reference not in values:
        raise ValueError(f"reference {reference!r} must be one of the swept values {list(values)}")
    first = attribute(model, inputs, method, target=target, **{**params, param: values[0]})
    target = first.target
    maps, seconds, insertion, deletion = [], [], [], []
    for i, value in enumerate(values):
        start = time.perf_counter()
        result = first if i == 0 else attribute(model, inputs, method, target=target, **{**params, param: value})
        seconds.append(time.perf_counter() - start)
        maps.append(result.to_maps())
        if faithfulness:
            from xai_core import metrics  # scores maps; imported here so sweeps without it stay light

            insertion.append(metrics.insertion(model, inputs, maps[-1], target=target, steps=faithfulness_steps).auc)
            deletion.append(metrics.deletion(model, inputs, maps[-1], target=target, steps=faithfulness_steps).auc)
        if progress is not None:
            progress((i + 1) / len(values))
    stacked = np.stack(maps)
    ref = stacked[list(values).index(reference)]
    correlation = np.array(
        [[spearmanr(m.ravel(), r.ravel())[0] for m, r in zip(setting, ref, strict=True)] for setting in stacked]
    )
    return SweepResult(
        method, param, tuple(values), reference, stacked, correlation, np.array(seconds),
        np.array(insertion) if faithfulness else None, np.array(deletion) if faithfulness else None,
    )  # fmt: skip

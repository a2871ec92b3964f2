"""The plan: which (image, method, metric) work items are still to do, grouped into tasks. Pure and testable.

A work item is keyed by ``(image id, method label, Request.key(), metric, settings hash)``: the same key means the
same computation, so an item whose key has a row in the results folder is done. Items are grouped into tasks: one
method over a run of images that miss the same metrics (a worker explains the task's images with batched
``attribute`` calls and scores them with batched ``metrics.evaluate_many``). Tasks follow the images' sorted ids, so
the plan does not depend on the engine, the number of workers or the order in which results come back.

``shard(k, n)`` keeps the images whose id hashes to ``k`` modulo ``n``: disjoint slices that together cover every
image, for SLURM arrays or torchrun ranks, with no coordinator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xai_core.evaluation.inputs import ImageRef

ItemKey = tuple[str, str, str, str, str]  # image, method label, request key, metric, settings hash
RANDOMIZATION = "model_randomization"  # the metric name of randomization items


@dataclass(frozen=True)
class MethodRun:
    """A method label, its ``Request`` as plain data and the request's key."""

    label: str
    request: Mapping[str, Any]
    key: str


@dataclass(frozen=True)
class MetricRun:
    """A metric name with its resolved settings and their hash."""

    name: str
    settings: Mapping[str, Any]
    hash: str


@dataclass(frozen=True)
class Task:
    """One method on a run of images, each missing the same ``metrics``; plain data (travels as JSON)."""

    method: str
    images: tuple[ImageRef, ...]
    metrics: tuple[str, ...]

    @property
    def key(self) -> str:
        """A digest of the task's content: names its map file."""
        text = "\n".join([self.method, *self.metrics, *(ref.id for ref in self.images)])
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def items(self) -> int:
        return len(self.images) * len(self.metrics)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "metrics": list(self.metrics), "images": [r.to_dict() for r in self.images]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        return cls(data["method"], tuple(ImageRef.from_dict(r) for r in data["images"]), tuple(data["metrics"]))


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N``; a ``ValueError`` naming the form otherwise."""
    k, sep, n = text.partition("/")
    try:
        index, count = int(k), int(n)
    except ValueError:
        index, count = -1, 0
    if not sep or count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard must be K/N with 0 <= K < N (K counts from 0, as SLURM_ARRAY_TASK_ID); got {text!r}")
    return index, count


def in_shard(image_id: str, index: int, count: int) -> bool:
    return int(hashlib.sha256(image_id.encode()).hexdigest()[:12], 16) % count == index


def shard(images: Sequence[ImageRef], index: int, count: int) -> list[ImageRef]:
    """The images of shard ``index`` of ``count`` (by a hash of the id: stable when images are added)."""
    return [ref for ref in images if in_shard(ref.id, index, count)]


def sample(images: Sequence[ImageRef], size: int, seed: int) -> list[ImageRef]:
    """``size`` images chosen by a seeded hash of their ids (the same choice on every machine), in id order."""
    if size <= 0 or size >= len(images):
        return list(images)
    ranked = sorted(images, key=lambda ref: hashlib.sha256(f"{seed}:{ref.id}".encode()).hexdigest())
    return sorted(ranked[:size], key=lambda ref: ref.id)


def item_key(image: str, method: MethodRun, metric: MetricRun) -> ItemKey:
    return (image, method.label, method.key, metric.name, metric.hash)


def plan(
    images: Sequence[ImageRef],
    methods: Sequence[MethodRun],
    metrics: Sequence[MetricRun],
    done: Iterable[ItemKey] = (),
    *,
    task_size: int = 32,
    randomization: MetricRun | None = None,
    randomization_images: Iterable[str] | None = None,
) -> list[Task]:
    """The tasks that compute every missing item, in a deterministic order (method, then image id).

    Args:
        images: the run's images (already sharded, if sharding).
        methods, metrics: what to compute for every image.
        done: keys of items that have rows already.
        task_size: at most this many images per task.
        randomization: the randomization item, computed for ``randomization_images`` (ids) only.
    """
    if task_size < 1:
        raise ValueError(f"task_size must be at least 1; got {task_size}")
    finished = set(done)
    sampled = set(randomization_images or ())
    tasks: list[Task] = []
    for method in methods:
        groups: dict[tuple[str, ...], list[ImageRef]] = {}
        order: list[tuple[str, ...]] = []
        for ref in sorted(images, key=lambda r: r.id):
            wanted = list(metrics) + ([randomization] if randomization and ref.id in sampled else [])
            missing = tuple(m.name for m in wanted if item_key(ref.id, method, m) not in finished)
            if not missing:
                continue
            if missing not in groups:
                groups[missing] = []
                order.append(missing)
            groups[missing].append(ref)
        for missing in order:
            refs = groups[missing]
            for start in range(0, len(refs), task_size):
                tasks.append(Task(method.label, tuple(refs[start : start + task_size]), missing))
    return tasks


def count_items(images: Sequence[ImageRef], methods: Sequence[MethodRun], metrics: Sequence[MetricRun]) -> int:
    return len(images) * len(methods) * len(metrics)

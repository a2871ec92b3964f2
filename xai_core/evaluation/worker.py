"""A worker: one model, loaded once, computing tasks into rows. The same code runs in-process and in a Ray actor.

For each task (one method, a run of images, the metrics they miss) the worker reads and preprocesses the images
(an unreadable one becomes error rows, the others go on), explains them with ``attribute`` on memory-budgeted
batches (``batching.auto_chunk_size`` on this worker's device, or ``batch_size``) and scores them with
``metrics.evaluate_many`` on the same batches. A batch that fails is retried image by image, so one bad image costs
its own rows only.

Every random draw comes from the item's key, never from the batch it happens to be in: a request that draws random
numbers (a ``seed`` parameter or a noise wrapper) explains each image alone with its seed derived from the request's
seed and the image id (``spec.derive_seed``), and a metric with a ``seed`` setting is scored per image the same way.
The others are deterministic and batched. So rows do not depend on the engine, the number of workers, the
batch size or an interruption; ``attribute`` and the curves' own chunking keep the per-image calls efficient.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from xai_core import metrics
from xai_core.attribution import attribute
from xai_core.batching import auto_chunk_size, chunks
from xai_core.evaluation import randomization
from xai_core.evaluation.annotations import load_mask
from xai_core.evaluation.modelspec import ModelSpec
from xai_core.evaluation.plan import RANDOMIZATION, Task
from xai_core.evaluation.sink import row, save_maps
from xai_core.evaluation.spec import derive_seed, settings_hash
from xai_core.images import load_image
from xai_core.metrics.records import CurveResult
from xai_core.models import ModelWrapper
from xai_core.request import Request

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs, as plain data (it travels to Ray actors as it is)."""

    model: dict[str, Any]  # ModelSpec.to_dict()
    requests: dict[str, dict[str, Any]]  # label -> Request.to_dict()
    metrics: dict[str, dict[str, Any]]  # name -> resolved settings
    target: str = "predicted"  # or "label"
    randomization: dict[str, Any] | None = None  # resolved randomization settings
    batch_size: int = 0  # images per attribute call; 0: from the device's memory budget
    maps_folder: str | None = None  # the results folder, when maps are saved
    threads: int = 0  # torch intra-op threads; 0: leave as it is
    identity: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class _Image:
    """An image of a task, read and preprocessed."""

    index: int  # position in the task
    id: str
    x: torch.Tensor  # [1, 3, H, W]
    label: int
    boxes: list[tuple[float, float, float, float]] | None
    mask: np.ndarray | None
    target: int = -1


def stochastic(request: Request) -> bool:
    """Whether a request draws random numbers (a ``seed`` parameter or a noise wrapper)."""
    return "seed" in request.params or request.noise is not None


def seeded_for(request: Request, image_id: str) -> Request:
    """``request`` with each seed derived from itself and the image id."""
    params = dict(request.params)
    if "seed" in params:
        params["seed"] = derive_seed(params["seed"], image_id)
    noise = request.noise
    if noise is not None:
        noise = dataclasses.replace(noise, seed=derive_seed(noise.seed, image_id, "noise"))
    return Request.create(request.method, params, noise=noise, output=request.output, layer=request.layer)


class Worker:
    """Loads the model once (``ModelSpec.build``, or ``model`` when given in-process) and runs tasks into rows."""

    def __init__(self, config: WorkerConfig, model: ModelWrapper | None = None):
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        self.config = config
        self.model = model if model is not None else ModelSpec(**config.model).build()
        self.requests = {label: Request.from_dict(r) for label, r in config.requests.items()}
        self.hashes = {name: settings_hash(s) for name, s in config.metrics.items()}
        if config.randomization is not None:
            self.hashes[RANDOMIZATION] = settings_hash(config.randomization)
        self.identity = config.identity or f"{socket.gethostname()}:{os.getpid()}"

    # --- reading -------------------------------------------------------------------------------------------------

    def _read(self, task: Task) -> tuple[list[_Image], dict[int, str]]:
        images, failed = [], {}
        for index, ref in enumerate(task.images):
            try:
                loaded = load_image(ref.path, name=ref.id)
                x = self.model.preprocess(loaded.image)
                mapped = [self.model.box_to_input(b, loaded.image.size) for b in ref.boxes or ()]
                boxes = [b for b in mapped if b[2] > b[0] and b[3] > b[1]] or None  # boxes the crop cut away: gone
                mask = self._mask(ref.mask, loaded.image.size) if ref.mask else None
                label = -1 if ref.label is None else int(ref.label)
                if self.config.target == "label" and not 0 <= label < self.model.num_classes:
                    raise ValueError(f"no class label in [0, {self.model.num_classes - 1}] for this image ({label})")
                images.append(_Image(index, ref.id, x, label, boxes, mask))
            except Exception as err:  # any reading fault is this image's row, never the task's end
                failed[index] = f"{type(err).__name__}: {err}"
                log.warning("%s: %s", ref.id, failed[index])
        return images, failed

    def prepare(self, task: Task) -> tuple[list[_Image], dict[int, str]]:
        """The task's images read, preprocessed and given their targets, and the errors of those that could not be
        read (by task position): the start of ``run``, for callers that use the images themselves (ROAR)."""
        images, failed = self._read(task)
        self._targets(images)
        return images, failed

    def _mask(self, path: str, size: tuple[int, int]) -> np.ndarray:
        """The mask through the model's resize and centre crop (nearest neighbour), as bool ``[H, W]``."""
        mask = load_mask(path, size)
        resized = TF.resize(mask, [self.model.resize], interpolation=InterpolationMode.NEAREST)
        return np.asarray(TF.center_crop(resized, list(self.model.input_size))) > 0

    def _targets(self, images: Sequence[_Image]) -> None:
        if self.config.target == "label":
            for image in images:
                image.target = image.label
            return
        for part in chunks(len(images), 16):
            x = torch.cat([im.x for im in images[part]])
            for image, cls in zip(images[part], self.model.predict(x).argmax(dim=1).tolist(), strict=True):
                image.target = int(cls)

    def _chunk_size(self, sample: torch.Tensor) -> int:
        return self.config.batch_size or auto_chunk_size(self.model.module, sample)

    # --- explaining ----------------------------------------------------------------------------------------------

    def explain(self, request: Request, images: Sequence[_Image]) -> dict[int, np.ndarray | str]:
        """2-D maps ``[H, W]`` per task position, or the error text of an image that could not be explained."""
        out: dict[int, np.ndarray | str] = {}
        if stochastic(request):
            for image in images:
                out[image.index] = self._explain_one(seeded_for(request, image.id), [image])
            return out
        for part in chunks(len(images), self._chunk_size(images[0].x)) if images else ():
            batch = images[part]
            try:
                maps = self._attribute(request, batch)
                out.update({im.index: maps[i] for i, im in enumerate(batch)})
            except Exception as err:
                log.info("a batch of %s failed (%s); retrying image by image", request.method, err)
                out.update({im.index: self._explain_one(request, [im]) for im in batch})
        return out

    def _attribute(self, request: Request, batch: Sequence[_Image]) -> np.ndarray:
        x = torch.cat([im.x for im in batch])
        result = attribute(self.model, x, request, target=[im.target for im in batch])
        return np.asarray(result.to_maps(), dtype=np.float32)

    def _explain_one(self, request: Request, batch: Sequence[_Image]) -> np.ndarray | str:
        try:
            return self._attribute(request, batch)[0]
        except Exception as err:
            log.warning("%s with %s: %s", batch[0].id, request.method, err)
            return f"{type(err).__name__}: {err}"

    def explainer(self, request: Request) -> Callable[..., Any]:
        """``explain(inputs, target, model=None)`` for metrics that re-explain (robustness, randomization)."""
        return lambda x, t, model=None: attribute(model or self.model, x, request, target=t).attributions

    # --- scoring -------------------------------------------------------------------------------------------------

    def score(
        self, names: Sequence[str], request: Request, images: Sequence[_Image], maps: Mapping[int, np.ndarray]
    ) -> dict[tuple[int, str], dict[str, Any]]:
        """Per (task position, metric): the row fields (value, curve, status, error)."""
        out: dict[tuple[int, str], dict[str, Any]] = {}
        # Per image: metrics that draw random numbers, and those that re-explain with a method that does.
        redraws = stochastic(request)
        batched = [n for n in names if "seed" not in self.config.metrics[n]
                   and not (redraws and "explainer" in metrics.get(n).needs)]  # fmt: skip
        seeded = [n for n in names if n not in batched]
        for needs, group in _by_needs(batched).items():
            usable = [im for im in images if _has(im, needs)]
            for im in images:
                if not _has(im, needs):
                    out.update({(im.index, n): _not_applicable(_missing(needs)) for n in group})
            for part in chunks(len(usable), self._chunk_size(usable[0].x)) if usable else ():
                out.update(self._score_batch(group, request, usable[part], maps, {}))
        for im in images:  # one call per image for all its seeded metrics: suites still share their work
            for needs, group in _by_needs(seeded).items():
                if not _has(im, needs):
                    out.update({(im.index, n): _not_applicable(_missing(needs)) for n in group})
                    continue
                seeds = {n: {"seed": derive_seed(self.config.metrics[n]["seed"], im.id)}
                         for n in group if "seed" in self.config.metrics[n]}  # fmt: skip
                out.update(self._score_batch(group, seeded_for(request, im.id), [im], maps, seeds))
        return out

    def _score_batch(
        self, names: Sequence[str], request: Request, batch: Sequence[_Image], maps: Mapping[int, np.ndarray],
        extra: Mapping[str, Mapping[str, Any]],
    ) -> dict[tuple[int, str], dict[str, Any]]:  # fmt: skip
        overrides = {n: {**self.config.metrics[n], **extra.get(n, {})} for n in names}
        try:
            results = self._evaluate(names, request, batch, maps, overrides)
        except Exception as err:
            if len(batch) == 1:
                log.warning("%s: %s failed: %s", batch[0].id, ", ".join(names), err)
                return {(batch[0].index, n): _error(err) for n in names}
            return {k: v for im in batch for k, v in self._score_batch(names, request, [im], maps, extra).items()}
        out: dict[tuple[int, str], dict[str, Any]] = {}
        for name in names:
            if name in results:
                out.update({(im.index, name): _fields(results[name], i) for i, im in enumerate(batch)})
            elif len(batch) > 1:  # not applicable to the batch: find out image by image
                out.update(
                    {k: v for im in batch for k, v in self._score_batch([name], request, [im], maps, extra).items()}
                )
            else:
                out[(batch[0].index, name)] = self._why_not(name, request, batch, maps, overrides)
        return out

    def _evaluate(
        self, names: Sequence[str], request: Request, batch: Sequence[_Image], maps: Mapping[int, np.ndarray],
        overrides: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, Any]:  # fmt: skip
        needs = {need for n in names for need in metrics.get(n).needs}
        return metrics.evaluate_many(
            names,
            model=self.model,
            inputs=torch.cat([im.x for im in batch]),
            maps=np.stack([maps[im.index] for im in batch]),
            boxes=[im.boxes for im in batch] if "boxes" in needs else None,
            masks=np.stack([im.mask for im in batch]) if "masks" in needs else None,  # type: ignore[misc]
            explainer=self.explainer(request) if "explainer" in needs else None,
            target=[im.target for im in batch],
            overrides=overrides,
        )

    def _why_not(self, name: str, request: Request, batch: Sequence[_Image], maps: Mapping[int, np.ndarray],
                 overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:  # fmt: skip
        try:
            self._evaluate([name], request, batch, maps, overrides)
        except metrics.MetricNotApplicable as why:
            return _not_applicable(str(why))
        except Exception as err:
            return _error(err)
        return _not_applicable("the metric does not apply to this image")

    # --- a task --------------------------------------------------------------------------------------------------

    def run(self, task: Task) -> list[dict[str, Any]]:
        """Every row of ``task``: one per (image, metric), and per layer and measure for randomization."""
        start = time.perf_counter()
        request = self.requests[task.method]
        images, failed = self.prepare(task)
        maps = self.explain(request, images)
        for index, value in list(maps.items()):
            if isinstance(value, str):
                failed[index] = value
                del maps[index]
        good = [im for im in images if im.index in maps]
        arrays = {k: v for k, v in maps.items() if not isinstance(v, str)}
        names = [m for m in task.metrics if m != RANDOMIZATION]
        scored = self.score(names, request, good, arrays) if names else {}
        layers = randomization.score(self, request, good) if RANDOMIZATION in task.metrics and good else {}
        maps_file = ""
        if self.config.maps_folder and good:
            maps_file = save_maps(
                self.config.maps_folder, task.key, [im.id for im in good], [arrays[im.index] for im in good]
            )
        seconds = (time.perf_counter() - start) / max(1, len(task.images))
        base: dict[str, Any] = {
            "method": task.method,
            "request_key": request.key(),
            "worker": self.identity,
            "seconds": seconds,
        }
        by_index = {im.index: im for im in images}
        rows = []
        for index, ref in enumerate(task.images):
            image = by_index.get(index)
            common = {**base, "image": ref.id, "label": -1 if ref.label is None else int(ref.label),
                      "target": image.target if image else -1}  # fmt: skip
            if index in maps and maps_file:
                common.update(maps_file=maps_file, maps_index=[im.index for im in good].index(index))
            for name in task.metrics:
                better = False if name == RANDOMIZATION else metrics.get(name).higher_is_better
                item = {**common, "metric": name, "settings_hash": self.hashes[name], "higher_is_better": better}
                if index in failed:
                    rows.append(row(**item, status="error", error=failed[index]))
                elif name == RANDOMIZATION:
                    rows += [row(**item, **fields) for fields in layers[(index, name)]]
                else:
                    rows.append(row(**item, **scored[(index, name)]))
        return rows


def _by_needs(names: Sequence[str]) -> dict[tuple[str, ...], list[str]]:
    """Metrics grouped by the per-image annotations they need (boxes, masks)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        needs = tuple(n for n in ("boxes", "masks") if n in metrics.get(name).needs)
        groups.setdefault(needs, []).append(name)
    return groups


def _has(image: _Image, needs: Sequence[str]) -> bool:
    return ("boxes" not in needs or bool(image.boxes)) and ("masks" not in needs or image.mask is not None)


def _missing(needs: Sequence[str]) -> str:
    what = {"boxes": "annotated box inside the model's crop", "masks": "mask"}
    return "this image has no " + " or ".join(what[n] for n in needs)


def _fields(result: Any, i: int) -> dict[str, Any]:
    """One image's value (and curve) from a metric's batch record."""
    if isinstance(result, CurveResult):
        skipped = getattr(result, "skipped", None)
        if skipped and skipped[i]:
            return _not_applicable(str(skipped[i]))
        return {"value": float(result.auc[i]), "curve": [float(v) for v in result.scores[i]],
                "curve_x": [float(v) for v in result.fractions]}  # fmt: skip
    per_image = getattr(result, "per_image", None)
    value = float(per_image[i]) if per_image is not None else float(result.value)
    return {"value": value}


def _error(err: BaseException) -> dict[str, Any]:
    return {"status": "error", "error": f"{type(err).__name__}: {err}"}


def _not_applicable(why: str) -> dict[str, Any]:
    return {"status": "not_applicable", "error": why}

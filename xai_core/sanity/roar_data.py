"""The data of a ROAR/KAR run on a folder (``roar_folder``): the train/test split, every image's pixels read by the
dataset engine's ``Worker`` (the model's resize and crop), and the rankings: a method's maps (computed with
``attribute`` on the worker's batches, cached in ``OUT/maps``, or read from an ``evaluate --save-maps`` folder) or
the random ranking, seeded per image.

Memory: the pixels of every image stay in memory as uint8 (150 KB per 224x224 image) and one method's maps as
float32 (200 KB per image) at a time: about 350 MB for 1,000 images.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from xai_core.batching import chunks
from xai_core.evaluation import modelspec, sink
from xai_core.evaluation.inputs import ImageRef, with_folder_labels
from xai_core.evaluation.plan import Task
from xai_core.evaluation.spec import SpecMismatch, derive_seed, read_spec
from xai_core.evaluation.worker import Worker, WorkerConfig
from xai_core.models import ModelWrapper
from xai_core.sanity.roar import RANDOM, Split

SavedMaps = dict[tuple[str, str], dict[str, tuple[Path, str, int]]]


def class_folders(refs: Sequence[ImageRef], *more: Sequence[ImageRef]) -> list[list[ImageRef]]:
    """Each image labelled by its first folder (``class/img.jpg``), classes numbered in sorted folder order (as
    torchvision's ``ImageFolder``): a retrained head needs only the classes' identity, not the model's indices.
    ``more`` (a separate test folder) shares the numbering."""
    groups = [refs, *more]
    folders = sorted({r.id.split("/")[0] for group in groups for r in group if "/" in r.id})
    mapping = {name: i for i, name in enumerate(folders)}
    return [with_folder_labels(group, mapping) for group in groups]


def split_images(
    images: Sequence[ImageRef], test_images: Sequence[ImageRef] | None, test_fraction: float, seed: int
) -> tuple[list[ImageRef], list[ImageRef], list[str]]:
    """Train and test images (labels as given), and "id: why" of the unlabelled ones left out.

    Given ``test_images``, their ids get the prefix ``test/``. Without them, each class's images are ordered by a
    seeded hash of their ids and the first ``ceil(test_fraction * n)`` (at least one, and never all) go to the test
    split: the same split on every machine.
    """
    skipped = [f"{r.id}: no class label" for r in [*images, *(test_images or [])] if r.label is None]
    labelled = [r for r in images if r.label is not None]
    if test_images is not None:  # ids are relative to each folder: "test/" keeps them apart from the train ids
        train, test = labelled, [replace(r, id=f"test/{r.id}") for r in test_images if r.label is not None]
    else:
        train, test = [], []
        for label in sorted({int(r.label) for r in labelled if r.label is not None}):
            refs = sorted((r for r in labelled if r.label == label),
                          key=lambda r: hashlib.sha256(f"{seed}:{r.id}".encode()).hexdigest())  # fmt: skip
            count = min(len(refs) - 1, max(1, int(np.ceil(test_fraction * len(refs)))))
            test += refs[:count]
            train += refs[count:]
    classes = {r.label for r in train}
    if len(classes) < 2 or not test:
        raise ValueError(
            f"ROAR needs labelled images of at least two classes in the train split and some in the test split; got "
            f"{len(train)} train images of {len(classes)} class(es) and {len(test)} test images (class folders give "
            "labels; --labels maps folder names to classes)"
        )
    return sorted(train, key=lambda r: r.id), sorted(test, key=lambda r: r.id), skipped


class RunData:
    """One run's data in memory (uint8 pixels of every readable image) and the rankings, one method at a time."""

    def __init__(self, config: WorkerConfig, model: ModelWrapper, out: Path, *, task_size: int, seed: int,
                 tick: Callable[[str], None], saved: SavedMaps | None = None) -> None:  # fmt: skip
        """``config``: the worker's (model spec, requests, target, batch size; no metrics); ``seed``: of the random
        ranking; ``tick``: called before each step; ``saved``: maps of an ``evaluate --save-maps`` folder."""
        self.model, self.out, self.task_size, self.seed, self.tick = model, out, task_size, seed, tick
        self.worker = Worker(config, model=model)
        self.saved = saved or {}
        self.train_ids: list[str] = []
        self.test_ids: list[str] = []
        self.classes = 0
        self.refs: dict[str, ImageRef] = {}

    def read(self, train: Sequence[ImageRef], test: Sequence[ImageRef]) -> tuple[Split, Split, list[str]]:
        """Pixels of every image (unreadable ones left out, with their reason) and the remapped class indices."""
        pixels: dict[str, Tensor] = {}
        failed: list[str] = []
        refs = sorted([*train, *test], key=lambda r: r.id)
        for part in chunks(len(refs), self.task_size):
            self.tick("reading images")
            images, errors = self.worker.prepare(Task("", tuple(refs[part]), ("roar",)))
            failed += [f"{refs[part][i].id}: {why}" for i, why in errors.items()]
            for image in images:
                p = self.model.to_pixels(image.x[0].float()).mul(255.0).round().clamp(0, 255)
                pixels[image.id] = p.to(torch.uint8).cpu()  # exact: preprocess yields uint8 pixels / 255
        self.train_ids = [r.id for r in train if r.id in pixels]
        self.test_ids = [r.id for r in test if r.id in pixels]
        labels = {r.id: int(r.label) for r in [*train, *test] if r.label is not None}
        index = {label: i for i, label in enumerate(sorted({labels[i] for i in self.train_ids + self.test_ids}))}
        splits = [Split(torch.stack([pixels[i] for i in ids]), torch.tensor([index[labels[i]] for i in ids]))
                  for ids in (self.train_ids, self.test_ids)]  # fmt: skip
        self.classes = len(index)
        self.refs = {r.id: r for r in refs}
        return splits[0], splits[1], failed

    def scores(self, label: str) -> tuple[Tensor, Tensor]:
        """Train and test rankings ``[N, H, W]``: a method's maps, or the seeded random ranking."""
        h, w = self.model.input_size
        ids = self.train_ids + self.test_ids
        if label == RANDOM:
            maps = {i: torch.rand(h, w, generator=torch.Generator().manual_seed(derive_seed(self.seed, i, RANDOM)))
                    for i in ids}  # fmt: skip
        else:
            maps = self._maps(label, sorted(ids))
        return (torch.stack([maps[i] for i in self.train_ids]), torch.stack([maps[i] for i in self.test_ids]))

    def _maps(self, label: str, ids: list[str]) -> dict[str, Tensor]:
        request, h, w = self.worker.requests[label], *self.model.input_size
        saved = self.saved.get((label, request.key()), {})
        maps: dict[str, np.ndarray] = {}
        errors: list[str] = []
        for part in chunks(len(ids), self.task_size):
            self.tick(f"maps of {label}")
            task = Task(label, tuple(self.refs[i] for i in ids[part]), ("roar",))
            got = _cached(self.out, task) or {i: sink.load_map(*saved[i]) for i in ids[part] if i in saved}
            todo = [ref for ref in task.images if ref.id not in got]
            if todo:
                images, failed = self.worker.prepare(Task(label, tuple(todo), ("roar",)))
                errors += [f"{todo[i].id}: {why}" for i, why in failed.items()]
                explained = self.worker.explain(request, images)
                for image in images:
                    value = explained[image.index]
                    if isinstance(value, str):
                        errors.append(f"{image.id}: {value}")
                    else:
                        got[image.id] = value
            wrong = [i for i, m in got.items() if np.shape(m) != (h, w)]
            errors += [f"{i}: map of shape {np.shape(got[i])}, expected {(h, w)}" for i in wrong]
            if not errors:  # a resumed run finds them (``_cached``), in the task's order
                order = [ref.id for ref in task.images]
                sink.save_maps(self.out, task.key, order, [got[i] for i in order])
            maps.update(got)
        if errors:
            raise MapsFailed(f"{len(errors)} of {len(ids)} images have no {label} map (e.g. {errors[0]})")
        return {i: torch.from_numpy(np.asarray(m, dtype=np.float32)) for i, m in maps.items()}


class MapsFailed(RuntimeError):
    pass


def _cached(out: Path, task: Task) -> dict[str, np.ndarray] | None:
    """The task's maps saved in ``OUT/maps`` by an earlier (interrupted) run, if all are there."""
    path = out / sink.MAPS_DIR / f"{task.key}.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        ids = [str(i) for i in data["ids"]]
        if ids != [r.id for r in task.images]:
            return None
        return {i: np.array(data[f"map_{k}"]) for k, i in enumerate(ids)}


def saved_maps(folder: Path, spec: modelspec.ModelSpec, model: ModelWrapper, target: str) -> SavedMaps:
    """(method label, request key) -> image id -> where ``evaluate --save-maps`` put its map in ``folder``, after
    checking that the folder's model (weights checksum) and target rule are this run's."""
    folder = Path(folder)
    found_spec = read_spec(folder)
    if found_spec is None:
        raise FileNotFoundError(f"--maps-from {folder} is not a results folder (no spec.json)")
    mine = modelspec.describe(spec, model)
    for what, theirs, ours in (("model checksum", found_spec.model.get("checksum"), mine["checksum"]),
                               ("target", found_spec.target, target)):  # fmt: skip
        if theirs != ours:
            raise SpecMismatch(f"--maps-from {folder}: its {what} is {theirs!r}, this run's is {ours!r}")
    rows = sink.read_rows(folder)
    rows = rows[rows["maps_file"].astype(str) != ""]
    found: SavedMaps = {}
    for r in rows[["method", "request_key", "image", "maps_file", "maps_index"]].itertuples(index=False):
        found.setdefault((str(r[0]), str(r[1])), {})[str(r[2])] = (folder, str(r[3]), int(r[4]))
    return found

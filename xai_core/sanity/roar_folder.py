"""ROAR and KAR (Hooker et al. 2019, https://arxiv.org/abs/1806.10758) on the user's model and a folder of labelled
images, resumable, written as a results folder that ``python -m xai_core summarize`` reads.

One call, ``run_roar(RoarRun(...), progress=..., should_stop=...)``:

1. The labelled images (class folders or a list, ``xai_core.evaluation.inputs``) are split into train and test: a
   seeded split stratified by class (``test_fraction``, ``split_seed``), or the test images the caller gives.
2. The dataset engine's ``Worker`` reads and preprocesses them (the model's resize and crop) and explains them with
   each method's ``Request`` in memory-budgeted batches (``attribute``); maps are cached in ``OUT/maps`` so a resumed
   run does not explain again, or read from a results folder made by ``evaluate --save-maps`` (``maps_from``).
   The baseline ranking ``random`` is uniform noise seeded by ``seed`` and the image id.
3. For each ranking, mode (ROAR removes the top fraction, KAR keeps only it) and fraction (the paper's 10%..90%),
   the features are replaced by the per-channel mean of the training split's pixels, as the authors do, and a model
   is retrained per training seed on the modified train split and evaluated on the modified test split
   (``roar_retrain``). The model trained on unmodified data gives the curve's end (ROAR at 0, KAR at 1).
4. One row per (method, mode, training seed): ``metric`` ``roar`` or ``kar``, ``image`` ``seed=<s>``, ``value`` the
   mean accuracy over the fractions (the area under the curve over them; ROAR lower is better, KAR higher),
   ``curve``/``curve_x`` the accuracy per fraction. The spec (``spec.json``) records the model, the requests and
   the settings (with a digest of the split): a resume with other settings or other images is refused; new seeds,
   methods or modes are added. ``summarize`` shows mean and bootstrap interval over the seeds, ranks and the mean
   curves; ``roar_results`` gives the curves with their spread and a figure.

How this deviates from the paper, on purpose. The authors retrain a ResNet-50 from scratch, five times, for every
(method, fraction) on a modified ImageNet (and Food-101, Birdsnap) with the usual training augmentation, on TPUs.
On a laptop that is out of reach, so by default (``retrain="linear"``) only a head is retrained: a linear probe
(or ``"mlp"``, one hidden layer) on the pooled features of the user's frozen model, per training seed (its
initialisation and batch order; default three seeds, reported as mean and standard deviation). ``retrain="full"``
fine-tunes the whole model from its weights where that is affordable (a GPU). Also: maps are the methods' 2-D display
maps, so a feature is a pixel (or a ``block`` x ``block`` square) with all its channels, where the authors rank the
224x224x3 values one by one; the random ranking is drawn once per image (the authors redraw a Bernoulli mask every
time an image is read); there is no augmentation, the images are modified after the model's resize and crop.

What it can show: whether the pixels a method ranks highest carry the class information that the model's own
features make linearly decodable, against the random ranking, with the read-out retrained so that the mere shift to
mean-filled images is not counted as information loss at that layer. What it cannot show: what a network retrained
from scratch could still extract (the paper's quantity); the frozen backbone never adapts to mean-filled inputs, so
part of a drop can be its failure on such inputs rather than the information removed (compare with the random
ranking at the same fraction, which suffers the same shift), and fine-tuning starts from weights that were trained
on the unmodified images. The ROAD caveat (Rong et al. 2022, https://arxiv.org/abs/2202.00449) holds as on the
digits: the shape of the mean-filled region can leak the class to the retrained model, so a ranking can look worse
under ROAR (its curve above random: the removed region draws the object) or better under KAR (the kept region
does) through the mask's shape alone; the paper also found KAR a poor discriminator of methods. The spread covers
training seeds only, not the choice of split.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xai_core.batching import auto_chunk_size
from xai_core.evaluation import modelspec, sink
from xai_core.evaluation.inputs import ImageRef
from xai_core.evaluation.modelspec import ModelSpec
from xai_core.evaluation.spec import RunSpec, claim, next_free, package_version, settings_hash
from xai_core.evaluation.worker import WorkerConfig
from xai_core.models import ModelWrapper
from xai_core.params import BoolParam, ChoiceParam, FloatParam, IntParam, Param, ParameterError, validate
from xai_core.request import Request
from xai_core.sanity.roar import FRACTIONS, MODES, RANDOM, Cancelled, Retrainer, clean_accuracies, ranking_curves
from xai_core.sanity.roar_data import MapsFailed, RunData, saved_maps, split_images
from xai_core.sanity.roar_retrain import FineTuneRetrainer, HeadRetrainer, Training

log = logging.getLogger(__name__)
RETRAIN = ("linear", "mlp", "full")
SEEDS = (0, 1, 2)
SETTINGS: tuple[Param, ...] = (
    ChoiceParam("retrain", "linear", "what is retrained: a linear head, an MLP head, or the whole model", RETRAIN),
    IntParam("iterations", 200, "head: L-BFGS iterations (at most)", low=1, high=100_000),
    FloatParam("l2", 1e-3, "head: L2 penalty on its weights", low=0.0, high=100.0),
    IntParam("hidden", 256, "MLP head: hidden units", low=1, high=65_536),
    IntParam("epochs", 3, "whole model: AdamW epochs", low=1, high=10_000),
    FloatParam("lr", 1e-4, "whole model: AdamW learning rate", low=1e-8, high=1.0),
    FloatParam("weight_decay", 1e-4, "whole model: AdamW weight decay", low=0.0, high=1.0),
    IntParam("batch", 32, "whole model: training mini-batch", low=1, high=4096),
    IntParam("block", 1, "side of the square of pixels replaced as one feature", low=1, high=64),
    FloatParam("test_fraction", 0.25, "share of each class held out for testing", low=0.05, high=0.9),
    IntParam("split_seed", 0, "seed of the train/test split", low=0),
    IntParam("seed", 0, "seed of the random ranking", low=0),
    BoolParam("random_baseline", True, "add the random ranking as method 'random'"),
)
Progress = Callable[[float, str], None]  # (fraction done, what is being done)


def resolve_settings(given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``SETTINGS`` with defaults filled; a ``ParameterError`` names a setting, its range and the value."""
    return validate(SETTINGS, dict(given or {}), "roar")


@dataclass
class RoarRun:
    """Everything one ROAR/KAR run needs (``python -m xai_core roar --help`` explains each field)."""

    out: Path
    images: Sequence[ImageRef]  # labelled; split into train and test unless test_images is given
    requests: Mapping[str, Request]  # method label -> request
    model: ModelSpec = field(default_factory=ModelSpec)
    test_images: Sequence[ImageRef] | None = None
    modes: tuple[str, ...] = MODES
    fractions: tuple[float, ...] = FRACTIONS
    seeds: tuple[int, ...] = SEEDS  # training seeds
    settings: Mapping[str, Any] = field(default_factory=dict)  # SETTINGS
    target: str = "predicted"  # the class the maps explain, or "label"
    maps_from: Path | None = None  # a results folder of `evaluate --save-maps` with the same model and requests
    storage: str = "parquet"
    new_run: bool = False
    retry_errors: bool = False
    batch_size: int = 0  # images per attribute / feature call; 0: from the memory budget
    task_size: int = 32  # images per map file
    inputs: Mapping[str, Any] = field(default_factory=dict)  # described in the spec, for people


@dataclass(frozen=True)
class RoarReport:
    """What a run did: units are (method, mode, training seed) rows."""

    out: Path
    train: int
    test: int
    classes: int
    skipped: tuple[str, ...]  # "id: why" of the images left out (no label, unreadable)
    units: int
    done_before: int
    computed: int
    errors: int
    seconds: float
    cancelled: bool = False


def check(run: RoarRun) -> dict[str, Any]:
    """Refuse what cannot run before a model is loaded; the resolved settings otherwise."""
    settings = resolve_settings(run.settings)
    if not run.requests:
        raise ParameterError("no methods: name at least one (the random ranking is added as the baseline)")
    if RANDOM in run.requests:
        raise ParameterError(f"{RANDOM!r} is the baseline ranking, not a method label")
    if not run.modes or any(m not in MODES for m in run.modes) or len(set(run.modes)) != len(run.modes):
        raise ParameterError(f"modes must be distinct values of {list(MODES)}; got {list(run.modes)}")
    fracs = list(run.fractions)
    if not fracs or any(not 0.0 < f < 1.0 for f in fracs) or fracs != sorted(set(fracs)):
        raise ParameterError(f"fractions must be increasing values in (0, 1); got {fracs}")
    if not run.seeds or len(run.seeds) > 100 or any(int(s) != s or s < 0 for s in run.seeds):
        raise ParameterError(f"seeds must be 1 to 100 integers >= 0; got {list(run.seeds)}")
    if len(set(run.seeds)) != len(run.seeds):
        raise ParameterError(f"seeds must be distinct; got {list(run.seeds)}")
    if run.target not in ("predicted", "label"):
        raise ParameterError(f"target must be 'predicted' or 'label'; got {run.target!r}")
    if run.storage not in sink.STORAGES:
        raise ParameterError(f"format must be one of {list(sink.STORAGES)}; got {run.storage!r}")
    if not 0 <= run.batch_size <= 4096 or not 1 <= run.task_size <= 4096:
        raise ParameterError(f"batch size must be in [0, 4096] and task size in [1, 4096]; got {run.batch_size}, "
                             f"{run.task_size}")  # fmt: skip
    if Path(run.out).is_file():
        raise ValueError(f"--out {run.out} is a file; results are a folder: name a folder")
    return settings


def seed_id(seed: int) -> str:
    """The ``image`` column of a training seed's row."""
    return f"seed={seed}"


def make_retrainer(model: ModelWrapper, settings: Mapping[str, Any], chunk: int) -> Retrainer:
    """The retrainer of ``settings["retrain"]`` on ``model`` (see ``roar_retrain``)."""
    training = Training(**{f: settings[f] for f in Training.__dataclass_fields__})
    if settings["retrain"] == "full":
        return FineTuneRetrainer(model.module, model.to_model_space, training, chunk)
    return HeadRetrainer(model.module, model.to_model_space, training, settings["retrain"], chunk)


def build_spec(run: RoarRun, model: ModelWrapper, settings: Mapping[str, Any]) -> RunSpec:
    digest = settings_hash(settings)
    return RunSpec(
        model=modelspec.describe(run.model, model),
        target=run.target,
        requests={label: {"request": r.to_dict(), "key": r.key()} for label, r in run.requests.items()},
        metrics={mode: {"settings": dict(settings), "hash": digest} for mode in run.modes},
        version=package_version(),
        storage=run.storage,
        inputs=dict(run.inputs),
    )


def run_roar(
    run: RoarRun,
    *,
    model: ModelWrapper | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RoarReport:
    """Compute the folder's missing (method, mode, training seed) rows; see the module notes.

    Args:
        run: the configuration.
        model: the model, already loaded (the app's); built from ``run.model`` otherwise.
        progress: called with (fraction done, what is being done) after each step.
        should_stop: polled after each step; when it returns True the run stops, keeping every finished row
            (``RoarReport.cancelled``), and the same call later resumes.

    Raises:
        ValueError: a setting or input that cannot run, named (``ParameterError`` is one).
        SpecMismatch: the folder holds rows of other settings or other images.
    """
    start = time.perf_counter()
    settings = check(run)
    train_refs, test_refs, skipped = split_images(run.images, run.test_images, settings["test_fraction"],
                                                  settings["split_seed"])  # fmt: skip
    split = [[r.id, int(r.label or 0)] for r in train_refs], [[r.id, int(r.label or 0)] for r in test_refs]
    baseline = settings.pop("random_baseline")  # not part of the rows' settings: it adds or leaves out rows
    settings = {**settings, "fractions": list(run.fractions), "split": settings_hash({"split": split})}
    digest = settings_hash(settings)
    loaded = model if model is not None else run.model.build()
    out = next_free(run.out) if run.new_run else Path(run.out)
    claim(out, build_spec(run, loaded, settings))
    labels = [*run.requests, *([RANDOM] if baseline else [])]
    keys = {**{label: r.key() for label, r in run.requests.items()}, RANDOM: RANDOM}
    done = sink.done_items(out, retry_errors=run.retry_errors)
    missing = {(label, mode): [s for s in run.seeds if (seed_id(s), label, keys[label], mode, digest) not in done]
               for label in labels for mode in run.modes}  # fmt: skip
    missing = {unit: seeds for unit, seeds in missing.items() if seeds}
    units = len(labels) * len(run.modes) * len(run.seeds)
    todo = sum(len(s) for s in missing.values())
    counts = {"computed": 0, "errors": 0}

    def report(cancelled: bool = False, train: int = len(train_refs), test: int = len(test_refs),
               classes: int = len({r.label for r in train_refs})) -> RoarReport:  # fmt: skip
        return RoarReport(out, train, test, classes, tuple(skipped), units, units - todo, counts["computed"],
                          counts["errors"], time.perf_counter() - start, cancelled)  # fmt: skip

    if not missing:
        return report()
    n_chunks = -(-(len(train_refs) + len(test_refs)) // run.task_size)
    methods_todo = {label for label, _mode in missing if label != RANDOM}
    total = n_chunks * (1 + len(methods_todo)) + 1 + len(run.fractions) * len(missing)
    steps = 0

    def tick(what: str) -> None:  # before each step: stop, or say what starts
        nonlocal steps
        if should_stop is not None and should_stop():
            raise Cancelled(what)
        if progress is not None:
            progress(min(1.0, steps / total), what)
        steps += 1

    writer = sink.ResultSink(out, run.storage, flush_seconds=0.0)  # every unit is written when it is done
    identity = f"{socket.gethostname()}:{os.getpid()}"
    finished = cancelled = False
    config = WorkerConfig(model=run.model.to_dict(), requests={k: r.to_dict() for k, r in run.requests.items()},
                          metrics={}, target=run.target, batch_size=run.batch_size)  # fmt: skip
    saved = saved_maps(run.maps_from, run.model, loaded, run.target) if run.maps_from else None
    folder = RunData(config, loaded, out, task_size=run.task_size, seed=settings["seed"], tick=tick, saved=saved)
    try:
        train, test, unreadable = folder.read(train_refs, test_refs)
        skipped += unreadable
        chunk = run.batch_size or auto_chunk_size(loaded.module, loaded.to_model_space(train.x[:1].float() / 255))
        retrainer = make_retrainer(loaded, settings, chunk)
        fill = (train.x.float() / 255.0).mean(dim=(0, 2, 3))  # per-channel mean of the training split
        needed = sorted({s for seeds in missing.values() for s in seeds})
        clean = dict(zip(needed, clean_accuracies(train, test, fill, retrainer, needed, tick), strict=True))
        for label in labels:
            modes = [m for m in run.modes if (label, m) in missing]
            if not modes:
                continue
            try:
                scores = folder.scores(label)
            except MapsFailed as err:
                log.warning("%s", err)
                for mode in modes:
                    writer.add(_rows(label, keys[label], mode, digest, missing[(label, mode)], None, {}, run.fractions,
                                     0.0, identity, str(err)))  # fmt: skip
                    counts["errors"] += len(missing[(label, mode)])
                continue
            for mode in modes:
                began = time.perf_counter()
                seeds = missing[(label, mode)]
                curves = ranking_curves(train, test, fill, scores, retrainer, modes=(mode,), fractions=run.fractions,
                                        seeds=seeds, block=settings["block"], step=tick)[mode]  # fmt: skip
                writer.add(_rows(label, keys[label], mode, digest, seeds, curves, clean, run.fractions,
                                 time.perf_counter() - began, identity))  # fmt: skip
                counts["computed"] += len(seeds)
        finished = True
        if progress is not None:
            progress(1.0, "done")
    except Cancelled:
        cancelled = True
        log.info("stopped: every finished (method, mode) is saved; the same call resumes")
    finally:
        writer.close(compact=finished)
    return report(cancelled, len(folder.train_ids), len(folder.test_ids), folder.classes)


def _rows(label: str, key: str, mode: str, digest: str, seeds: Sequence[int], curves: Sequence[Sequence[float]] | None,
          clean: Mapping[int, float], fractions: Sequence[float], seconds: float, identity: str,
          error: str = "") -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for i, seed in enumerate(seeds):
        fields: dict[str, Any] = {"image": seed_id(seed), "method": label, "request_key": key, "metric": mode,
                                  "settings_hash": digest, "higher_is_better": mode == "kar", "worker": identity,
                                  "seconds": seconds / max(1, len(seeds))}  # fmt: skip
        if curves is None:
            rows.append(sink.row(**fields, status="error", error=error))
            continue
        accuracy = [float(a) for a in curves[i]]
        if mode == "roar":  # fraction removed: the unmodified model at 0
            x, y = [0.0, *fractions], [clean[seed], *accuracy]
        else:  # fraction kept: the unmodified model at 1
            x, y = [*fractions, 1.0], [*accuracy, clean[seed]]
        rows.append(sink.row(**fields, value=float(np.mean(accuracy)), curve=y, curve_x=[float(v) for v in x]))
    return rows

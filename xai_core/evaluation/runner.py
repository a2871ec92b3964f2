"""One evaluation run: check the settings, claim the results folder, plan what is missing, run an engine, write.

``Evaluation`` is the whole configuration as data; ``run`` does the rest and returns a ``RunReport``. The CLI, the
app's Benchmark page and the benchmarks all come through here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xai_core import metrics
from xai_core.evaluation import engine_local, modelspec, plan, sink
from xai_core.evaluation.inputs import ImageRef
from xai_core.evaluation.modelspec import ModelSpec
from xai_core.evaluation.spec import RunSpec, claim, next_free, package_version, settings_hash
from xai_core.evaluation.worker import WorkerConfig
from xai_core.models import ModelWrapper
from xai_core.params import ParameterError
from xai_core.request import Request

log = logging.getLogger(__name__)
ENGINES = ("local", "ray")
TARGETS = ("predicted", "label")
Progress = Callable[[int, int], None]  # (items done, items planned)


@dataclass
class Evaluation:
    """Everything one run needs (see the CLI's ``evaluate --help`` for each field's meaning)."""

    out: Path
    images: Sequence[ImageRef]
    requests: Mapping[str, Request]  # method label -> request
    metrics: Mapping[str, Mapping[str, Any]]  # name -> resolved settings (metrics.resolve_many)
    model: ModelSpec = field(default_factory=ModelSpec)
    target: str = "predicted"
    randomization: Mapping[str, Any] | None = None  # randomization.resolve(...)
    randomization_sample: int = 0  # images for randomization; 0: every image
    storage: str = "parquet"
    save_maps: bool = False
    new_run: bool = False
    retry_errors: bool = False
    engine: str = "local"
    ray: Any = None  # engine_ray.RayOptions
    shard: tuple[int, int] | None = None
    batch_size: int = 0
    task_size: int = 32
    flush_seconds: float = 10.0
    inputs: Mapping[str, Any] = field(default_factory=dict)  # described in the spec, for people


@dataclass(frozen=True)
class RunReport:
    """What a run did."""

    out: Path
    images: int
    items: int  # work items of this run's images (after sharding)
    done_before: int  # of them, already in the folder
    computed: int  # items computed now
    rows: int  # rows written now
    errors: int  # error rows written now
    seconds: float


def provides(images: Sequence[ImageRef]) -> tuple[str, ...]:
    """What this run can give a metric (``metrics.NEEDS``)."""
    extra = (("boxes",) if any(r.boxes for r in images) else ()) + (("masks",) if any(r.mask for r in images) else ())
    return ("model", "inputs", "maps", "explainer", *extra)


def check(evaluation: Evaluation) -> None:
    """Refuse what cannot run, before any model is loaded: a ``ParameterError`` or ``ValueError`` naming it."""
    if evaluation.engine not in ENGINES:
        raise ParameterError(f"engine must be one of {list(ENGINES)}; got {evaluation.engine!r}")
    if evaluation.target not in TARGETS:
        raise ParameterError(f"target must be one of {list(TARGETS)}; got {evaluation.target!r}")
    if evaluation.storage not in sink.STORAGES:
        raise ParameterError(f"format must be one of {list(sink.STORAGES)}; got {evaluation.storage!r}")
    if not evaluation.requests:
        raise ParameterError("no methods to evaluate: name at least one")
    if not evaluation.metrics and evaluation.randomization is None:
        raise ParameterError("no metrics to compute: name at least one, or ask for model randomization")
    if not evaluation.images:
        raise ValueError("no images to evaluate")
    if Path(evaluation.out).is_file():
        raise ValueError(
            f"--out {evaluation.out} is a file; results are a folder (spec.json, rows/, maps/): name a folder"
        )
    for name, bound in (("batch size", evaluation.batch_size), ("task size", evaluation.task_size)):
        if not 0 <= bound <= 4096 or (name == "task size" and bound < 1):
            raise ParameterError(f"{name} must be in [{0 if name == 'batch size' else 1}, 4096]; got {bound}")
    have = provides(evaluation.images)
    for name in evaluation.metrics:
        missing = [need for need in metrics.get(name).needs if need not in have]
        if missing:
            hint = {"boxes": "--annotations", "masks": "--masks"}
            how = ", ".join(f"{m} ({hint[m]})" if m in hint else m for m in missing)
            raise ValueError(f"metric {name} needs {how}, which this run does not have")
    if evaluation.target == "label" and not any(r.label is not None for r in evaluation.images):
        raise ValueError("--target label needs labels: class folders with --labels MAPPING, or a list with labels")


def build_spec(evaluation: Evaluation, model: ModelWrapper) -> RunSpec:
    randomization = None
    if evaluation.randomization is not None:
        settings = dict(evaluation.randomization)
        randomization = {"settings": settings, "hash": settings_hash(settings)}
    return RunSpec(
        model=modelspec.describe(evaluation.model, model),
        target=evaluation.target,
        requests={label: {"request": r.to_dict(), "key": r.key()} for label, r in evaluation.requests.items()},
        metrics={n: {"settings": dict(s), "hash": settings_hash(s)} for n, s in evaluation.metrics.items()},
        randomization=randomization,
        version=package_version(),
        storage=evaluation.storage,
        inputs={"root": _root(evaluation.images), **evaluation.inputs},
    )


def _root(images: Sequence[ImageRef]) -> str:
    """The folder the image ids are relative to (the app finds an image under it)."""
    first = Path(images[0].path)
    parts = len(Path(images[0].id).parts)
    return str(first.parents[parts - 1]) if parts and first.as_posix().endswith(images[0].id) else ""


def run(evaluation: Evaluation, *, progress: Progress | None = None, model: ModelWrapper | None = None) -> RunReport:
    """Compute the folder's missing rows with the chosen engine; see the package notes.

    Args:
        evaluation: the run's configuration.
        progress: called with (items done, items planned) after each task.
        model: the local engine's model, already loaded (the app's); built from ``evaluation.model`` otherwise.

    Raises:
        SpecMismatch: the folder holds rows of other settings (the message lists them).
        ParameterError, ValueError: a setting or an input that cannot run (the message names it).
    """
    check(evaluation)
    start = time.perf_counter()
    local = evaluation.engine == "local"
    loaded = (
        model
        if model is not None
        else ModelSpec(**{**evaluation.model.to_dict(), **({} if local else {"device": "cpu"})}).build()
    )
    out = next_free(evaluation.out) if evaluation.new_run else Path(evaluation.out)
    if out != Path(evaluation.out):
        log.info("--new-run: writing to %s", out)
    claim(out, build_spec(evaluation, loaded))
    images = list(evaluation.images)
    if evaluation.shard is not None:
        images = plan.shard(images, *evaluation.shard)
    methods = [plan.MethodRun(label, r.to_dict(), r.key()) for label, r in evaluation.requests.items()]
    metric_runs = [plan.MetricRun(n, dict(s), settings_hash(s)) for n, s in evaluation.metrics.items()]
    rand_run, rand_ids = None, None
    if evaluation.randomization is not None:
        settings = dict(evaluation.randomization)
        rand_run = plan.MetricRun(plan.RANDOMIZATION, settings, settings_hash(settings))
        rand_ids = [r.id for r in plan.sample(images, evaluation.randomization_sample, settings["seed"])]
    done = sink.done_items(out, retry_errors=evaluation.retry_errors)
    tasks = plan.plan(images, methods, metric_runs, done, task_size=evaluation.task_size,
                      randomization=rand_run, randomization_images=rand_ids)  # fmt: skip
    total_items = len(images) * len(methods) * len(metric_runs) + len(rand_ids or []) * len(methods)
    todo = sum(t.items for t in tasks)
    log.info("%s: %d images x %d methods; %d of %d items to compute in %d tasks", out, len(images), len(methods),
             todo, total_items, len(tasks))  # fmt: skip
    config = WorkerConfig(
        model=evaluation.model.to_dict(),
        requests={label: r.to_dict() for label, r in evaluation.requests.items()},
        metrics={n: dict(s) for n, s in evaluation.metrics.items()},
        target=evaluation.target,
        randomization=None if evaluation.randomization is None else dict(evaluation.randomization),
        batch_size=evaluation.batch_size,
        maps_folder=str(out.resolve()) if evaluation.save_maps else None,
    )
    writer = sink.ResultSink(out, evaluation.storage, flush_seconds=evaluation.flush_seconds)
    counts = {"items": 0, "rows": 0, "errors": 0}

    def on_result(task: plan.Task, rows: list[dict[str, Any]]) -> None:
        writer.add(rows)
        counts["items"] += task.items
        counts["rows"] += len(rows)
        counts["errors"] += sum(1 for r in rows if r["status"] == "error")
        if progress is not None:
            progress(counts["items"], todo)

    if progress is not None:
        progress(0, todo)
    finished = False
    try:
        if local:
            engine_local.run(tasks, config, on_result, model=loaded)
        else:
            from xai_core.evaluation import engine_ray

            engine_ray.run(tasks, config, on_result, evaluation.ray or engine_ray.RayOptions())
        finished = True
    finally:
        writer.close(compact=finished)  # an interrupted run keeps every whole task it finished
    return RunReport(out, len(images), total_items, total_items - todo, counts["items"], counts["rows"],
                     counts["errors"], time.perf_counter() - start)  # fmt: skip

"""The Ray engine: the same tasks on a Ray Data actor pool, on this machine or a cluster.

Each actor builds its own worker from the ``WorkerConfig`` (plain data: the model by name or factory and weights
path, never a pickled module), sets its torch threads to its CPUs and its device (CUDA when it holds a GPU), and
turns one task (JSON text: image paths, ids, labels, boxes) into rows (JSON text: scalars and curves). Only that
text crosses the object store; maps, with ``--save-maps``, are written by the actor into the results folder (which
must be on a filesystem every node sees, like the images) and only their path comes back. The driver writes every
row. Results arrive in any order; the rows do not depend on it (``worker`` derives seeds from item keys).

Ray is imported here only, when this engine is chosen: ``--engine local`` never loads it.
"""

from __future__ import annotations

import json
import logging
import os
import site
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from xai_core.evaluation.engine_local import OnResult
from xai_core.evaluation.plan import Task
from xai_core.evaluation.worker import Worker, WorkerConfig

log = logging.getLogger(__name__)
ACTOR_START_SECONDS = 600


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run.

    Attributes:
        address: ``None`` starts a Ray instance on this machine; ``"auto"`` joins the cluster this machine belongs
            to; ``"HOST:PORT"`` joins that cluster's head. Ignored when Ray is already initialised in this process.
        workers: actors in the pool (each holds one model).
        cpus_per_worker: CPUs each actor reserves; also its torch thread count (at least 1).
        gpus_per_worker: GPUs each actor reserves (fractions share a GPU); with one, the actor runs on CUDA.
    """

    address: str | None = None
    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0


class _Actor:
    """A Ray Data callable class: one worker per actor, one task per call."""

    def __init__(self, config: dict[str, Any], gpus: float) -> None:
        import ray

        cfg = WorkerConfig(**config)
        model = dict(cfg.model)
        if model.get("device", "auto") == "auto":
            model["device"] = "cuda" if gpus > 0 else "cpu"
        node = ray.get_runtime_context().get_node_id()
        self.worker = Worker(replace(cfg, model=model, identity=f"{node[:12]}:{os.getpid()}"))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        out = []
        for text in batch["task"]:
            rows = self.worker.run(Task.from_dict(json.loads(text)))
            out.append(json.dumps({"task": json.loads(text), "rows": rows}))
        return {"result": out}


def _code_path() -> list[str]:
    """Folders a worker process needs on its path to import ``xai_core`` when it is not installed (a checkout)."""
    import xai_core

    parent = str(Path(xai_core.__file__).resolve().parents[1])
    installed = {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    return [] if parent in installed else [parent]


def run(tasks: Sequence[Task], config: WorkerConfig, on_result: OnResult, options: RayOptions) -> None:
    """Run ``tasks`` on an actor pool of ``options.workers`` actors; ``on_result`` is called in this process."""
    if not tasks:
        return
    import ray
    import ray.data

    started = not ray.is_initialized()
    if started:
        ray.init(address=options.address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the CLI has its own bar
        context.print_on_execution_start = False
        # Start every actor before the first task: the pool shares the work from the start, and a cluster without
        # the resources for it fails with Ray's "Timed out while starting actors" instead of waiting forever.
        context.wait_for_min_actors_s = ACTOR_START_SECONDS
        paths = [*_code_path(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}} if paths else {}
        threads = max(1, int(options.cpus_per_worker))
        cfg = replace(config, threads=config.threads or threads)
        dataset = ray.data.from_items(
            [{"task": json.dumps(task.to_dict())} for task in tasks], override_num_blocks=len(tasks)
        )
        results = dataset.map_batches(
            _Actor,
            fn_constructor_kwargs={"config": cfg.to_dict(), "gpus": options.gpus_per_worker},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=options.workers),
            num_cpus=options.cpus_per_worker,
            num_gpus=options.gpus_per_worker,
            runtime_env=env or None,
        )
        for item in results.iter_rows():
            payload = json.loads(item["result"])
            on_result(Task.from_dict(payload["task"]), payload["rows"])
    finally:
        if started:
            ray.shutdown()
    log.debug("ray engine finished %d tasks (python %s)", len(tasks), sys.version.split()[0])

"""The local engine: one worker in this process, tasks in plan order. It never imports Ray."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from xai_core.evaluation.plan import Task
from xai_core.evaluation.worker import Worker, WorkerConfig
from xai_core.models import ModelWrapper

OnResult = Callable[[Task, list[dict[str, Any]]], None]


def run(tasks: Sequence[Task], config: WorkerConfig, on_result: OnResult, *, model: ModelWrapper | None = None) -> None:
    """Run every task on one in-process worker (``model``: an already loaded model to use instead of building one)."""
    if not tasks:
        return
    worker = Worker(config, model=model)
    for task in tasks:
        on_result(task, worker.run(task))

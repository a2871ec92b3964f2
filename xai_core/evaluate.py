"""Evaluate a data set from Python in one call; the machinery is the ``xai_core.evaluation`` package.

    from xai_core.evaluate import evaluate_folder, summary
    report = evaluate_folder("photos/", ["saliency", "grad_cam"], ["insertion", "deletion"], "results/", steps=20)
    summary("results/")        # the method x metric table with bootstrap intervals, n and ranks

The command line is ``python -m xai_core evaluate`` (``evaluate --help``) and ``python -m xai_core summarize``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from xai_core import metrics
from xai_core.evaluation import inputs, summarize
from xai_core.evaluation.modelspec import ModelSpec
from xai_core.evaluation.runner import Evaluation, RunReport, run
from xai_core.evaluation.sink import read_rows
from xai_core.request import Request

__all__ = ["evaluate_folder", "summary"]


def evaluate_folder(
    images: str | Path,
    methods: Sequence[str | Request],
    metric_names: Sequence[str],
    out: str | Path,
    *,
    model: str = "efficientnet_lite0",
    weights: str | None = None,
    engine: str = "local",
    **settings: Any,
) -> RunReport:
    """Every image under ``images`` x ``methods`` x ``metric_names`` into the results folder ``out`` (resumable).

    ``settings`` go to every metric that declares them (``steps=20``, ``substrate="black"``), validated by the
    metrics' schemas; a method may be an id (its defaults) or a ``Request``.
    """
    requests: dict[str, Request] = {}
    for method in methods:
        request = method if isinstance(method, Request) else Request.create(method)
        requests[request.method if request.noise is None else request.title] = request
    return run(
        Evaluation(
            out=Path(out),
            images=inputs.scan_folder(Path(images)),
            requests=requests,
            metrics=metrics.resolve_many(metric_names, settings),
            model=ModelSpec(model, weights),
            engine=engine,
            inputs={"root": str(Path(images).resolve())},
        )
    )


def summary(out: str | Path, stream: TextIO | None = None, **options: Mapping[str, Any]) -> None:
    """Print the method x metric table of a results folder (to ``stream``, else stdout)."""
    stream = stream or sys.stdout  # looked up per call: a default bound at import would outlive a redirected stdout
    table = summarize.summary_table(read_rows(Path(out)), **options)  # type: ignore[arg-type]
    stream.write(summarize.text(table) + "\n")

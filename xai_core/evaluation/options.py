"""From the command line's options to an ``Evaluation``, and its run with a progress bar and a final summary.

Every value is checked by the schema that owns it before anything is loaded: method parameters by the method's
(``--param``), metric settings by the metrics' (``--set``, ``--steps``: ``steps`` is at most 10000), randomization by
its own, the engine's sizes by their ranges. A value out of range is a ``ParameterError`` naming it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from xai_core import metrics, registry
from xai_core.evaluation import inputs, plan
from xai_core.evaluation.annotations import attach_boxes, attach_masks, read_annotations
from xai_core.evaluation.cli import names
from xai_core.evaluation.modelspec import ModelSpec
from xai_core.evaluation.runner import Evaluation, RunReport, run
from xai_core.metrics.registry import parse_setting
from xai_core.params import ParameterError
from xai_core.request import Request

log = logging.getLogger(__name__)


def _bounded(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ParameterError(f"{name} must be in [{low:g}, {high:g}]; got {value:g}")


def images_from_args(args: argparse.Namespace) -> tuple[list[inputs.ImageRef], dict[str, Any]]:
    """The run's images with labels, boxes and masks, and a description for the spec."""
    sources = (("--images", args.images), ("--list", args.image_list), ("--samples", args.samples))
    given = [name for name, value in sources if value is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of --images, --list, --samples; got {given or 'none'}")
    if args.samples is not None:
        from xai_core.images import sample_images

        _bounded("--samples", args.samples, 0, len(sample_images()))
        root = inputs.write_samples(Path(args.out) / "samples", list(sample_images())[: args.samples or None])
        refs = inputs.scan_folder(root)
    elif args.images:
        root = Path(args.images)
        refs = inputs.scan_folder(root)
    else:
        root = Path(args.image_list)
        refs = inputs.read_list(root)
    if args.labels:
        refs = inputs.with_folder_labels(refs, inputs.read_class_mapping(args.labels))
    elif args.images and (args.target or "predicted") == "label":
        refs = inputs.with_folder_labels(refs, None)
    if args.annotations:
        found = read_annotations(args.annotations, args.annotation_format)
        refs = attach_boxes(refs, found, names(args.box_labels) or None)
        log.info("%d of %d images have boxes", sum(1 for r in refs if r.boxes), len(refs))
    if args.masks:
        refs = attach_masks(refs, args.masks)
        log.info("%d of %d images have masks", sum(1 for r in refs if r.mask), len(refs))
    described = {"root": str(Path(root).resolve()), "annotations": str(args.annotations or ""),
                 "masks": str(args.masks or "")}  # fmt: skip
    return refs, described


def requests_from_args(args: argparse.Namespace) -> dict[str, Request]:
    """Method label -> validated request, from ``--methods``/``--param``/``--noise``/``--seed`` or ``--requests``."""
    out: dict[str, Request] = {}
    if args.requests:
        data = json.loads(Path(args.requests).read_text(encoding="utf-8"))
        for i, item in enumerate(data if isinstance(data, list) else [data]):
            if not isinstance(item, dict):
                raise ParameterError(f"{args.requests}: entry {i} must be an object")
            body = item.get("request", item)
            label = str(item.get("label") or body.get("method"))
            if label in out:
                raise ParameterError(f"{args.requests}: two requests are labelled {label!r}; give each a 'label'")
            out[label] = Request.from_dict(body)
    params: dict[str, dict[str, Any]] = {}
    for text in args.param:
        key, sep, value = text.partition("=")
        method, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise ParameterError(f"--param is METHOD.NAME=VALUE, e.g. integrated_gradients.steps=32; got {text!r}")
        known = {p.name: p for p in registry.get(method).params}
        if name not in known:
            raise ParameterError(f"{method}: unknown parameter {name!r}; it takes {sorted(known) or 'none'}")
        params.setdefault(method, {})[name] = parse_setting(known[name], value, method)
    for method in names(args.methods):
        given = dict(params.get(method, {}))
        if args.seed is not None and any(p.name == "seed" for p in registry.get(method).params):
            given.setdefault("seed", args.seed)
        noise = None
        if args.noise:
            noise = {"mode": args.noise, **({"seed": args.seed} if args.seed is not None else {})}
        out[method] = Request.create(method, given, noise=noise)
    stray = sorted(set(params) - set(names(args.methods)))
    if stray:
        raise ParameterError(f"--param names method(s) {stray} that are not in --methods")
    if not out:
        raise ParameterError("name the methods to evaluate: --methods saliency,grad_cam (or --requests FILE)")
    return out


def evaluation_from_args(args: argparse.Namespace) -> Evaluation:
    """Every option checked and resolved (see the module notes)."""
    from xai_core.evaluation import randomization

    metric_names = names(args.metrics)
    for name in metric_names:
        metrics.get(name)  # a KeyError listing the known metrics
    pairs = [*([f"steps={args.steps}"] if args.steps is not None else []), *args.settings]
    settings = metrics.settings_from_text(metric_names, pairs) if pairs else {}
    resolved = metrics.resolve_many(metric_names, settings)
    requests = requests_from_args(args)
    _bounded("--workers", args.workers, 1, 4096)
    _bounded("--cpus-per-worker", args.cpus_per_worker, 0.01, 1024)
    _bounded("--gpus-per-worker", args.gpus_per_worker, 0, 64)
    _bounded("--input-size", args.input_size, 8, 4096)
    _bounded("--flush-seconds", args.flush_seconds, 0, 86400)
    _bounded("--randomization-sample", args.randomization_sample, 0, 10_000_000)
    _bounded("--batch-size", args.batch_size, 0, 4096)
    _bounded("--task-size", args.task_size, 1, 4096)
    shard = plan.parse_shard(args.shard) if args.shard else None
    rand = None
    if args.randomization:
        rand = randomization.resolve(args.randomization, args.randomization_measures, args.seed or 0,
                                     args.randomization_layers)  # fmt: skip
    ray = None
    if args.engine == "ray":
        from xai_core.evaluation.engine_ray import RayOptions

        ray = RayOptions(args.address, args.workers, args.cpus_per_worker, args.gpus_per_worker)
    elif args.address or args.workers != 1:
        raise ParameterError("--address and --workers are options of --engine ray")
    images, described = images_from_args(args)
    return Evaluation(
        out=Path(args.out),
        images=images,
        requests=requests,
        metrics=resolved,
        model=ModelSpec(args.model, args.weights, args.num_classes, args.input_size, args.device),
        target=args.target or ("label" if args.labels else "predicted"),
        randomization=rand,
        randomization_sample=args.randomization_sample,
        storage=args.storage,
        save_maps=args.save_maps,
        new_run=args.new_run,
        retry_errors=args.retry_errors,
        engine=args.engine,
        ray=ray,
        shard=shard,
        batch_size=args.batch_size,
        task_size=args.task_size,
        flush_seconds=args.flush_seconds,
        inputs=described,
    )


def execute(evaluation: Evaluation, *, quiet: bool = False) -> int:
    """Run with a progress bar (items, ETA) on stderr, then print what was done and the summary table."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from xai_core.evaluation import sink, summarize

    bar = tqdm(total=0, unit="item", disable=quiet, file=sys.stderr, dynamic_ncols=True, desc="evaluate")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    with logging_redirect_tqdm():
        try:
            report = run(evaluation, progress=progress)
        finally:
            bar.close()
    print(describe(report), file=sys.stderr)
    table = summarize.summary_table(sink.read_rows(report.out), resamples=1000)
    print(summarize.text(table))
    return 0


def describe(report: RunReport) -> str:
    rate = report.computed / report.seconds if report.seconds > 0 else 0.0
    return (
        f"{report.out}: {report.images} images, {report.items} items; {report.done_before} were done, "
        f"{report.computed} computed now ({report.rows} rows, {report.errors} errors) in {report.seconds:.1f} s "
        f"({rate:.2f} items/s). Summarize: python -m xai_core summarize {report.out}"
    )

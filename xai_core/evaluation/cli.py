"""The ``evaluate`` and ``summarize`` subcommands: argument declarations (light: argparse only) and their runs.

``add_evaluate_arguments`` / ``add_summarize_arguments`` declare the options; ``run_evaluate`` / ``run_summarize``
import the engine when the command runs, so ``--help`` loads no torch. Every setting is validated by its schema
(method parameters, metric settings, randomization) before a model is loaded; a bad one is a one-line error that
names it, its range and the value (exit status 2).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", default=0, help="more log lines (-vv: debug)")
    group.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bar")


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``evaluate`` options (see ``python -m xai_core evaluate --help``)."""
    source = parser.add_argument_group("images (one of)")
    source.add_argument("--images", type=Path, help="folder of images, searched recursively (class folders welcome)")
    source.add_argument("--list", type=Path, dest="image_list", help="CSV (path[,label] with a header) or JSON list")
    source.add_argument(
        "--samples", type=int, nargs="?", const=0, metavar="N",
        help="the bundled sample photos (offline; the first N, or all), copied into OUT/samples",
    )  # fmt: skip
    labels = parser.add_argument_group("targets and annotations")
    labels.add_argument(
        "--target",
        choices=("predicted", "label"),
        help="explain the predicted class, or the label (default: label when --labels is given)",
    )
    labels.add_argument(
        "--labels",
        type=Path,
        metavar="MAPPING",
        help="class folder name -> index: text (one folder per line), CSV folder,index or JSON",
    )
    labels.add_argument(
        "--annotations", type=Path, help="boxes: a Pascal VOC XML folder, a COCO JSON file, or CSV/JSON"
    )
    labels.add_argument("--annotation-format", choices=("auto", "boxes", "voc", "coco"), default="auto")
    labels.add_argument("--box-labels", help="comma-separated classes whose boxes count (default: every box)")
    labels.add_argument("--masks", type=Path, help="folder of PNG masks mirroring the image tree (a/b.jpg -> a/b.png)")
    work = parser.add_argument_group("methods and metrics")
    work.add_argument("--methods", help="comma-separated method ids (python -m xai_core methods)")
    work.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="METHOD.NAME=VALUE",
        help="a method parameter, e.g. integrated_gradients.steps=32 (validated by its schema)",
    )
    work.add_argument(
        "--noise",
        choices=("smoothgrad", "smoothgrad_squared", "vargrad"),
        help="wrap every method in this noise tunnel (its defaults)",
    )
    work.add_argument(
        "--requests", type=Path, help="JSON list of requests ({'label', 'request'} or the app's download)"
    )
    work.add_argument("--seed", type=int, help="seed of every method that draws random numbers (default: its own)")
    work.add_argument(
        "--metrics", default="insertion,deletion", help="comma-separated metric ids (python -m xai_core metrics)"
    )
    work.add_argument("--steps", type=int, help="perturbation steps of the curves (the same as --set steps=N)")
    work.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        dest="settings",
        help="a metric setting, e.g. substrate=black",
    )
    work.add_argument("--randomization", choices=("cascading", "independent"), help="also run model randomization")
    work.add_argument("--randomization-sample", type=int, default=16, help="images for randomization (0: all)")
    work.add_argument("--randomization-layers", type=int, default=0, help="top-most N parameter layers (0: all)")
    work.add_argument("--randomization-measures", default="spearman_abs,ssim", help="similarity measures")
    out = parser.add_argument_group("results")
    out.add_argument("--out", type=Path, required=True, help="results folder (created; resumed when it exists)")
    out.add_argument("--format", choices=("parquet", "csv"), default="parquet", dest="storage")
    out.add_argument("--save-maps", action="store_true", help="keep every map (npz per task, in OUT/maps)")
    out.add_argument("--new-run", action="store_true", help="OUT holds other settings: write OUT-2 (OUT-3, ...)")
    out.add_argument("--retry-errors", action="store_true", help="compute again the items whose row is an error")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        default="efficientnet_lite0",
        help="a model name (python -m xai_core models) or a factory file.py:function / module:function",
    )
    model.add_argument("--weights", help="a state-dict checkpoint for --model (read with weights_only=True)")
    model.add_argument("--num-classes", type=int, help="outputs of the checkpoint (default: from its weights)")
    model.add_argument("--input-size", type=int, default=224, help="square input of a factory model")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (per worker)")
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=("local", "ray"), default="local")
    engine.add_argument("--address", help="ray: 'auto' (this machine's cluster) or HOST:PORT; default a local Ray")
    engine.add_argument("--workers", type=int, default=1, help="ray: actors, one model each")
    engine.add_argument("--cpus-per-worker", type=float, default=1.0, help="ray: CPUs (and torch threads) per actor")
    engine.add_argument("--gpus-per-worker", type=float, default=0.0, help="ray: GPUs per actor (runs it on CUDA)")
    engine.add_argument("--shard", help="K/N: only this disjoint slice of the images (0 <= K < N), no engine needed")
    engine.add_argument("--batch-size", type=int, default=0, help="images per attribute call (0: memory budget)")
    engine.add_argument("--task-size", type=int, default=32, help="images per task (unit of work and of writing)")
    engine.add_argument("--flush-seconds", type=float, default=10.0, help="write rows at least this often")
    _verbosity(parser)


def add_summarize_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``summarize`` options."""
    parser.add_argument("results", type=Path, help="a results folder (or one of its Parquet/CSV exports)")
    parser.add_argument("--export", type=Path, help="folder for summary.md/.csv/.html (default: RESULTS/summary)")
    parser.add_argument("--formats", default="md,csv,html", help="comma-separated: md, csv, html")
    parser.add_argument("--no-plots", action="store_true", help="leave the Plotly figures out of summary.html")
    parser.add_argument("--confidence", type=float, default=0.95, help="level of the bootstrap intervals")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    _verbosity(parser)


def configure_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose > 1 else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    for noisy in ("PIL", "matplotlib", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def names(text: str | None) -> list[str]:
    """The items of a comma-separated option, blanks dropped (``"a, b,"`` -> ``["a", "b"]``)."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _fail(command: str, message: Any) -> int:
    print(f"{command}: error: {message}", file=sys.stderr)
    return 2


def run_evaluate(args: argparse.Namespace, prog: str = "python -m xai_core evaluate") -> int:
    """Run ``evaluate``: exit status 0, or 2 with a one-line message for a bad setting or input."""
    configure_logging(args)
    from xai_core.evaluation import options
    from xai_core.evaluation.spec import SpecMismatch
    from xai_core.images import ImageError
    from xai_core.models import ModelError

    try:
        evaluation = options.evaluation_from_args(args)
        return options.execute(evaluation, quiet=args.quiet)
    except (ValueError, KeyError, FileNotFoundError, ModelError, ImageError, SpecMismatch) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        return _fail(prog, message)
    except KeyboardInterrupt:
        print("interrupted: every finished task is saved; run the same command again to resume", file=sys.stderr)
        return 130


def run_summarize(args: argparse.Namespace, prog: str = "python -m xai_core summarize") -> int:
    """Run ``summarize``: print the table, write the exports."""
    configure_logging(args)
    from xai_core.evaluation import summarize
    from xai_core.evaluation.sink import read_file, read_rows

    try:
        if args.results.is_file():
            frame, default_out = read_file(args.results), args.results.parent / "summary"
        elif args.results.is_dir():
            frame, default_out = read_rows(args.results), args.results / "summary"
        else:
            return _fail(prog, f"no results folder or file at {args.results}")
        if not 0 < args.confidence < 1 or not 100 <= args.resamples <= 1_000_000:
            return _fail(prog, "--confidence must be in (0, 1) and --resamples in [100, 1000000]")
        table = summarize.summary_table(frame, confidence=args.confidence, resamples=args.resamples, seed=args.seed)
        print(summarize.text(table))
        written = summarize.export(frame, args.export or default_out, formats=tuple(names(args.formats)),
                                   plots=not args.no_plots, confidence=args.confidence, resamples=args.resamples,
                                   seed=args.seed)  # fmt: skip
    except (ValueError, KeyError, OSError) as error:
        return _fail(prog, error)
    for path in written.values():
        print(f"wrote {path}", file=sys.stderr)
    return 0

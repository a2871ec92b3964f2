"""``python -m xai_core roar``: ROAR and KAR on your model and a folder of labelled images, into a results folder.

    python -m xai_core roar --images photos/ --methods saliency,integrated_gradients --out results/roar
    python -m xai_core summarize results/roar

Images, labels, methods and the model are given as for ``evaluate`` (the same options, read by the same code); class
folders without ``--labels`` are numbered in sorted order, since only the classes' identity matters to the retrained
head. Settings are validated before anything loads (``--set NAME=VALUE``, see ``roar_folder.SETTINGS``). Run the same
command again to resume; more ``--training-seeds`` add rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from xai_core.evaluation.cli import configure_logging, names


def add_roar_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``roar`` options (see ``python -m xai_core roar --help``)."""
    data = parser.add_argument_group("images and labels")
    data.add_argument("--images", type=Path, help="folder of images in class folders (split into train and test)")
    data.add_argument("--list", type=Path, dest="image_list", help="CSV (path,label with a header) or JSON list")
    data.add_argument("--test-images", type=Path, help="a separate test folder (class folders); else a seeded split")
    data.add_argument("--labels", type=Path, metavar="MAPPING", help="class folder name -> index (text, CSV or JSON)")
    data.add_argument("--target", choices=("predicted", "label"), default="predicted",
                      help="the class the maps explain (the authors: predicted)")  # fmt: skip
    work = parser.add_argument_group("rankings")
    work.add_argument("--methods", help="comma-separated method ids (python -m xai_core methods)")
    work.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=VALUE", help="a method parameter")
    work.add_argument("--noise", choices=("smoothgrad", "smoothgrad_squared", "vargrad"), help="wrap every method")
    work.add_argument("--requests", type=Path, help="JSON list of requests ({'label', 'request'})")
    work.add_argument("--seed", type=int, help="seed of every method that draws random numbers")
    work.add_argument("--maps-from", type=Path, help="reuse the maps of an 'evaluate --save-maps' results folder")
    roar = parser.add_argument_group("ROAR / KAR")
    roar.add_argument("--modes", default="roar,kar", help="roar, kar or both")
    roar.add_argument("--fractions", default="0.1,0.3,0.5,0.7,0.9", help="fractions removed (ROAR) or kept (KAR)")
    roar.add_argument("--training-seeds", default="0,1,2", help="comma-separated seeds; one retraining each")
    roar.add_argument("--retrain", choices=("linear", "mlp", "full"), help="a head on the frozen model, or all of it")
    roar.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="settings",
                      help="epochs, lr, weight_decay, batch, hidden, block, test_fraction, split_seed, seed, "
                      "random_baseline")  # fmt: skip
    out = parser.add_argument_group("results")
    out.add_argument("--out", type=Path, required=True, help="results folder (created; resumed when it exists)")
    out.add_argument("--format", choices=("parquet", "csv"), default="parquet", dest="storage")
    out.add_argument("--new-run", action="store_true", help="OUT holds other settings: write OUT-2 (OUT-3, ...)")
    out.add_argument("--retry-errors", action="store_true", help="compute again the units whose row is an error")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="efficientnet_lite0", help="a model name or a factory file.py:function")
    model.add_argument("--weights", help="a state-dict checkpoint for --model (read with weights_only=True)")
    model.add_argument("--num-classes", type=int, help="outputs of the checkpoint (default: from its weights)")
    model.add_argument("--input-size", type=int, default=224, help="square input of a factory model")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    model.add_argument("--batch-size", type=int, default=0, help="images per attribute/feature call (0: budget)")
    model.add_argument("--task-size", type=int, default=32, help="images per map file")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", default=0, help="more log lines (-vv: debug)")
    group.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bar")
    # what evaluate's input reader also looks at
    parser.set_defaults(samples=None, annotations=None, masks=None, box_labels=None, annotation_format="auto")


def _numbers(text: str, name: str, kind: type) -> tuple[Any, ...]:
    from xai_core.params import ParameterError

    try:
        return tuple(kind(v) for v in names(text))
    except ValueError:
        raise ParameterError(f"{name} must be comma-separated {kind.__name__}s; got {text!r}") from None


def run_from_args(args: argparse.Namespace) -> Any:
    """A checked ``RoarRun`` from the options (nothing is loaded yet)."""
    from xai_core.evaluation import options
    from xai_core.evaluation.modelspec import ModelSpec
    from xai_core.metrics.registry import parse_setting
    from xai_core.params import ParameterError
    from xai_core.sanity import roar_data, roar_folder

    known = {p.name: p for p in roar_folder.SETTINGS}
    settings: dict[str, Any] = {}
    for text in args.settings:
        name, sep, value = text.partition("=")
        if not sep or name.strip() not in known:
            raise ParameterError(f"--set is NAME=VALUE with NAME one of {sorted(known)}; got {text!r}")
        settings[name.strip()] = parse_setting(known[name.strip()], value, "roar")
    if args.retrain:
        settings["retrain"] = args.retrain
    requests = options.requests_from_args(args)
    images, described = options.images_from_args(args)
    tests = None
    if args.test_images:
        tests, _ = options.images_from_args(argparse.Namespace(**{**vars(args), "images": args.test_images}))
    if args.images and not args.labels and args.target == "predicted":  # class folders numbered in sorted order
        images, *rest = roar_data.class_folders(images, *([tests] if tests is not None else []))
        tests = rest[0] if rest else None
    run = roar_folder.RoarRun(
        out=args.out, images=images, requests=requests, test_images=tests,
        model=ModelSpec(args.model, args.weights, args.num_classes, args.input_size, args.device),
        modes=tuple(names(args.modes)), fractions=_numbers(args.fractions, "--fractions", float),
        seeds=_numbers(args.training_seeds, "--training-seeds", int), settings=settings, target=args.target,
        maps_from=args.maps_from, storage=args.storage, new_run=args.new_run, retry_errors=args.retry_errors,
        batch_size=args.batch_size, task_size=args.task_size,
        inputs={**described, "test_images": str(args.test_images or "")},
    )  # fmt: skip
    roar_folder.check(run)
    return run


def run_roar_command(args: argparse.Namespace, prog: str = "python -m xai_core roar") -> int:
    """Run ``roar``: exit status 0, 130 when interrupted (finished units are kept), or 2 with a one-line message."""
    configure_logging(args)
    from tqdm import tqdm

    from xai_core.evaluation.spec import SpecMismatch
    from xai_core.images import ImageError
    from xai_core.models import ModelError
    from xai_core.sanity import roar_folder, roar_results

    bar = tqdm(total=1.0, disable=args.quiet, file=sys.stderr, desc="roar", bar_format="{l_bar}{bar}| {elapsed}")

    def progress(fraction: float, what: str) -> None:
        bar.n = fraction
        bar.set_postfix_str(what)

    try:
        report = roar_folder.run_roar(run_from_args(args), progress=progress)
    except (ValueError, KeyError, FileNotFoundError, ModelError, ImageError, SpecMismatch) as error:
        bar.close()
        print(f"{prog}: error: {error.args[0] if isinstance(error, KeyError) and error.args else error}",
              file=sys.stderr)  # fmt: skip
        return 2
    except KeyboardInterrupt:
        bar.close()
        print("interrupted: every finished unit is saved; run the same command again to resume", file=sys.stderr)
        return 130
    bar.close()
    print(f"{report.out}: {report.train} train and {report.test} test images of {report.classes} classes "
          f"({len(report.skipped)} left out); {report.units} units, {report.done_before} were done, "
          f"{report.computed} computed now ({report.errors} errors) in {report.seconds:.1f} s. "
          f"Summarize: python -m xai_core summarize {report.out}", file=sys.stderr)  # fmt: skip
    for line in report.skipped[:10]:
        print(f"  left out {line}", file=sys.stderr)
    table = roar_results.curves_table(roar_results.read_curves(report.out))
    if len(table):
        wide = table.pivot_table(index=["mode", "method"], columns="fraction", values="accuracy", sort=False)
        print(wide.round(3).to_string())
    return 0

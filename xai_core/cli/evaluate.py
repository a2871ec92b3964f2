"""``saliency-studio evaluate``: every image x method x metric into a CSV (``xai_core.evaluate``)."""

from __future__ import annotations

import argparse

from xai_core import evaluate, metrics, registry
from xai_core.cli import CommandError


def _names(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def run(args: argparse.Namespace) -> int:
    methods, metric_names = _names(args.methods), _names(args.metrics)
    pairs = [*([f"steps={args.steps}"] if args.steps is not None else []), *args.settings]
    try:
        settings = metrics.settings_from_text(metric_names, pairs) if pairs else {}
        # --seed reaches every method that declares a seed (the others draw no random numbers)
        seeded = {m: {"seed": args.seed} for m in methods if any(p.name == "seed" for p in registry.get(m).params)}
        evaluate.evaluate(
            evaluate.list_images(args.images), methods, metric_names, args.out,
            model_name=args.model, annotations=args.annotations, settings=settings, method_params=seeded,
            device=None if args.device == "auto" else args.device,
        )  # fmt: skip
    except (ValueError, KeyError, FileNotFoundError) as error:
        # a plain KeyError quotes its message; the engine's own errors read as they are
        raise CommandError(str(error.args[0]) if type(error) is KeyError and error.args else str(error)) from error
    evaluate.summary(args.out)
    return 0

"""The ``saliency-studio`` command (also ``python -m xai_core``): subcommands declared here, implemented elsewhere.

This module is light on purpose: it imports argparse and nothing of the engine, so ``--help`` answers in a
fraction of a second. Each subcommand is a ``Command``: its arguments are declared here, and ``run`` names the
function (``"module:function"``) that is imported only when the subcommand runs. To add a subcommand, append a
``Command`` to ``COMMANDS`` and put its implementation in its own module under ``xai_core/cli/``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from xai_core import __version__
from xai_core.cli.tables import method_table, metric_table_in, update_readme

__all__ = [
    "COMMANDS",
    "Command",
    "CommandError",
    "build_parser",
    "main",
    "method_table",
    "metric_table_in",
    "update_readme",
]

PROG = "saliency-studio"
DEVICES = ("auto", "cpu", "cuda", "mps")  # the app's; evaluate also takes cuda:N (one per worker)


class CommandError(Exception):
    """A user error a subcommand reports as ``error: <message>`` with exit status 2 (no traceback)."""


class _Formatter(argparse.HelpFormatter):
    """Shows each option's default (not for required options or flags) and keeps the examples' line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or action.required or default in (None, [], argparse.SUPPRESS) or default is False:
            return text
        if isinstance(action, argparse._CountAction):  # -v: a count from 0, not a setting
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            text += " (default: %(default)s)"
        return text

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        # Paragraphs are filled to the width; the examples paragraph keeps one command per line.
        fill = super()._fill_text
        return "\n\n".join(p if p.startswith("examples:") else fill(p, width, indent) for p in text.split("\n\n"))


@dataclass(frozen=True)
class Command:
    """One subcommand: its help, its argument declarations and the lazily imported function that runs it."""

    name: str
    help: str
    description: str
    examples: tuple[str, ...]
    arguments: Callable[[argparse.ArgumentParser], None]
    run: str  # "module:function", imported when the command runs: f(args, prog) -> exit status


def _declared_in(module: str, function: str) -> Callable[[argparse.ArgumentParser], None]:
    """Arguments declared by ``module.function(parser)``, a module as light as this one (argparse only)."""

    def declare(parser: argparse.ArgumentParser) -> None:
        getattr(importlib.import_module(module), function)(parser)

    return declare


def _app_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve on; for other people, keep it behind a TLS reverse proxy"
    )
    parser.add_argument("--port", type=int, default=8501, help="TCP port to serve on")
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the models run; auto: $XAI_DEVICE if set, else CUDA, then MPS, then the CPU",
    )


def _table_arguments(what: str) -> Callable[[argparse.ArgumentParser], None]:
    def declare(parser: argparse.ArgumentParser) -> None:
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--markdown", action="store_true", help=f"print the README's {what} table (Markdown)")
        output.add_argument(
            "--update-readme", type=Path, metavar="README", help="rewrite the method and metric tables in README"
        )

    return declare


COMMANDS: tuple[Command, ...] = (
    Command(
        name="app",
        help="start the Streamlit app",
        description="Start the Streamlit app of a source checkout with the study server's routes (serve.py: admin "
        "sign-in, security headers). It needs the app extra (streamlit). Stop it with Ctrl-C. Serving it to other "
        "people: the README's Safe deployment.",
        examples=("saliency-studio app", "saliency-studio app --port 8080 --device cpu"),
        arguments=_app_arguments,
        run="xai_core.cli.app:run",
    ),
    Command(
        name="evaluate",
        help="score methods x metrics on a data set into a results folder (resumable, local or Ray)",
        description="Compute every image x method x metric into a results folder (Parquet rows, the settings in "
        "spec.json, optional maps). Running the same command again computes only what is missing; a folder made "
        "with other settings is refused with the differences. Every setting is checked by its schema before a "
        "model loads.",
        examples=(
            "saliency-studio evaluate --samples --methods saliency,grad_cam --out results/",
            "saliency-studio evaluate --images photos/ --methods integrated_gradients --param "
            "integrated_gradients.steps=32 --metrics insertion,deletion,pointing_game --annotations boxes.csv "
            "--steps 50 --out results/ --device cpu --seed 0",
            "saliency-studio evaluate --images /data/val --labels LOC_synset_mapping.txt --methods saliency "
            "--out /shared/results --engine ray --address auto --workers 8",
        ),
        arguments=_declared_in("xai_core.evaluation.cli", "add_evaluate_arguments"),
        run="xai_core.evaluation.cli:run_evaluate",
    ),
    Command(
        name="summarize",
        help="method x metric table, intervals, ranks and plots of a results folder",
        description="Print the method x metric table of a results folder (means with bootstrap intervals, n and "
        "ranks) and write it as Markdown, CSV and HTML with Plotly figures.",
        examples=("saliency-studio summarize results/", "saliency-studio summarize results/ --formats md --no-plots"),
        arguments=_declared_in("xai_core.evaluation.cli", "add_summarize_arguments"),
        run="xai_core.evaluation.cli:run_summarize",
    ),
    Command(
        name="roar",
        help="ROAR and KAR: retrain on your images with each method's top-ranked pixels removed or kept",
        description="ROAR and KAR (Hooker et al. 2019) on your model and a folder of labelled images: the maps rank "
        "the pixels, a fraction of them is removed (ROAR) or kept (KAR) by filling with the training mean, a head "
        "(or the whole model) is retrained per fraction, and its test accuracy is written to a results folder that "
        "summarize reads. Running the same command again resumes; more --training-seeds add rows.",
        examples=(
            "saliency-studio roar --images photos/ --methods saliency,integrated_gradients --out results/roar",
            "saliency-studio summarize results/roar",
        ),
        arguments=_declared_in("xai_core.cli.roar", "add_roar_arguments"),
        run="xai_core.cli.roar:run_roar_command",
    ),
    Command(
        name="methods",
        help="list the registered attribution methods",
        description="List every registered method with its family and summary, or print the README's method "
        "table generated from the registry.",
        examples=("saliency-studio methods", "saliency-studio methods --update-readme README.md"),
        arguments=_table_arguments("method"),
        run="xai_core.cli.listing:run_methods",
    ),
    Command(
        name="metrics",
        help="list the registered evaluation metrics",
        description="List every registered metric with its family, which direction is better and its summary, or "
        "print the README's metric table generated from the registry.",
        examples=("saliency-studio metrics", "saliency-studio metrics --markdown"),
        arguments=_table_arguments("metric"),
        run="xai_core.cli.listing:run_metrics",
    ),
    Command(
        name="models",
        help="list the model names --model accepts",
        description="List the architectures xai_core.load_model builds: the EfficientNet-Lite0, Lite1 and Lite2 (their "
        "ImageNet weights ship as pinned packages) and torchvision's (their ImageNet weights from torch hub's cache "
        "or --weights).",
        examples=("saliency-studio models",),
        arguments=lambda parser: None,
        run="xai_core.cli.listing:run_models",
    ),
)


def _examples(lines: Sequence[str]) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def build_parser(prog: str = PROG, width: int | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``width`` fixes the help's line width (the terminal's by default)."""

    def formatter(prog: str) -> argparse.HelpFormatter:
        return _Formatter(prog, width=width)

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Saliency Studio: gradient-based feature attribution for image classifiers.",
        epilog=_examples([c.examples[0].replace(PROG, prog, 1) for c in COMMANDS])
        + f"\n\nRun '{prog} COMMAND --help' for a command's options.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name,
            help=command.help,
            description=command.description,
            epilog=_examples([line.replace(PROG, prog, 1) for line in command.examples]),
            formatter_class=formatter,
        )
        command.arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """``{name: parser}`` of every subcommand of ``parser`` (for the docs' CLI reference and the tests)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Parse ``argv`` (``sys.argv[1:]`` if None), run the subcommand and return its exit status."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    module_name, function_name = args.run.split(":")
    run: Callable[[argparse.Namespace, str], int] = getattr(importlib.import_module(module_name), function_name)
    command = f"{parser.prog} {args.command}"
    try:
        return run(args, command)
    except CommandError as error:
        parser.exit(2, f"{command}: error: {error}\n")
    except BrokenPipeError:  # the reader went away (`saliency-studio methods | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The most any measure can gain over Quantus when both make the same passes: per-image cost of a forward (and of
a saliency explanation) as Quantus makes it against as we make it, on the same model and images.

    python -m bench.pass_ceiling [--images 8] [--repeats 7] [--out docs/benchmarks.md] [--alternatives]

A perturbation measure is a number of forwards (faithfulness) or explanations (robustness, randomization) plus
bookkeeping. Where the definition fixes how many (48 steps of pixel flipping are 48 forwards, 8 perturbed copies of
max-sensitivity are 8 explanations), the ratio of a whole measure cannot exceed the ratio of one pass made each
library's way unless one side does fewer passes. The two ways, each library's real code path:

- forward, Quantus: ``quantus.helpers.model.pytorch_model.PyTorchModel.predict`` on ``B`` images a call (its
  batch: one image a step at batch 1), NCHW, under ``no_grad``;
- forward, ours: ``xai_core.metrics.perturbation``'s scoring (``Run.logits``): chunks of
  ``inference_chunk_size`` images in the layout it picks (channels-last for conv nets on CPU), ``inference_mode``;
- explanation (forward+backward), both: our ``saliency``, which both benches give both libraries as the explainer;
  Quantus calls it on ``B`` images a call, ours on every copy stacked (chunks of ``auto_chunk_size``).

Timed interleaved (``bench.timing.interleaved``), medians; the table goes between the ``bench:ceiling`` markers.

``--alternatives`` (printed only) times ways to make our forward itself cheaper, on ResNet-18 at batch 8 with
channels-last inputs, against the eager module as our scoring runs it: BatchNorm folded into the convolutions
(``torch.fx.experimental.optimization.fuse``), TorchScript's ``optimize_for_inference``, ``torch.compile``
(inductor with freezing; its compile time is printed); and how far channels-last inputs move a saliency map (a
gradient pass) from the NCHW one on both models.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

import xai_core
from bench import report
from bench.timing import interleaved, median
from bench.workloads import sample_batch
from xai_core.metrics import perturbation


def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {
        "resnet18": torchvision.models.resnet18(weights=None).eval(),
        "efficientnet_lite0": xai_core.load_model("efficientnet_lite0", device="cpu").module,
    }


def candidates(
    module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
) -> dict[tuple[str, str, int], Callable[[], Any]]:
    """``(pass, whose way, images a call) -> call`` over all of ``x``."""
    from quantus.helpers.model.pytorch_model import PyTorchModel

    peer = PyTorchModel(module, channel_first=True, softmax=False, device="cpu")
    xn = x.numpy()
    run = perturbation.setup(module, x, np.ones((x.shape[0], *x.shape[2:])), y, "logit", None)
    n = x.shape[0]

    def quantus_forward(batch: int) -> Callable[[], Any]:
        return lambda: [peer.predict(xn[i : i + batch]) for i in range(0, n, batch)]

    def explain(batch: int) -> Callable[[], Any]:
        return lambda: [xai_core.attribute(module, x[i : i + batch], "saliency", target=y[i : i + batch])
                        for i in range(0, n, batch)]  # fmt: skip

    return {
        ("forward", "Quantus", 1): quantus_forward(1),
        ("forward", "Quantus", 2): quantus_forward(2),
        ("forward", "ours", min(run.chunk, n)): lambda: run.logits(x),
        ("explanation", "Quantus", 1): explain(1),
        ("explanation", "Quantus", 2): explain(2),
        ("explanation", "ours", n): explain(n),
    }


def measure(images: int, repeats: int) -> list[dict[str, Any]]:
    x = sample_batch(images)
    rows = []
    for name, module in models().items():
        with torch.inference_mode():
            y = module(x).argmax(1).clone()
        calls = candidates(module, x, y)
        times = interleaved({f"{p}, {who} ({batch})": call for (p, who, batch), call in calls.items()}, repeats,
                            torch.device("cpu"))  # fmt: skip
        for (pass_, who, batch), seconds in zip(calls, times.values(), strict=True):
            rows.append({"model": name, "pass": pass_, "who": who, "batch": batch,
                         "per_image": median(seconds) / images})  # fmt: skip
            print(f"{name:20s} {pass_:12s} {who:8s} ({batch}) {rows[-1]['per_image'] * 1000:7.1f} ms/image", flush=True)
    return rows


def alternatives(images: int, repeats: int) -> None:
    """Per-image forward of the ways to run ResNet-18 (see the module notes), and the map change of channels-last."""
    import copy

    import torch._inductor.config as inductor
    from torch.fx.experimental.optimization import fuse

    module = models()["resnet18"]
    x = sample_batch(images)
    layout = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        reference = module(x)
        folded = fuse(copy.deepcopy(module))
        scripted = torch.jit.optimize_for_inference(torch.jit.script(copy.deepcopy(module)))
        inductor.freezing = True
        start = time.perf_counter()
        compiled = torch.compile(copy.deepcopy(module))
        compiled(layout)
        print(f"torch.compile: {time.perf_counter() - start:.1f} s to compile", flush=True)
        ways = {
            "channels-last eager (ours)": lambda: module(layout),
            "BatchNorm folded": lambda: folded(layout),
            "TorchScript optimize_for_inference": lambda: scripted(layout),
            "torch.compile": lambda: compiled(layout),
        }
        times = interleaved(ways, repeats, torch.device("cpu"))
        for way, seconds in times.items():
            gap = (ways[way]() - reference).abs().max().item()
            print(f"{way:36s} {median(seconds) / images * 1000:6.1f} ms/image (max logit change {gap:.1e})")
    for name, net in models().items():
        explain = {"NCHW": lambda net=net: xai_core.attribute(net, x, "saliency").to_maps(),
                   "channels-last": lambda net=net: xai_core.attribute(net, layout, "saliency").to_maps()}  # fmt: skip
        seconds = {way: median(t) / images * 1000 for way, t in interleaved(explain, repeats, x.device).items()}
        plain, channels_last = explain["NCHW"](), explain["channels-last"]()
        change = np.abs(channels_last - plain).max() / np.abs(plain).max()
        print(
            f"{name}: saliency {seconds['NCHW']:.1f} ms/image NCHW, {seconds['channels-last']:.1f} channels-last "
            f"inputs, which move the map by {change:.2e} of its maximum"
        )


def markdown(rows: list[dict[str, Any]], images: int, repeats: int, load: str, seconds: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"### One pass each library's way ({when})",
        "",
        f"`python -m bench.pass_ceiling --images {images} --repeats {repeats}`; {report.machine()}; load before the "
        f"run: `{load}`; {seconds:.0f} s in all. Milliseconds per image, medians of interleaved rounds; the last "
        "column is the ceiling of Quantus' time over ours for a measure making that pass, Quantus at that batch.",
        "",
        "| model | pass, whose way (images a call) | ms / image | Quantus' way / ours |",
        "|---|---|---|---|",
    ]
    ours = {(r["model"], r["pass"]): r["per_image"] for r in rows if r["who"] == "ours"}
    for r in rows:
        ratio = "" if r["who"] == "ours" else f"{r['per_image'] / ours[r['model'], r['pass']]:.2f}x"
        case = f"{r['pass']}, {r['who']} ({r['batch']})"
        lines.append(f"| {r['model']} | {case} | {r['per_image'] * 1000:.1f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown file to update ('-' prints only)")
    parser.add_argument("--alternatives", action="store_true", help="time faster forwards instead (printed only)")
    args = parser.parse_args(argv)
    if args.alternatives:
        alternatives(args.images, args.repeats)
        return
    load = report.uptime()
    start = time.perf_counter()
    rows = measure(args.images, args.repeats)
    text = markdown(rows, args.images, args.repeats, load, time.perf_counter() - start)
    print(text)
    if args.out != "-":
        report.update(Path(args.out), text, "ceiling")


if __name__ == "__main__":
    main()

"""Images per second of dataset evaluation: the old one-image-per-call loop, the local engine's batches, and the Ray
engine with one and two workers; with the batching gain the forward+backward floor allows.

    python -m bench.dataset_eval [--images 240] [--rounds 2] [--write docs/benchmarks.md]

Workload: the bundled EfficientNet-Lite0 on copies of the bundled sample photos, ``saliency`` (one
forward+backward per image: the method where batching matters most) scored by ``average_drop`` (one batched
forward of the masked images). Each round runs every candidate once (rotated order, ``timing.interleaved``);
medians are reported with the load average, since the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

import xai_core
from bench.timing import fwd_bwd, interleaved, median
from xai_core import metrics
from xai_core.evaluation import inputs, run
from xai_core.evaluation.engine_ray import RayOptions
from xai_core.evaluation.runner import Evaluation

MARK = "bench:dataset"
METHOD, METRIC = "saliency", "average_drop"


def dataset(folder: Path, count: int) -> list[inputs.ImageRef]:
    samples = inputs.write_samples(folder / "samples")
    photos = sorted(samples.glob("*.png"))
    for i in range(count):
        shutil.copy(photos[i % len(photos)], folder / f"img{i:03d}.png")
    shutil.rmtree(samples)
    return inputs.scan_folder(folder)


def old_loop(model: xai_core.ModelWrapper, refs: list[inputs.ImageRef]) -> None:
    """What ``evaluate`` did before: per image, one ``attribute`` call and one ``evaluate_many`` call."""
    for ref in refs:
        x = model.preprocess(xai_core.load_image(ref.path).image)
        result = xai_core.attribute(model, x, METHOD)
        metrics.evaluate_many([METRIC], model=model, inputs=x, maps=result)


def engine(
    refs: list[inputs.ImageRef], work: Path, model: xai_core.ModelWrapper | None, **options: object
) -> Callable[[], None]:
    def go() -> None:
        out = Path(tempfile.mkdtemp(dir=work))
        evaluation = Evaluation(out=out, images=refs, requests={METHOD: xai_core.Request.create(METHOD)},
                                metrics=metrics.resolve_many([METRIC], {}), task_size=8, flush_seconds=60,
                                **options)  # type: ignore[arg-type]  # fmt: skip
        report = run(evaluation, model=model)
        assert report.computed == len(refs), report

    return go


def floor_gain(model: xai_core.ModelWrapper, batch: int, repeats: int) -> tuple[float, float]:
    """Seconds per image of a bare forward+backward at batch 1 and at ``batch``."""
    x = model.preprocess(xai_core.load_sample("chelsea").image).repeat(batch, 1, 1, 1)
    classes = torch.zeros(batch, dtype=torch.long)
    times = interleaved({"1": lambda: [fwd_bwd(model.module, x[i : i + 1], classes[:1]) for i in range(batch)],
                         "b": lambda: fwd_bwd(model.module, x, classes)}, repeats, torch.device("cpu"))  # fmt: skip
    return median(times["1"]) / batch, median(times["b"]) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--write", type=Path, help="replace the section between this file's bench:dataset markers")
    args = parser.parse_args()
    import ray

    model = xai_core.load_model(device="cpu")
    work = Path(tempfile.mkdtemp(prefix="bench-dataset-"))
    refs = dataset(work / "images", args.images)
    load_before = os.getloadavg()[0]
    one, batched = floor_gain(model, 8, args.rounds + 1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        candidates = {
            "old loop (1 image per call)": lambda: old_loop(model, refs),
            "local engine (batched)": engine(refs, work, model),
            "ray, 1 worker x 2 CPUs": engine(refs, work, None, engine="ray", ray=RayOptions(None, 1, 2.0)),
            "ray, 2 workers x 1 CPU": engine(refs, work, None, engine="ray", ray=RayOptions(None, 2, 1.0)),
        }
        times = interleaved(candidates, args.rounds, torch.device("cpu"), warmup=False)
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()[0]
    local = median(times["local engine (batched)"])
    lines = [
        f"### Dataset evaluation, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"{args.images} images (copies of the bundled samples), EfficientNet-Lite0 on the CPU (2 cores, shared), "
        f"`{METHOD}` scored by `{METRIC}`; {args.rounds} interleaved rounds, medians of a whole run (folder "
        f"claimed, model checksum, plan, compute, write, compact). Load average {load_before:.1f} before, "
        f"{load_after:.1f} after. Ray runs include starting their actors (each loads the model); Ray itself "
        "was started once before.",
        "",
        f"Floor: a bare forward+backward takes {one * 1e3:.0f} ms per image one at a time and {batched * 1e3:.0f} ms "
        f"per image in a batch of 8: batching can gain at most {one / batched:.2f}x on this machine.",
        "",
        "| candidate | images/s (median) | seconds per run (rounds) | vs local engine |",
        "|---|---|---|---|",
    ]
    for name, values in times.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        lines.append(f"| {name} | {args.images / median(values):.2f} | {rounds} | {median(values) / local:.2f}x |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        doc = args.write.read_text()
        begin, end = f"<!-- {MARK}:begin -->", f"<!-- {MARK}:end -->"
        if begin not in doc:
            doc = doc.rstrip("\n") + f"\n\n{begin}\n{end}\n"
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        args.write.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


if __name__ == "__main__":
    main()

"""Runtime of ROAR/KAR on EfficientNet-Lite0 with the head-only setting (``retrain="linear"``), on the CPU.

    python -m bench.roar [--views 4] [--methods saliency] [--write docs/benchmarks.md]

Data: the bundled sample photos, one class each, ``views`` seeded random crops (60-100% of the shorter side, random
position, random horizontal flip) per photo, written as class folders. The accuracies of such a set mean nothing
(each class is crops of one photo); the run measures where the time goes. Every step of the run is timed from the
progress callback (each call says what starts), so the table splits the wall time into reading, maps, the
unmodified model and the retrainings; each retraining step is one backbone pass over every modified image plus one
L-BFGS head fit per training seed, timed apart afterwards.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import xai_core
from bench.report import update
from xai_core.evaluation import inputs
from xai_core.evaluation.modelspec import ModelSpec
from xai_core.sanity import roar_folder, roar_results
from xai_core.sanity.roar_retrain import HeadRetrainer


def dataset(folder: Path, views: int, seed: int = 0) -> list[inputs.ImageRef]:
    """``views`` seeded random crops of each bundled sample in ``folder/<sample>/``."""
    rng = np.random.default_rng(seed)
    for name in xai_core.sample_images():
        photo = xai_core.load_sample(name).image.convert("RGB")
        (folder / name).mkdir(parents=True, exist_ok=True)
        w, h = photo.size
        for i in range(views):
            side = int(min(w, h) * rng.uniform(0.6, 1.0))
            x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            crop = photo.crop((x0, y0, x0 + side, y0 + side)).resize((256, 256), Image.Resampling.BICUBIC)
            if rng.random() < 0.5:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            crop.save(folder / name / f"{i:02d}.png")
    refs = inputs.scan_folder(folder)
    return inputs.with_folder_labels(refs, {n: i for i, n in enumerate(sorted(xai_core.sample_images()))})


def stage(what: str) -> str:
    if what.startswith(("ROAR at", "KAR at")):
        return "retraining steps (ROAR and KAR)"
    return what


def head_fits(model: xai_core.ModelWrapper, n: int, classes: int) -> float:
    """Seconds of three seeded linear-probe fits on ``n`` random standardised 1280-d features."""
    retrainer = roar_folder.make_retrainer(model, roar_folder.resolve_settings({}), 8)
    assert isinstance(retrainer, HeadRetrainer)
    features = torch.randn(n, 1280, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % classes
    start = time.perf_counter()
    for seed in (0, 1, 2):
        retrainer.fit(features, labels, classes, seed)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--methods", default="saliency")
    parser.add_argument("--write", type=Path, help="replace the section between this file's bench:roar markers")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-roar-"))
    model = xai_core.load_model(device="cpu")
    refs = dataset(work / "images", args.views)
    requests = {m: xai_core.Request.create(m) for m in args.methods.split(",")}
    run = roar_folder.RoarRun(out=work / "out", images=refs, requests=requests, model=ModelSpec(device="cpu"))
    events: list[tuple[float, str]] = []
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        report = roar_folder.run_roar(
            run, model=model, progress=lambda _f, what: events.append((time.perf_counter(), what))
        )
        total = time.perf_counter() - start
        spent: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for (t0, what), (t1, _next) in itertools.pairwise(events):
            spent[stage(what)] += t1 - t0
            counts[stage(what)] += 1
        curves = roar_results.curves_table(roar_results.read_curves(report.out))
        fits = head_fits(model, report.train, len(refs) // args.views)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()[0]
    step = spent["retraining steps (ROAR and KAR)"] / max(1, counts["retraining steps (ROAR and KAR)"])
    lines = [
        f"### ROAR/KAR on Lite0, head only, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"{report.train} train and {report.test} test images ({len(xai_core.sample_images())} bundled samples x "
        f"{args.views} random crops), EfficientNet-Lite0 on the CPU (2 cores, shared), methods "
        f"{', '.join(f'`{m}`' for m in requests)} and the random ranking; default settings: ROAR and KAR at "
        f"0.1, 0.3, 0.5, 0.7, 0.9, training seeds 0, 1, 2, a linear probe (L-BFGS). Load average "
        f"{load_before:.1f} before, {load_after:.1f} after. Wall time {total:.0f} s for {report.computed} rows.",
        "",
        "| stage | steps | seconds | seconds per step |",
        "|---|---|---|---|",
    ]
    for name, seconds in spent.items():
        lines.append(f"| {name} | {counts[name]} | {seconds:.1f} | {seconds / counts[name]:.2f} |")
    lines += [
        "",
        f"A retraining step ({step:.1f} s) is one backbone pass over the {report.train + report.test} modified images "
        f"and three head fits; the fits alone take {fits:.2f} s (L-BFGS on {report.train} x 1280 standardised "
        f"features), so the backbone pass is {(step - fits) / (report.train + report.test) * 1e3:.0f} ms per image. "
        "A run costs about: maps (per method) + (1 + rankings x modes x fractions) backbone passes over the data set.",
    ]
    text = "\n".join(lines)
    print(text)
    print(curves.round(3).to_string())
    if args.write:
        update(args.write, text + "\n", "roar")  # between the bench:roar markers


if __name__ == "__main__":
    main()

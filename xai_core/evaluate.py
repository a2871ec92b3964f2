"""Batch evaluation: every image x method x metric into a CSV, resumable.

``python -m xai_core evaluate --images DIR --methods saliency,grad_cam --metrics insertion,deletion,pointing_game
--annotations boxes.csv --out results.csv``. Rows already in ``--out`` are skipped, so an interrupted run goes on
where it stopped; each (image, method) pair's rows are appended and flushed as soon as they are computed.
Localisation boxes are read in the original image's pixels and mapped through the model's resize and crop.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from xai_core import metrics, registry
from xai_core.attribution import attribute
from xai_core.images import load_image
from xai_core.models import load_model

PROVIDES = ("model", "inputs", "maps", "boxes")  # what this evaluation can give a metric (see metrics.NEEDS)
COLUMNS = ("image", "method", "metric", "value", "higher_is_better", "target", "seconds")
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


@dataclass(frozen=True)
class Row:
    image: str
    method: str
    metric: str
    value: float
    higher_is_better: bool
    target: int
    seconds: float


def done_keys(out: Path) -> set[tuple[str, str, str]]:
    """(image, method, metric) triples already in the CSV."""
    if not out.exists():
        return set()
    with out.open(newline="") as handle:
        return {(r["image"], r["method"], r["metric"]) for r in csv.DictReader(handle)}


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"--images must be a folder of images; {folder} is not a folder")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS)
    if not found:
        raise FileNotFoundError(f"no images ({', '.join(sorted(EXTENSIONS))}) in {folder}")
    return found


def evaluate(
    images: Sequence[Path],
    methods: Sequence[str],
    metric_names: Sequence[str],
    out: Path,
    *,
    model_name: str = "efficientnet_lite0",
    annotations: Path | None = None,
    settings: Mapping[str, Any] | None = None,
    method_params: dict[str, dict[str, Any]] | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> list[Row]:
    """Compute and append the missing rows; return every row of this run.

    ``settings`` (e.g. ``{"steps": 50, "substrate": "black"}``) go to every metric that declares them, validated
    by the metrics' schemas before any model is loaded.
    """
    supported = metrics.available(needs=PROVIDES)
    unknown = [m for m in metric_names if m not in supported]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {supported}")
    resolved = metrics.resolve_many(metric_names, settings or {})  # a ParameterError naming a bad setting
    for method in methods:
        registry.get(method)  # a KeyError naming the known methods
    boxes = metrics.load_boxes(annotations) if annotations else {}
    if any("boxes" in metrics.get(m).needs for m in metric_names) and not boxes:
        raise ValueError("localization metrics need --annotations (CSV image,x0,y0,x1,y1 or JSON)")
    model = load_model(model_name)
    done = done_keys(out)
    new_file = not out.exists()
    rows: list[Row] = []
    with out.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new_file:
            writer.writerow(COLUMNS)
        total, count = len(images) * len(methods), 0
        for path in images:
            for method in methods:
                count += 1
                todo = [m for m in metric_names if (path.name, method, m) not in done]
                if not todo:
                    log(f"[{count}/{total}] {path.name} x {method}: already done")
                    continue
                start = time.perf_counter()
                new = _evaluate_one(model, path, method, todo, boxes, resolved, (method_params or {}).get(method, {}))
                for row in new:
                    writer.writerow([getattr(row, c) for c in COLUMNS])
                handle.flush()
                rows.extend(new)
                log(f"[{count}/{total}] {path.name} x {method}: {len(new)} rows in {time.perf_counter() - start:.1f} s")
    return rows


def _evaluate_one(
    model: Any,
    path: Path,
    method: str,
    todo: Sequence[str],
    boxes: dict[str, Any],
    settings: Mapping[str, Mapping[str, Any]],
    params: dict,
) -> list[Row]:
    loaded = load_image(path, name=path.name)
    x = model.preprocess(loaded.image)
    start = time.perf_counter()
    result = attribute(model, x, method, **params)
    target = int(result.target[0])
    image_boxes = None
    if any("boxes" in metrics.get(m).needs for m in todo):
        if path.name not in boxes:
            raise ValueError(f"no box for {path.name} in the annotations file")
        image_boxes = [[model.box_to_input(tuple(b)[:4], loaded.image.size) for b in boxes[path.name]]]
    records = metrics.evaluate_many(
        todo, model=model, inputs=x, maps=result, boxes=image_boxes, overrides={m: settings[m] for m in todo}
    )
    seconds = time.perf_counter() - start
    return [
        Row(path.name, method, m, float(records[m].value), bool(records[m].higher_is_better), target, seconds)
        for m in todo
        if m in records  # a metric that does not apply (Average Drop on a non-positive score) is left out
    ]


def summary(out: Path, stream: TextIO | None = None) -> None:
    """Mean of each metric per method over the images, with the better direction (to ``stream``, else stdout)."""
    stream = stream or sys.stdout  # looked up per call: a default bound at import would outlive a redirected stdout
    table: dict[tuple[str, str], list[float]] = defaultdict(list)
    better: dict[str, str] = {}
    with out.open(newline="") as handle:
        for r in csv.DictReader(handle):
            table[(r["method"], r["metric"])].append(float(r["value"]))
            better[r["metric"]] = "higher" if r["higher_is_better"] == "True" else "lower"
    metric_names = sorted(better)
    method_names = sorted({m for m, _ in table})
    stream.write("method".ljust(22) + "".join(f"{m[:22]:>24}" for m in metric_names) + "\n")
    stream.write("(better)".ljust(22) + "".join(f"{better[m]:>24}" for m in metric_names) + "\n")
    for method in method_names:
        cells = [
            f"{np.mean(table[(method, m)]):>24.4f}" if (method, m) in table else f"{'-':>24}" for m in metric_names
        ]
        stream.write(method.ljust(22) + "".join(cells) + "\n")

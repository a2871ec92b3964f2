"""Dataset-scale evaluation: plan, work, write; every image x method x metric of a folder, resumable.

::

    plan (items: image id, method, Request.key(), metric, settings hash) -> engine -> workers -> sink (Parquet, spec)

* ``plan``: which work items are missing from the results folder, grouped into tasks (pure, deterministic).
* ``worker``: one model per worker; ``attribute`` on memory-budgeted batches, ``metrics.evaluate_many`` on them.
* ``engine_local`` (the default, in-process, never imports Ray) and ``engine_ray`` (a Ray Data actor pool).
* ``sink``: atomic Parquet (or CSV) parts written by one writer, deduplicated on read; maps as npz per task.
* ``spec``: what produced a folder's rows; a resume with other settings is refused, listing the differences.
* ``inputs`` and ``annotations``: folders, lists, class labels, VOC, COCO, boxes files, PNG masks.
* ``summarize`` and ``plots``: the method x metric table with bootstrap intervals and ranks, and its figures.
* ``randomization``: model randomization (Adebayo et al.) over a sample of images, per-layer similarity.

From Python::

    from xai_core.evaluation import Evaluation, run, read_rows, summary_table
    report = run(Evaluation(out=Path("results"), images=scan_folder(Path("photos")),
                            requests={"saliency": Request.create("saliency")},
                            metrics=metrics.resolve_many(["insertion", "deletion"], {"steps": 20})))

This module imports its parts on first use, so the command line's help does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Evaluation": "runner", "RunReport": "runner", "run": "runner", "check": "runner",
    "ImageRef": "inputs", "scan_folder": "inputs", "read_list": "inputs", "write_samples": "inputs",
    "read_annotations": "annotations", "attach_boxes": "annotations", "attach_masks": "annotations",
    "ModelSpec": "modelspec", "RunSpec": "spec", "SpecMismatch": "spec", "read_spec": "spec",
    "read_rows": "sink", "read_file": "sink", "load_map": "sink",
    "summary_table": "summarize", "export": "summarize",
}  # fmt: skip

# Parts a caller (the app's Benchmark page) uses as modules: inputs, plots, views (figures and tables of rows),
# summarize.
_MODULES = ("inputs", "plots", "summarize", "views")

__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"xai_core.evaluation.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"xai_core.evaluation.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'xai_core.evaluation' has no attribute {name!r}")

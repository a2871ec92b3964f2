"""The results folder's rows: written by one writer in atomic parts, deduplicated on read.

Layout::

    RESULTS/spec.json                    what produced the rows (spec.py)
    RESULTS/rows/part-00000007-<id>.parquet   (or .csv) rows, one file per flush
    RESULTS/maps/<task key>.npz          the maps of one task, with --save-maps

A part is written to a hidden temporary file, fsynced and renamed into place, so a reader (or a resumed run) sees a
whole part or none of it: a run killed at any moment loses only the rows it had not flushed, which the resumed run
plans again. A flush holds whole tasks, so every item of a task is in the folder or none is. Reading concatenates
the parts in order and keeps the last row of each key (a retried error replaces the error). ``compact`` merges
the parts into one (written before the old ones are removed, so a crash in between only leaves duplicates that
reading drops).

Curves (``curve``, ``curve_x``) are stored per row, so that mean curves with bands can be drawn from the folder;
CSV keeps them as JSON lists.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from xai_core.evaluation.plan import ItemKey

log = logging.getLogger(__name__)

ROWS_DIR, MAPS_DIR = "rows", "maps"
STORAGES = ("parquet", "csv")
KEY = ("image", "method", "request_key", "metric", "settings_hash", "measure", "layer")
ITEM = KEY[:5]
SCHEMA = pa.schema([
    ("image", pa.string()), ("method", pa.string()), ("request_key", pa.string()), ("metric", pa.string()),
    ("settings_hash", pa.string()), ("measure", pa.string()), ("layer", pa.string()),
    ("value", pa.float64()), ("higher_is_better", pa.bool_()), ("status", pa.string()), ("error", pa.string()),
    ("target", pa.int64()), ("label", pa.int64()), ("layer_index", pa.int64()), ("seconds", pa.float64()),
    ("curve", pa.list_(pa.float64())), ("curve_x", pa.list_(pa.float64())),
    ("maps_file", pa.string()), ("maps_index", pa.int64()), ("worker", pa.string()),
])  # fmt: skip
COLUMNS = tuple(SCHEMA.names)
DEFAULTS: dict[str, Any] = {
    "measure": "", "layer": "", "value": float("nan"), "higher_is_better": True, "status": "ok", "error": "",
    "target": -1, "label": -1, "layer_index": -1, "seconds": 0.0, "curve": None, "curve_x": None,
    "maps_file": "", "maps_index": -1, "worker": "",
}  # fmt: skip
STATUSES = ("ok", "error", "not_applicable")
_PART = re.compile(r"^part-(\d{8})-[0-9a-z]+\.(parquet|csv)$")


def row(**fields: Any) -> dict[str, Any]:
    """A full row: ``fields`` over the defaults; unknown columns are an error."""
    unknown = sorted(set(fields) - set(COLUMNS))
    if unknown:
        raise KeyError(f"unknown result column(s) {unknown}")
    return {**DEFAULTS, **fields}


def _atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parts(folder: Path) -> list[tuple[int, Path]]:
    rows = Path(folder) / ROWS_DIR
    if not rows.is_dir():
        return []
    found = [(int(m[1]), p) for p in rows.iterdir() if (m := _PART.match(p.name))]
    return sorted(found, key=lambda item: (item[0], item[1].name))


def _write_part(path: Path, records: Sequence[Mapping[str, Any]] | pd.DataFrame) -> None:
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(list(records))
    if path.suffix == ".parquet":
        table = pa.Table.from_pandas(frame[list(COLUMNS)], schema=SCHEMA, preserve_index=False)
        _atomic(path, lambda tmp: pq.write_table(table, tmp))
    else:
        out = frame[list(COLUMNS)].copy()
        for column in ("curve", "curve_x"):
            out[column] = [None if v is None else json.dumps([float(x) for x in v]) for v in out[column]]
        _atomic(path, lambda tmp: out.to_csv(tmp, index=False))


def _read_part(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pq.read_table(path, schema=SCHEMA).to_pandas()
    text = ("image", "method", "request_key", "metric", "settings_hash", "measure", "layer", "status", "error",
            "maps_file", "worker")  # fmt: skip
    frame = pd.read_csv(
        path, keep_default_na=False, na_values={"value": ["", "nan", "NaN"]}, dtype=dict.fromkeys(text, str)
    )
    for column in ("curve", "curve_x"):
        frame[column] = [json.loads(v) if isinstance(v, str) and v else None for v in frame[column]]
    frame["higher_is_better"] = frame["higher_is_better"].astype(str).str.lower() == "true"
    return frame


def read_file(path: Path) -> pd.DataFrame:
    """Rows of one Parquet or CSV file (a part, or an export/upload of a folder), deduplicated by key."""
    frame = _read_part(Path(path))
    missing = sorted(set(KEY) - set(frame.columns))
    if missing:
        raise ValueError(f"{Path(path).name} is not a results file: columns {missing} are missing")
    for column, default in DEFAULTS.items():
        if column not in frame.columns:
            frame[column] = [default] * len(frame)
    return dedupe(frame)


def dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop_duplicates(subset=list(KEY), keep="last").reset_index(drop=True)


def read_rows(folder: Path, *, raw: bool = False) -> pd.DataFrame:
    """Every row of a results folder (the last of each key unless ``raw``), in part order."""
    frames = [_read_part(path) for _seq, path in _parts(folder)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    frame = pd.concat(frames, ignore_index=True)
    return frame if raw else dedupe(frame)


def done_items(folder: Path, *, retry_errors: bool = False) -> set[ItemKey]:
    """Keys of the items that have rows (without the errors when ``retry_errors``)."""
    frame = read_rows(folder)
    if retry_errors and len(frame):
        frame = frame[frame["status"] != "error"]
    return set(frame[list(ITEM)].itertuples(index=False, name=None))


class ResultSink:
    """The one writer of a results folder: buffers rows, flushes whole tasks as atomic parts.

    Args:
        folder: the results folder.
        storage: ``"parquet"`` or ``"csv"``.
        flush_seconds: flush when this long has passed since the last flush (0: after every task).
        flush_rows: flush when this many rows are buffered.
    """

    def __init__(self, folder: Path, storage: str = "parquet", *, flush_seconds: float = 10.0, flush_rows: int = 5000):
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {list(STORAGES)}; got {storage!r}")
        self.folder, self.storage = Path(folder), storage
        (self.folder / ROWS_DIR).mkdir(parents=True, exist_ok=True)
        for stale in (self.folder / ROWS_DIR).glob(".part-*.tmp"):  # left by a killed writer: never renamed in
            stale.unlink(missing_ok=True)
        parts = _parts(self.folder)
        self._seq = parts[-1][0] + 1 if parts else 0
        self.flush_seconds, self.flush_rows = flush_seconds, flush_rows
        self._buffer: list[dict[str, Any]] = []
        self._last = time.monotonic()
        self.written = 0

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Buffer one task's rows; flush when the time or size limit is reached."""
        self._buffer.extend(dict(r) for r in rows)
        if len(self._buffer) >= self.flush_rows or time.monotonic() - self._last >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not self._buffer:
            return
        path = self.folder / ROWS_DIR / f"part-{self._seq:08d}-{uuid.uuid4().hex[:12]}.{self.storage}"
        _write_part(path, self._buffer)
        log.debug("wrote %d rows to %s", len(self._buffer), path.name)
        self.written += len(self._buffer)
        self._seq += 1
        self._buffer = []

    def close(self, *, compact: bool = True) -> None:
        self.flush()
        if compact:
            compact_folder(self.folder, self.storage)


def compact_folder(folder: Path, storage: str = "parquet") -> None:
    """Merge the parts into one deduplicated part (sorted by key); the old parts are removed after it is in place."""
    parts = _parts(folder)
    if len(parts) <= 1:
        return
    frame = dedupe(pd.concat([_read_part(p) for _s, p in parts], ignore_index=True))
    frame = frame.sort_values(list(KEY), kind="stable").reset_index(drop=True)
    merged = Path(folder) / ROWS_DIR / f"part-{parts[-1][0]:08d}-{uuid.uuid4().hex[:12]}.{storage}"
    _write_part(merged, frame)
    for _seq, path in parts:
        path.unlink(missing_ok=True)


def save_maps(folder: str | Path, task_key: str, ids: Sequence[str], maps: Sequence[np.ndarray]) -> str:
    """Write one task's maps (float32 ``[H, W]`` each) as ``maps/<task key>.npz``; returns the path in the folder.

    A worker calls this (only the path then travels); the file is complete or absent, as a part is.
    """
    target = Path(folder) / MAPS_DIR / f"{task_key}.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"map_{i}": np.asarray(m, dtype=np.float32) for i, m in enumerate(maps)}
    arrays["ids"] = np.array(list(ids), dtype=str)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a file object: given a name, numpy would append ".npz" to it
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]

    _atomic(target, write)
    return f"{MAPS_DIR}/{task_key}.npz"


def load_map(folder: str | Path, maps_file: str, index: int) -> np.ndarray:
    """One saved map ``[H, W]`` (see ``save_maps``)."""
    path = (Path(folder) / maps_file).resolve()
    if Path(folder).resolve() not in path.parents:
        raise ValueError(f"maps file {maps_file!r} is outside the results folder")
    with np.load(path, allow_pickle=False) as data:
        return np.array(data[f"map_{index}"])

"""The spec a results folder carries: what produced its rows, so that a resume can tell "same work" from "other work".

``spec.json`` holds the model (name, weights file, a checksum of the loaded weights), the target rule, each method's
resolved ``Request`` (with its ``key()``), each metric's resolved settings (with their hash), the randomization
settings and the package version. Resuming compares the new spec with the folder's: a method or metric both name
must have the same settings, the model the same checksum, the version and target rule the same; a difference is a
``SpecMismatch`` that lists every difference. Methods or metrics the folder does not have yet are added (the spec
grows), since rows are keyed by them and nothing already written changes meaning.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SPEC_FILE = "spec.json"
FORMAT = 1  # of the folder's layout (spec, rows, maps); bumped if that layout changes


class SpecMismatch(ValueError):
    """Resuming a results folder with settings other than those it was made with; the message lists the differences."""


def settings_hash(settings: Mapping[str, Any]) -> str:
    """16 hex characters of SHA-256 over the settings as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(dict(settings), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def derive_seed(base: int, *parts: str) -> int:
    """A seed in ``[0, 2**31 - 1]`` from a base seed and an item's key parts (image id, ...).

    Every random draw of a work item comes from its own key, never from the order in which items are scheduled,
    batched or resumed: an item gives the same numbers on any engine, worker or shard.
    """
    text = ":".join([str(int(base)), *parts])
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def package_version() -> str:
    """The installed saliency-studio version (``xai_core.__version__``, the installed metadata, or pyproject.toml)."""
    import xai_core

    version = getattr(xai_core, "__version__", None)
    if version:
        return str(version)
    from importlib import metadata

    try:
        return metadata.version("saliency-studio")
    except metadata.PackageNotFoundError:
        pass
    import tomllib

    pyproject = Path(xai_core.__file__).resolve().parents[1] / "pyproject.toml"
    return str(tomllib.loads(pyproject.read_text())["project"]["version"])


@dataclass
class RunSpec:
    """Everything that determines a folder's rows (see the module notes)."""

    model: dict[str, Any]
    target: str
    requests: dict[str, dict[str, Any]]  # label -> {"request": Request.to_dict(), "key": Request.key()}
    metrics: dict[str, dict[str, Any]]  # name -> {"settings": resolved, "hash": settings_hash}
    randomization: dict[str, Any] | None = None  # {"settings": ..., "hash": ...} or None
    version: str = ""
    format: int = FORMAT
    storage: str = "parquet"
    inputs: dict[str, Any] = field(default_factory=dict)  # informative only (root, annotations): never compared

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def differences(self, other: RunSpec) -> list[str]:
        """What ``other`` (a new run) changes about this (the folder's) spec, one line each; empty if compatible."""
        out: list[str] = []
        for name in ("format", "version", "storage", "target"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name}: {mine!r} in the folder, {theirs!r} now")
        for name in ("name", "checksum"):
            mine, theirs = self.model.get(name), other.model.get(name)
            if mine != theirs:
                out.append(f"model {name}: {mine!r} in the folder, {theirs!r} now")
        for label in sorted(set(self.requests) & set(other.requests)):
            out += _changes(f"method {label}", self.requests[label]["request"], other.requests[label]["request"])
        for name in sorted(set(self.metrics) & set(other.metrics)):
            out += _changes(f"metric {name}", self.metrics[name]["settings"], other.metrics[name]["settings"])
        if self.randomization and other.randomization:
            out += _changes("randomization", self.randomization["settings"], other.randomization["settings"])
        return out

    def merged(self, other: RunSpec) -> RunSpec:
        """This spec with the methods, metrics and randomization that ``other`` adds (call after ``differences``)."""
        return RunSpec(
            model=self.model,
            target=self.target,
            requests={**other.requests, **self.requests},
            metrics={**other.metrics, **self.metrics},
            randomization=self.randomization or other.randomization,
            version=self.version,
            format=self.format,
            storage=self.storage,
            inputs={**self.inputs, **other.inputs},
        )


def _changes(what: str, old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(f"{what}: {where} {'added' if key not in old else 'removed'}")
            else:
                out += _changes(what, old[key], new[key], where)
        return out
    if old != new:
        return [f"{what}: {path or 'value'} {old!r} in the folder, {new!r} now"]
    return []


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync it, and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_spec(folder: Path) -> RunSpec | None:
    """The folder's spec, or None when it has none yet."""
    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        return None
    try:
        return RunSpec.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as err:
        raise SpecMismatch(f"{path} is not a readable results spec ({err})") from None


def write_spec(folder: Path, spec: RunSpec) -> None:
    atomic_write_text(Path(folder) / SPEC_FILE, json.dumps(spec.to_dict(), indent=2, sort_keys=True, default=str))


def claim(folder: Path, spec: RunSpec) -> RunSpec:
    """Open ``folder`` for ``spec``: write the spec if the folder has none, else check and extend the folder's.

    Raises:
        SpecMismatch: the folder was made with other settings; the message lists each difference and the ways out.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    existing = read_spec(folder)
    if existing is None:
        write_spec(folder, spec)
        return spec
    diffs = existing.differences(spec)
    if diffs:
        listing = "\n  ".join(diffs)
        raise SpecMismatch(
            f"the results folder {folder} was made with other settings:\n  {listing}\n"
            "Resume with the folder's settings, choose another --out, or pass --new-run to write a new run beside it."
        )
    merged = existing.merged(spec)
    if merged != existing:
        write_spec(folder, merged)
    return merged


def next_free(folder: Path) -> Path:
    """``folder`` if it has no spec yet, else the first of ``folder-2``, ``folder-3``, ... that has none."""
    folder = Path(folder)
    if read_spec(folder) is None:
        return folder
    n = 2
    while read_spec(folder.with_name(f"{folder.name}-{n}")) is not None:
        n += 1
    return folder.with_name(f"{folder.name}-{n}")

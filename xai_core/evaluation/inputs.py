"""Which images a run covers: a folder searched recursively, or a CSV/JSON list of files; labels for targets.

An image's id is its path relative to the root, with ``/`` separators (``n01440764/ILSVRC2012_val_00000293.JPEG``):
stable across machines and the key of its rows. Labels come from

* class folders (ImageNet style: ``root/<class folder>/<image>``) through a mapping file: a text file with one
  folder name per line (line ``i`` is class ``i``, anything after the first space is ignored, as in ImageNet's
  ``LOC_synset_mapping.txt``), a CSV ``folder,index``, or JSON (``{"folder": index}`` or Keras'
  ``{"index": ["folder", "name"]}``); folders named by an integer need no mapping;
* a list file's ``label`` column (CSV with a header ``path[,label]``, or JSON: a list of paths or of objects
  ``{"path": ..., "label": ...}``); list paths are relative to the list file's folder unless absolute.

Nothing is decoded here: workers read the files, and a file they cannot read becomes a row with its error.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


@dataclass(frozen=True)
class ImageRef:
    """One image of a run: plain data that travels to workers.

    Attributes:
        id: the path relative to the root (``/`` separators): the key of its rows.
        path: where a worker reads it (absolute).
        label: the class to explain when targets are labels (None: unknown).
        boxes: annotated boxes ``(x0, y0, x1, y1)`` in the original image's pixels, or None.
        mask: path of a PNG mask (non-zero = object) of the original image's size, or None.
    """

    id: str
    path: str
    label: int | None = None
    boxes: tuple[tuple[float, float, float, float], ...] | None = None
    mask: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "label": self.label,
                "boxes": None if self.boxes is None else [list(b) for b in self.boxes], "mask": self.mask}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageRef:
        boxes = data.get("boxes")
        return cls(
            data["id"], data["path"], data.get("label"),
            None if boxes is None else tuple(_box(b) for b in boxes), data.get("mask"),
        )  # fmt: skip


def _box(values: Sequence[Any]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in values)
    return (x0, y0, x1, y1)


def scan_folder(root: Path) -> list[ImageRef]:
    """Every image under ``root`` (recursively, hidden files and folders skipped), sorted by id."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--images must be a folder of images; {root} is not a folder")
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or path.suffix.lower() not in EXTENSIONS:
            continue
        if path.is_file():
            found.append(ImageRef(relative.as_posix(), str(path.resolve())))
    if not found:
        raise FileNotFoundError(f"no images ({', '.join(sorted(EXTENSIONS))}) in {root} or its subfolders")
    return sorted(found, key=lambda ref: ref.id)


def read_list(path: Path) -> list[ImageRef]:
    """Images named in a CSV (``path[,label]`` with a header) or JSON list; relative paths from the list's folder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image list not found: {path}")
    base = path.parent.resolve()
    entries: list[tuple[str, Any]] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise ValueError(f"{path}: a CSV image list needs a header with a 'path' column (and 'label')")
            entries = [(row["path"], row.get("label")) for row in reader if (row.get("path") or "").strip()]
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: invalid JSON at line {err.lineno} ({err.msg})") from None
        if not isinstance(data, list):
            raise ValueError(f"{path}: a JSON image list is a list of paths or of {{'path', 'label'}} objects")
        for i, item in enumerate(data):
            if isinstance(item, str):
                entries.append((item, None))
            elif isinstance(item, Mapping) and isinstance(item.get("path"), str):
                entries.append((item["path"], item.get("label")))
            else:
                raise ValueError(f"{path}: entry {i} is neither a path nor an object with a 'path'")
    else:
        raise ValueError(f"an image list must be .csv or .json; got {path.name!r}")
    refs: dict[str, ImageRef] = {}
    for number, (name, label) in enumerate(entries, start=1):
        file = Path(name.strip())
        full = file if file.is_absolute() else base / file
        image_id = file.as_posix() if not file.is_absolute() else _relative_id(full, base)
        refs[image_id] = ImageRef(image_id, str(full), _label(label, f"{path.name} entry {number}"))
    if not refs:
        raise FileNotFoundError(f"{path} lists no images")
    return sorted(refs.values(), key=lambda ref: ref.id)


def _relative_id(full: Path, base: Path) -> str:
    try:
        return full.relative_to(base).as_posix()
    except ValueError:
        return full.as_posix()


def _label(value: Any, where: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{where}: label must be a class index (an integer); got {value!r}") from None
    if number < 0:
        raise ValueError(f"{where}: label must be a class index >= 0; got {number}")
    return number


def read_class_mapping(path: Path) -> dict[str, int]:
    """Folder name -> class index from a text, CSV or JSON mapping file (see the module notes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class mapping file not found: {path}")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: a JSON class mapping is an object")
        if all(isinstance(v, list) and v for v in data.values()):  # Keras: {"0": ["n01440764", "tench"]}
            return {str(v[0]): _mapped(k, path) for k, v in data.items()}
        return {str(k): _mapped(v, path) for k, v in data.items()}
    if suffix == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if r and r[0].strip()]
        if rows and not rows[0][-1].strip().lstrip("-").isdigit():
            rows = rows[1:]  # header
        return {r[0].strip(): _mapped(r[1], path) for r in rows}
    lines = [line.split()[0] for line in text.splitlines() if line.strip()]
    return {name: index for index, name in enumerate(lines)}


def _mapped(value: Any, path: Path) -> int:
    label = _label(value, str(path))
    if label is None:
        raise ValueError(f"{path}: a class index is missing")
    return label


def with_folder_labels(refs: Sequence[ImageRef], mapping: Mapping[str, int] | None) -> list[ImageRef]:
    """Each image's label from its first folder (``class/img.jpg``) through ``mapping`` (an integer folder name
    is its own index). Images whose folder has no class keep ``label=None`` (their rows will say so)."""
    out = []
    for ref in refs:
        parts = ref.id.split("/")
        folder = parts[0] if len(parts) > 1 else None
        label = ref.label
        if folder is not None:
            if mapping is not None and folder in mapping:
                label = mapping[folder]
            elif mapping is None and folder.isdigit():
                label = int(folder)
        out.append(replace(ref, label=label))
    return out


def write_samples(folder: Path, names: Sequence[str] | None = None) -> Path:
    """The bundled sample photos (``xai_core.sample_images()``) as PNG files in ``folder``: an offline data set.

    Files already there are kept (the same pixels give the same file), so a resumed run sees the same images.
    """
    from xai_core.images import load_sample, sample_images

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or list(sample_images()):
        path = folder / f"{name}.png"
        if not path.exists():
            tmp = folder / f".{name}.png.tmp"
            load_sample(name).image.save(tmp, format="PNG")
            tmp.replace(path)
    return folder

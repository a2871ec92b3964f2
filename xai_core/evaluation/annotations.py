"""Annotations people have, attached to a run's images: Pascal VOC XML, COCO JSON, the boxes file, PNG masks.

Boxes end up as ``(x0, y0, x1, y1)`` in the original image's pixels, inclusive-exclusive (``metrics.boxes``); the
worker maps them through the model's resize and crop. Conversions:

* Pascal VOC (``Annotations/*.xml``): ``xmin..xmax`` are 1-based inclusive pixel indices, so ``x0 = xmin - 1`` and
  ``x1 = xmax`` (the VOC devkit's ``xmax - xmin + 1`` width). ``<filename>`` names the image.
* COCO (``instances_*.json``): ``bbox = [x, y, width, height]`` in 0-based continuous pixels, so
  ``(x, y, x + width, y + height)``; ``images[].file_name`` names the image; zero-area boxes are skipped.
* The boxes file of ``metrics.load_boxes`` (CSV ``image,x0,y0,x1,y1[,label]`` or JSON): taken as it is.

Every box of an image is kept, whatever its class (the pointing game's hit is "inside any box"); ``labels`` keeps
only the classes named. An annotation names its image by relative path or by file name; a file name matches when
exactly one image of the run has it. Masks are PNG files mirroring the image tree (``masks/a/b.png`` for ``a/b.jpg``),
non-zero meaning the object; they feed the metrics that need ``masks``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from xai_core.evaluation.inputs import ImageRef
from xai_core.metrics.boxes import load_boxes

Box = tuple[float, float, float, float]
Labelled = dict[str, list[tuple[Box, str | None]]]  # image name -> [(box, class name)]
FORMATS = ("auto", "boxes", "voc", "coco")


def read_voc(folder: Path) -> Labelled:
    """Boxes per ``<filename>`` from every ``*.xml`` in ``folder`` (recursively)."""
    folder = Path(folder)
    files = sorted(folder.rglob("*.xml"))
    if not files:
        raise FileNotFoundError(f"no Pascal VOC annotations (*.xml) in {folder}")
    out: Labelled = {}
    for file in files:
        try:
            root = ET.parse(file).getroot()
        except ET.ParseError as err:
            raise ValueError(f"{file}: not valid XML ({err})") from None
        name = (root.findtext("filename") or file.with_suffix(".jpg").name).strip()
        for number, obj in enumerate(root.iter("object")):
            box = obj.find("bndbox")
            if box is None:
                continue
            try:
                xmin, ymin, xmax, ymax = (float(box.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax"))
            except ValueError:
                raise ValueError(f"{file}: object {number} has a non-numeric bndbox") from None
            if not (xmax >= xmin and ymax >= ymin):
                raise ValueError(f"{file}: object {number} has xmax < xmin or ymax < ymin")
            label = (obj.findtext("name") or "").strip() or None
            out.setdefault(name, []).append(((xmin - 1.0, ymin - 1.0, xmax, ymax), label))
    return out


def read_coco(path: Path) -> Labelled:
    """Boxes per ``file_name`` from a COCO instances JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: invalid JSON at line {err.lineno} ({err.msg})") from None
    if not isinstance(data, Mapping) or "images" not in data or "annotations" not in data:
        raise ValueError(f"{path}: a COCO file has 'images' and 'annotations' lists")
    names = {image["id"]: str(image["file_name"]) for image in data["images"]}
    categories = {c["id"]: str(c.get("name", c["id"])) for c in data.get("categories", [])}
    out: Labelled = {name: [] for name in names.values()}
    for number, ann in enumerate(data["annotations"]):
        if ann.get("image_id") not in names:
            raise ValueError(f"{path}: annotation {number} names image_id {ann.get('image_id')!r}, not in 'images'")
        x, y, w, h = (float(v) for v in ann["bbox"])
        if w <= 0 or h <= 0:
            continue
        label = categories.get(ann.get("category_id"))
        out[names[ann["image_id"]]].append(((x, y, x + w, y + h), label))
    return {k: v for k, v in out.items() if v}


def read_boxes_file(path: Path) -> Labelled:
    return {name: [((b.x0, b.y0, b.x1, b.y1), b.label) for b in boxes] for name, boxes in load_boxes(path).items()}


def read_annotations(path: Path, fmt: str = "auto") -> Labelled:
    """Read annotations in ``fmt`` (``auto``: a folder is VOC, a JSON with ``images`` is COCO, else a boxes file)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise ValueError(f"annotation format must be one of {list(FORMATS)}; got {fmt!r}")
    if not path.exists():
        raise FileNotFoundError(f"annotations not found: {path}")
    if fmt == "auto":
        if path.is_dir():
            fmt = "voc"
        elif path.suffix.lower() == ".json" and _looks_like_coco(path):
            fmt = "coco"
        else:
            fmt = "boxes"
    return {"voc": read_voc, "coco": read_coco, "boxes": read_boxes_file}[fmt](path)


def _looks_like_coco(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data, Mapping) and "images" in data and "annotations" in data


def _index(refs: Sequence[ImageRef]) -> dict[str, str]:
    """Annotation name -> image id: every id, and every file name that exactly one image has."""
    by_name: dict[str, list[str]] = {}
    for ref in refs:
        by_name.setdefault(ref.id.rsplit("/", 1)[-1], []).append(ref.id)
    index = {name: ids[0] for name, ids in by_name.items() if len(ids) == 1}
    index.update({ref.id: ref.id for ref in refs})
    return index


def attach_boxes(refs: Sequence[ImageRef], boxes: Labelled, labels: Iterable[str] | None = None) -> list[ImageRef]:
    """``refs`` with their boxes (only of the classes in ``labels`` when given); images without any keep None."""
    keep = set(labels) if labels is not None else None
    index = _index(refs)
    found: dict[str, list[Box]] = {}
    for name, items in boxes.items():
        image_id = index.get(name)
        if image_id is None:
            continue
        found.setdefault(image_id, []).extend(b for b, label in items if keep is None or label in keep)
    return [replace(ref, boxes=tuple(found[ref.id]) if found.get(ref.id) else None) for ref in refs]


def attach_masks(refs: Sequence[ImageRef], folder: Path) -> list[ImageRef]:
    """``refs`` with the PNG mask mirroring each one's id under ``folder`` (``a/b.jpg`` -> ``a/b.png``), if any."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--masks must be a folder of PNG masks; {folder} is not a folder")
    out = []
    for ref in refs:
        mask = folder / Path(ref.id).with_suffix(".png")
        out.append(replace(ref, mask=str(mask.resolve())) if mask.is_file() else ref)
    return out


def load_mask(path: str, size: tuple[int, int]) -> Image.Image:
    """A mask as an 8-bit image (255 = object) of the image's ``size`` (width, height); an error names the file."""
    with Image.open(path) as opened:
        opened.load()
        mask = np.asarray(opened.convert("L")) > 0
    if (mask.shape[1], mask.shape[0]) != tuple(size):
        raise ValueError(f"mask {Path(path).name} is {mask.shape[1]}x{mask.shape[0]}; its image is {size[0]}x{size[1]}")
    return Image.fromarray(mask.astype(np.uint8) * 255)

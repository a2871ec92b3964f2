"""Small data sets for the dataset-evaluation tests, generated in a temporary folder: images in class folders, a
toy CNN's checkpoint (the model is built by the factory ``tests/toys.py:relu_cnn`` from that file, as a worker
would), VOC and COCO annotations, PNG masks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from toys import relu_cnn

from xai_core import metrics
from xai_core.evaluation import inputs
from xai_core.evaluation.modelspec import ModelSpec
from xai_core.evaluation.runner import Evaluation
from xai_core.request import Request

TOYS = Path(__file__).resolve().parent / "toys.py"
SIZE = 32  # the toy model's input crop


@dataclass(frozen=True)
class Toy:
    root: Path  # images: root/<class>/<name>.png
    weights: Path
    ids: tuple[str, ...]

    @property
    def model(self) -> ModelSpec:
        return ModelSpec(f"{TOYS}:relu_cnn", str(self.weights), input_size=SIZE, device="cpu")

    def cli(self) -> list[str]:
        return ["--images", str(self.root), "--model", f"{TOYS}:relu_cnn", "--weights", str(self.weights),
                "--input-size", str(SIZE), "--device", "cpu"]  # fmt: skip


def picture(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A textured photo stand-in: smooth noise with a bright disc somewhere."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1] // 4, size[0] // 4, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    x, y = int(rng.integers(8, size[0] - 16)), int(rng.integers(8, size[1] - 16))
    draw.ellipse((x, y, x + 12, y + 12), fill=(250, 240, 40))
    return image


def toy_dataset(root: Path, count: int = 4, *, broken: bool = False) -> Toy:
    """``count`` images in two class folders (``0/`` and ``1/``), a toy checkpoint, optionally a corrupt image."""
    images = root / "images"
    ids = []
    for i in range(count):
        path = images / str(i % 2) / f"img{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        picture(i).save(path)
        ids.append(path.relative_to(images).as_posix())
    if broken:
        (images / "0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but truncated")
        ids.append("0/broken.png")
    weights = root / "toy.pt"
    torch.save(relu_cnn(seed=3).state_dict(), weights)
    return Toy(images, weights, tuple(sorted(ids)))


def toy_evaluation(
    toy: Toy,
    out: Path,
    methods: tuple[str, ...] = ("saliency", "grad_cam"),
    metric_names: tuple[str, ...] = ("insertion", "deletion"),
    **changes: object,
) -> Evaluation:
    settings = changes.pop("settings", {"steps": 4})
    evaluation = Evaluation(
        out=out,
        images=inputs.scan_folder(toy.root),
        requests={m: Request.create(m) for m in methods},
        metrics=metrics.resolve_many(list(metric_names), settings),  # type: ignore[arg-type]
        model=toy.model,
        flush_seconds=0.0,
    )
    for name, value in changes.items():
        setattr(evaluation, name, value)
    return evaluation


def results_folder(root: Path, name: str, images: int = 3) -> Path:
    """A results folder ``root/name`` of the toy model on ``images`` images, two methods, saved maps."""
    from xai_core.evaluation import run

    toy = toy_dataset(root / "toy", images)
    out = root / name
    run(toy_evaluation(toy, out, save_maps=True))
    return out


def write_voc(folder: Path, name: str, objects: list[tuple[str, int, int, int, int]]) -> Path:
    """A Pascal VOC annotation file with ``(class, xmin, ymin, xmax, ymax)`` objects (1-based, inclusive)."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [f"<annotation><folder>VOC2007</folder><filename>{name}</filename><size><width>48</width>"
             "<height>40</height><depth>3</depth></size>"]  # fmt: skip
    for label, x0, y0, x1, y1 in objects:
        parts.append(f"<object><name>{label}</name><difficult>0</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
                     f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")  # fmt: skip
    path = folder / (Path(name).stem + ".xml")
    path.write_text("".join(parts) + "</annotation>")
    return path


def write_coco(path: Path, images: dict[int, str], boxes: list[tuple[int, int, list[float]]]) -> Path:
    """A COCO instances file: ``images`` id -> file name, ``boxes`` (image id, category id, [x, y, w, h])."""
    data = {
        "images": [{"id": i, "file_name": name, "width": 48, "height": 40} for i, name in images.items()],
        "annotations": [
            {"id": n, "image_id": i, "category_id": c, "bbox": b, "iscrowd": 0, "area": b[2] * b[3]}
            for n, (i, c, b) in enumerate(boxes)
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    path.write_text(json.dumps(data))
    return path

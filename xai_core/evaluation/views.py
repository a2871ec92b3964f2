"""What the app's Benchmark page shows of one image: the model's crop of it and the saved maps of each method.

The crop repeats ``ModelWrapper.preprocess``'s geometry (shorter side to ``resize``, centre crop ``input_size``) from
the spec, so a map lies on the pixels it explains. Paths come from the folder's spec and rows; a path that would
leave the folder (``..``) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from xai_core.evaluation.sink import load_map
from xai_core.evaluation.spec import RunSpec
from xai_core.images import load_image


@dataclass(frozen=True)
class ImageView:
    """One image of a results folder: its crop (uint8 ``[H, W, 3]``) and a map per method that saved one."""

    image_id: str
    crop: np.ndarray
    maps: dict[str, np.ndarray]


def image_path(spec: RunSpec, image_id: str) -> Path:
    """Where the image of ``image_id`` is, under the run's input root; refuses ids that climb out of it."""
    root = Path(spec.inputs.get("root", "")).resolve()
    path = (root / image_id).resolve()
    if root not in path.parents:
        raise ValueError(f"image id {image_id!r} is outside the run's image folder")
    return path


def crop(image: Image.Image, spec: RunSpec) -> np.ndarray:
    size = spec.model.get("input_size", [224, 224])
    resize = int(spec.model.get("resize", round(size[0] * 256 / 224)))
    mode = InterpolationMode(spec.model.get("interpolation", "bilinear"))
    resized = TF.resize(image.convert("RGB"), [resize], interpolation=mode)
    return np.asarray(TF.center_crop(resized, [int(size[0]), int(size[1])]))


def image_view(folder: Path, spec: RunSpec, rows: pd.DataFrame, image_id: str) -> ImageView:
    """The crop of ``image_id`` and each method's saved map (rows with a ``maps_file``)."""
    loaded = load_image(image_path(spec, image_id), name=image_id)
    maps = {}
    mine = rows[(rows["image"] == image_id) & (rows["maps_file"].astype(str) != "")]
    for method, group in mine.groupby("method", sort=True):
        first = group.iloc[0]
        maps[str(method)] = load_map(folder, str(first["maps_file"]), int(first["maps_index"]))
    return ImageView(image_id, crop(loaded.image, spec), maps)

"""Reference sets for Expected Gradients: the bundled photos, a folder, a list of images, or a tensor.

``ReferenceSet`` is what the ``references`` parameter of ``expected_gradients`` resolves a folder or a list of
images to: validated when the request is made (an empty folder, a missing path or an item that is not an image is a
``ParameterError`` naming it), decoded and preprocessed by the model wrapper when the method runs (an unreadable file
is a ``ParameterError`` naming the file), and cached per wrapper. Its ``canonical()`` digest (file names, sizes and
modification times, or the pixels of in-memory images) makes it part of the request's key.

``ReferenceInfo`` is what the method records about the set it used (``extras["reference_set"]``), with a caption the
app shows: the source, the count, and how many references were left out because they are the explained image.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from xai_core.params import ParameterError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MAX_IMAGES = 512  # Expected Gradients draws with replacement: a few dozen references already cover a distribution
SAME_IMAGE_ATOL = 1e-5  # model-space tolerance under which a reference is the explained image itself


def _describe(item: Any) -> str:
    return str(item) if isinstance(item, (str, os.PathLike)) else type(item).__name__


@dataclass(frozen=True, eq=False)
class ReferenceSet:
    """Images for Expected Gradients' baseline distribution, validated now and preprocessed when used.

    Build one with ``ReferenceSet.folder(path)`` or ``ReferenceSet.images([...])`` (PIL images, ``LoadedImage``s,
    file paths, encoded bytes or binary files such as Streamlit's ``UploadedFile``), or pass the folder path or the
    list as ``references=`` directly.
    """

    source: str
    items: tuple[Any, ...] = field(repr=False)
    digest: str

    @classmethod
    def folder(cls, path: str | os.PathLike[str]) -> ReferenceSet:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise ParameterError(
                f"expected_gradients: references folder {str(path)!r} does not exist or is not a folder"
            )
        files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ParameterError(
                f"expected_gradients: references folder {str(root)!r} holds no image files "
                f"({', '.join(IMAGE_SUFFIXES)})"
            )
        _check_count(len(files))
        digest = hashlib.sha256()
        for file in files:
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        return cls(f"folder {root.resolve()} ({len(files)} images)", tuple(files), digest.hexdigest())

    @classmethod
    def images(cls, images: Sequence[Any], source: str | None = None) -> ReferenceSet:
        from xai_core.images import LoadedImage, image_hash

        items = tuple(images)
        if not items:
            raise ParameterError("expected_gradients: the list of reference images is empty")
        _check_count(len(items))
        digest = hashlib.sha256()
        for item in items:
            if isinstance(item, LoadedImage):
                digest.update(item.sha256.encode())
            elif isinstance(item, Image.Image):
                digest.update(image_hash(item).encode())
            elif isinstance(item, (bytes, bytearray, memoryview)):
                digest.update(hashlib.sha256(bytes(item)).digest())
            elif isinstance(item, (str, os.PathLike)):
                if not Path(item).is_file():
                    raise ParameterError(f"expected_gradients: reference image file {str(item)!r} does not exist")
                digest.update(f"{Path(item).resolve()}:{Path(item).stat().st_mtime_ns}".encode())
            elif hasattr(item, "read"):
                digest.update(hashlib.sha256(_bytes_of(item)).digest())
            else:
                raise ParameterError(
                    "expected_gradients: a reference image must be a PIL image, a LoadedImage, a file path, bytes or "
                    f"a binary file; got {_describe(item)!r}"
                )
        return cls(source or f"{len(items)} images", items, digest.hexdigest())

    def canonical(self) -> dict[str, Any]:
        """Plain data for the request's key: the content digest and the count."""
        return {"reference_set": self.digest, "count": len(self.items)}

    def tensor(self, wrapper: Any) -> Tensor:
        """Every image through ``wrapper.preprocess``, ``[R, C, H, W]`` on the wrapper's device; cached per wrapper."""
        cache: dict[str, Tensor] = {}
        with contextlib.suppress(TypeError):
            cache = _PREPROCESSED.setdefault(wrapper, {})
        if self.digest not in cache:
            cache[self.digest] = torch.cat([wrapper.preprocess(_decode(item)) for item in self.items])
        return cache[self.digest]


_PREPROCESSED: weakref.WeakKeyDictionary[Any, dict[str, Tensor]] = weakref.WeakKeyDictionary()


def _check_count(count: int) -> None:
    if count > MAX_IMAGES:
        raise ParameterError(f"expected_gradients: at most {MAX_IMAGES} reference images; got {count}")


def _bytes_of(item: Any) -> bytes:
    data = item.getvalue() if hasattr(item, "getvalue") else item.read()
    if hasattr(item, "seek"):
        item.seek(0)
    return bytes(data)


def _decode(item: Any) -> Image.Image:
    """A PIL image from any accepted item; an unreadable file is a ``ParameterError`` naming it."""
    from xai_core.images import ImageError, LoadedImage, load_image

    if isinstance(item, LoadedImage):
        return item.image
    if isinstance(item, Image.Image):
        return item
    try:
        return load_image(_bytes_of(item) if hasattr(item, "read") else item, getattr(item, "name", None)).image
    except ImageError as err:
        raise ParameterError(f"expected_gradients: a reference image could not be read: {err}") from None


@dataclass(frozen=True)
class ReferenceInfo:
    """What Expected Gradients drew its baselines from (``extras["reference_set"]``).

    Attributes:
        source: where the references came from ("the 6 bundled sample photos", "folder ... (12 images)", ...).
        count: images in the set.
        excluded: per input, how many references were left out because they equal the explained image, ``[B]``
            (``[S, B]`` under noise).
    """

    source: str
    count: int
    excluded: Tensor

    def caption(self, index: int = 0) -> str:
        left_out = int(self.excluded.reshape(-1, self.excluded.shape[-1])[:, index].max())
        used = self.count - left_out
        note = f"; {left_out} equal to the explained image left out" if left_out else ""
        return f"Reference set: {self.source}{note}, {used} used."


def same_as_input(references: Tensor, inputs: Tensor) -> Tensor:
    """``[B, R]`` bool: reference r is input b (max |difference| under ``SAME_IMAGE_ATOL`` in model space)."""
    flat = references.flatten(1).to(inputs)
    return torch.stack([(flat - x).abs().amax(dim=1) <= SAME_IMAGE_ATOL for x in inputs.flatten(1)])

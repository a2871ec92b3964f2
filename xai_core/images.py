"""Image IO and validation: every upload becomes an upright RGB PIL image, or an ``ImageError`` saying why not.

Limits: ``MAX_UPLOAD_BYTES`` per file, ``MAX_PIXELS`` decoded pixels (larger headers are refused before decoding,
the usual decompression-bomb guard), ``MIN_SIDE`` to ``MAX_SIDE`` pixels per side (larger images are downscaled
with a notice). Only JPEG, PNG, WebP, BMP, TIFF and GIF are opened, which keeps Pillow's rarer decoders (and
EPS's Ghostscript) away from untrusted bytes.

Memory: a small file can declare a large image (a 200 KB 16-bit PNG of 100 MP decodes to 200 MB and used to cost
2.4 GB on its way to RGB). Before decoding, ``decode_cost`` bounds the memory from the header (bytes per pixel of
the decoded mode x pixels, after JPEG's reduced decoding, plus the working copies), and every upload decodes inside
``DECODE_GATE``: at most ``MAX_CONCURRENT_DECODES`` at once and at most ``$XAI_MAX_DECODE_MB`` (default 1024,
declared in ``xai_core.settings``) of estimated decode memory in flight in the process. An image that alone exceeds the
budget is refused with a message; others wait for room (up to ``DECODE_WAIT_S``). Oversized images are downscaled
in their stored mode before any conversion, so no full-size RGB or float copy is ever made.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from xai_core import settings

__all__ = [
    "ENV_MAX_DECODE_MB",
    "MAX_SIDE",
    "MAX_UPLOAD_BYTES",
    "ImageError",
    "LoadedImage",
    "decode_cost",
    "image_hash",
    "load_image",
    "load_sample",
    "sample_images",
]

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_SIDE = 4096
MIN_SIDE = 16
MAX_PIXELS = 100_000_000  # a 100-megapixel photo decodes to 300 MB of RGB; anything larger is refused unread
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")  # the JPEG plugin also opens MPO (phones' multi-picture JPEG)
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow warns above this and raises above twice this; _decode refuses both
ENV_MAX_DECODE_MB = "XAI_MAX_DECODE_MB"
MAX_CONCURRENT_DECODES = 2  # decoding is CPU-bound: more at once only adds memory
DECODE_WAIT_S = 60.0  # how long an upload waits for room before it is refused as "server busy"
WORK_BYTES_PER_PIXEL = 12  # per pixel of the (downscaled) result: 8-bit and RGB copies, the hash's RGB bytes

_SAMPLES = {  # id -> (description, skimage.data function); see assets/README.md for sources and licences
    "chelsea": ("Chelsea the cat", "chelsea"),
    "coffee": ("a cup of coffee on a saucer", "coffee"),
    "rocket": ("a Falcon 9 rocket at launch", "rocket"),
    "astronaut": ("astronaut Eileen Collins", "astronaut"),
    "motorcycle": ("a motorcycle in a lab (Middlebury stereo, left view)", "stereo_motorcycle"),
    "camera": ("a photographer with a camera on a tripod (grayscale)", "camera"),
}


class ImageError(ValueError):
    """An image could not be used; the message names the file and what was wrong."""


@dataclass(frozen=True)
class LoadedImage:
    """A decoded, upright RGB image with what was done to it.

    Attributes:
        image: RGB PIL image, fully decoded in memory.
        notices: human-readable notes on conversions (grayscale to RGB, downscaling, first frame, ...).
        sha256: ``image_hash(image)``, a cache key independent of the file's encoding.
        name: the file name (or sample id) for display.
    """

    image: Image.Image
    notices: tuple[str, ...]
    sha256: str
    name: str


def image_hash(image: Image.Image) -> str:
    """SHA-256 of an image's size and RGB pixels: equal for equal pixels, whatever file they came from."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def _read(source: bytes | str | Path | BinaryIO, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        data, label = bytes(source), name or "image"
    elif isinstance(source, str | Path):
        path = Path(source)
        label = name or path.name
        if not path.is_file():
            raise ImageError(f"{label}: no such file: {path}")
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise ImageError(f"{label}: the file is {_mb(path.stat().st_size)}; the limit is {_mb(MAX_UPLOAD_BYTES)}")
        data = path.read_bytes()
    elif hasattr(source, "read"):
        label = name or Path(str(getattr(source, "name", "") or "image")).name
        # getvalue() reads a BytesIO (Streamlit's UploadedFile) whole even after an earlier read moved its position.
        data = source.getvalue() if isinstance(source, io.BytesIO) else source.read(MAX_UPLOAD_BYTES + 1)
    else:
        raise TypeError(f"source must be bytes, a path or a binary file; got {type(source).__name__}")
    if not data:
        raise ImageError(f"{label}: the file is empty (0 bytes)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"{label}: the file is larger than the limit of {_mb(MAX_UPLOAD_BYTES)}")
    return data, label


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def _bomb(label: str, pixels: int | None) -> ImageError:
    claim = f"{pixels:,} pixels" if pixels else "more pixels than that"
    return ImageError(
        f"{label}: refused as a possible decompression bomb: the image claims {claim}; the limit is {MAX_PIXELS:,}"
    )


_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def _sniff(data: bytes) -> str | None:
    """The format a file's leading bytes claim, for error messages when Pillow cannot parse it."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((kind for magic, kind in _SIGNATURES.items() if data.startswith(magic)), None)


def _bytes_per_pixel(mode: str) -> int:
    """Bytes per pixel of a decoded Pillow image in ``mode`` (Pillow stores 3- and 2-band images in 4 bytes)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def decode_cost(mode: str, width: int, height: int) -> int:
    """An upper bound, in bytes, of the memory ``load_image`` uses to decode and convert an image of this header.

    The decoded image in its own mode, the one-direction intermediate of a downscale (computed in 32-bit), and the
    working copies at the downscaled size (``WORK_BYTES_PER_PIXEL``). Some images take one more full-size copy
    before they are downscaled: palette and 1-bit ones are converted first (Pillow resizes them only by nearest
    neighbour), and Pillow's resize premultiplies images with alpha. Measured against this bound on 100 MP PNGs
    (L, 16-bit L, RGB, RGBA, palette) and a 100 MP JPEG, the peak growth was 57-89% of it.
    """
    pixels = width * height
    scale = min(1.0, MAX_SIDE / max(width, height, 1))
    cost = pixels * _bytes_per_pixel(mode) + int(pixels * scale) * 4
    cost += int(pixels * scale * scale) * WORK_BYTES_PER_PIXEL
    if scale < 1.0 and mode in ("1", "P", "LA", "PA", "RGBA"):
        cost += pixels * 4
    return cost


def max_decode_bytes() -> int:
    """The decode budget in bytes: ``$XAI_MAX_DECODE_MB`` megabytes (its default in ``xai_core.settings``)."""
    text = settings.raw(ENV_MAX_DECODE_MB)
    try:
        megabytes = float(text)
    except ValueError:
        raise ImageError(f"{ENV_MAX_DECODE_MB} must be a number of megabytes; got {text!r}") from None
    if not megabytes > 0:
        raise ImageError(f"{ENV_MAX_DECODE_MB} must be a positive number of megabytes; got {text!r}")
    return int(megabytes * 2**20)


class DecodeGate:
    """Admission for decodes: at most ``slots`` at once and at most the budget of estimated bytes in flight."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.active = 0
        self.reserved = 0
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, cost: int, label: str, wait_s: float | None = None) -> Iterator[None]:
        """Hold ``cost`` bytes of the budget while the block runs; ImageError when it cannot be had."""
        budget = max_decode_bytes()
        if cost > budget:
            raise ImageError(
                f"{label}: decoding this image would take about {_mb(cost)} of memory, more than this server allows "
                f"for one image ({_mb(budget)}, set by {ENV_MAX_DECODE_MB}); upload a smaller image"
            )
        with self._changed:
            room = self._changed.wait_for(
                lambda: self.active < self.slots and self.reserved + cost <= budget,
                timeout=DECODE_WAIT_S if wait_s is None else wait_s,
            )
            if not room:
                raise ImageError(f"{label}: the server is busy decoding other images; try again in a minute")
            self.active += 1
            self.reserved += cost
        try:
            yield
        finally:
            with self._changed:
                self.active -= 1
                self.reserved -= cost
                self._changed.notify_all()


DECODE_GATE = DecodeGate(MAX_CONCURRENT_DECODES)


@contextmanager
def _pillow_errors(data: bytes, label: str, opened: list[Image.Image]) -> Iterator[None]:
    """Every Pillow failure inside the block becomes an ImageError naming the file and the format."""
    try:
        yield
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        claimed = re.search(r"\((\d+) pixels\)", str(err))
        raise _bomb(label, int(claimed[1]) if claimed else None) from None
    except UnidentifiedImageError as err:
        if kind := _sniff(data):  # a known signature that Pillow cannot parse: damaged, not foreign
            raise ImageError(f"{label}: corrupt or truncated {kind}: {err}") from None
        raise ImageError(
            f"{label}: not an image in a supported format ({', '.join(FORMATS)}); the file starts with {data[:8]!r}"
        ) from None
    except Exception as err:  # Pillow's decoders raise OSError, SyntaxError, ValueError, struct.error, ...
        kind = (opened[0].format if opened else None) or _sniff(data) or "image"
        raise ImageError(f"{label}: corrupt or truncated {kind}: {err}") from None


def _open(data: bytes, label: str, notices: list[str], opened: list[Image.Image]) -> tuple[Image.Image, int]:
    """Read the header of the first frame (nothing is decoded yet) and choose a reduced JPEG decode.

    Returns the image and the longest side stored in the file (a large JPEG decodes smaller, see ``draft``).
    """
    # Pillow warns between MAX_IMAGE_PIXELS and twice that, and raises above. The explicit check below refuses the
    # warning band too; warnings.catch_warnings would do it, but it is not thread-safe and Streamlit serves sessions
    # from threads.
    image = Image.open(io.BytesIO(data), formats=FORMATS)
    opened.append(image)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise _bomb(label, width * height)
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and image.format != "MPO":  # MPO's extra frames are previews or depth maps, not content
        notices.append(f"the {image.format} has {frames} frames; using the first")
        image.seek(0)
    if max(width, height) > MAX_SIDE and image.format in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, never below the target size: faster, less memory.
        longest = max(width, height)
        image.draft(image.mode, (-(-width * MAX_SIDE // longest), -(-height * MAX_SIDE // longest)))
    return image, max(width, height)


def _orientation(image: Image.Image, notices: list[str]) -> int:
    """The EXIF orientation tag (1 = stored upright); a broken EXIF block counts as upright, with a notice."""
    try:
        orientation = int(image.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block should not cost the user the image
        notices.append("could not read the EXIF orientation; the image is shown as stored")
        return 1
    return orientation if orientation in _TRANSPOSE else 1


# EXIF orientation -> the transpose that makes the image upright (the table of ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(image: Image.Image, orientation: int, notices: list[str]) -> Image.Image:
    if orientation not in _TRANSPOSE:
        return image
    notices.append(f"rotated/flipped upright following the EXIF orientation tag ({orientation})")
    return image.transpose(_TRANSPOSE[orientation])


def _downscale(image: Image.Image) -> Image.Image:
    """At most ``MAX_SIDE`` per side, resized in the stored mode (before any full-size conversion is made)."""
    if max(image.size) <= MAX_SIDE:
        return image
    if image.mode == "P":  # Pillow resizes palette images only by nearest neighbour: convert first
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    scale = MAX_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    try:
        return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    except ValueError:  # a mode without Image.reduce (16-bit): plain two-pass resampling
        return image.resize(size, Image.Resampling.LANCZOS)


def _to_rgb(image: Image.Image, label: str, notices: list[str]) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":  # palette: transparency lives in info["transparency"]
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        return _to_rgb(image, label, notices)
    if mode.startswith("I;16"):
        # round(v / 257) in integers (65535 = 255 * 257; no ties), without a float copy of the image
        scaled = (np.asarray(image).astype(np.uint32) * 255 + 32767) // 65535
        notices.append("16-bit grayscale image scaled to 8-bit RGB")
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    if mode in ("I", "F"):  # 32-bit int or float: no fixed range, so stretch what is there
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        values = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        notices.append(f"32-bit grayscale image ({mode}) stretched from [{low:g}, {high:g}] to 8-bit RGB")
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8)).convert("RGB")
    if mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        if int(np.asarray(rgba.getchannel("A")).min()) < 255:
            notices.append("transparent areas composited on white")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("L", "1"):
        notices.append("grayscale image converted to RGB")
    elif mode == "CMYK":
        notices.append("CMYK image converted to RGB without a colour profile; colours may differ slightly")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as err:
        raise ImageError(f"{label}: unsupported pixel mode {mode!r}: {err}") from None


def _finish(image: Image.Image, label: str, notices: list[str], stored_longest: int = 0) -> LoadedImage:
    """Size limits, orientation, RGB and hash: shared by uploads and samples."""
    orientation = _orientation(image, notices)
    image = _to_rgb(_upright(_downscale(image), orientation, notices), label, notices)
    longest = max(stored_longest, max(image.size))
    if longest > MAX_SIDE:
        notices.append(
            f"downscaled to {image.width}x{image.height}: the longest side was {longest} px (limit {MAX_SIDE})"
        )
    if min(image.size) < MIN_SIDE:
        raise ImageError(
            f"{label}: the image is too small ({image.width}x{image.height} pixels); "
            f"each side must be at least {MIN_SIDE} pixels"
        )
    return LoadedImage(image=image, notices=tuple(notices), sha256=image_hash(image), name=label)


def load_image(source: bytes | str | Path | BinaryIO, name: str | None = None) -> LoadedImage:
    """Read, validate and normalise an image from bytes, a path or a binary file.

    Args:
        source: encoded image bytes, a file path, or a binary file object (e.g. Streamlit's ``UploadedFile``).
        name: display name; defaults to the file's name.

    Returns:
        A ``LoadedImage`` holding an upright RGB image (first frame of an animation, alpha composited on white,
        at most ``MAX_SIDE`` pixels per side) and notices describing every conversion.

    Raises:
        ImageError: empty, oversized, unsupported, corrupt or truncated file, too many pixels, more decode memory
            than ``$XAI_MAX_DECODE_MB`` allows (or the server busy with other decodes for ``DECODE_WAIT_S``), or
            too small.
    """
    data, label = _read(source, name)
    notices: list[str] = []
    opened: list[Image.Image] = []
    with _pillow_errors(data, label, opened):
        image, stored_longest = _open(data, label, notices, opened)
    with DECODE_GATE.reserve(decode_cost(image.mode, *image.size), label), _pillow_errors(data, label, opened):
        image.load()
        return _finish(image, label, notices, stored_longest)


def sample_images() -> dict[str, str]:
    """Bundled sample images (from ``skimage.data``) available in this installation: id -> short description."""
    import skimage.data

    return {key: text for key, (text, func) in _SAMPLES.items() if hasattr(skimage.data, func)}


def load_sample(name: str) -> LoadedImage:
    """Load a sample image by id (see ``sample_images()``) through the same checks as an upload."""
    import skimage.data

    available = sample_images()
    if name not in available:
        raise ImageError(f"unknown sample image {name!r}; available: {', '.join(available)}")
    pixels = getattr(skimage.data, _SAMPLES[name][1])()
    if isinstance(pixels, tuple):  # stereo_motorcycle returns (left, right, disparity)
        pixels = pixels[0]
    image = Image.fromarray(np.asarray(pixels))
    return _finish(image, name, [])

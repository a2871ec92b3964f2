"""Image IO and validation: every upload becomes an upright RGB PIL image, or an ``ImageError`` saying why not.

Limits: ``MAX_UPLOAD_BYTES`` per file, ``MAX_PIXELS`` decoded pixels (larger headers are refused before decoding,
the usual decompression-bomb guard), ``MIN_SIDE`` to ``MAX_SIDE`` pixels per side (larger images are downscaled
with a notice). Only JPEG, PNG, WebP, BMP, TIFF and GIF are opened, which keeps Pillow's rarer decoders (and
EPS's Ghostscript) away from untrusted bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "MAX_SIDE",
    "MAX_UPLOAD_BYTES",
    "ImageError",
    "LoadedImage",
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


def _decode(data: bytes, label: str, notices: list[str]) -> tuple[Image.Image, int]:
    """Open and fully decode the first frame; every Pillow failure becomes an ImageError.

    Returns the image and the longest side stored in the file (a large JPEG may decode smaller, see ``draft``).
    """
    image: Image.Image | None = None
    try:
        # Pillow warns between MAX_IMAGE_PIXELS and twice that, and raises above. The explicit check below refuses
        # the warning band too; warnings.catch_warnings would do it, but it is not thread-safe and Streamlit serves
        # sessions from threads.
        image = Image.open(io.BytesIO(data), formats=FORMATS)
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
        image.load()
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
        kind = (image.format if image is not None else None) or _sniff(data) or "image"
        raise ImageError(f"{label}: corrupt or truncated {kind}: {err}") from None
    return image, max(width, height)


def _upright(image: Image.Image, notices: list[str]) -> Image.Image:
    try:
        orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation tag; 1 means stored upright
        if orientation not in range(2, 9):
            return image
        upright = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost the user the image
        notices.append("could not read the EXIF orientation; the image is shown as stored")
        return image
    notices.append(f"rotated/flipped upright following the EXIF orientation tag ({orientation})")
    return upright


def _to_rgb(image: Image.Image, label: str, notices: list[str]) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":  # palette: transparency lives in info["transparency"]
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        return _to_rgb(image, label, notices)
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16"):
            values = values / 257.0  # 0..65535 -> 0..255
            notices.append("16-bit grayscale image scaled to 8-bit RGB")
        else:  # 32-bit int or float: no fixed range, so stretch what is there
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
    """Orientation, RGB, size limits and hash: shared by uploads and samples."""
    image = _to_rgb(_upright(image, notices), label, notices)
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
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
        ImageError: empty, oversized, unsupported, corrupt or truncated file, too many pixels, or too small.
    """
    data, label = _read(source, name)
    notices: list[str] = []
    image, stored_longest = _decode(data, label, notices)
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

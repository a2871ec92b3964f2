"""Image IO: every odd file becomes an upright RGB image with notices, or an ImageError that says what was wrong."""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xai_core import images
from xai_core.images import ImageError, LoadedImage, image_hash, load_image, load_sample, sample_images

RNG = np.random.default_rng(0)
RGB = Image.fromarray(RNG.integers(0, 256, (40, 60, 3), dtype=np.uint8))  # 60 wide, 40 high


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming any size, with a tiny IDAT: the shape of a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def pixels(loaded: LoadedImage) -> np.ndarray:
    assert loaded.image.mode == "RGB"
    return np.asarray(loaded.image)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP", "JPEG", "GIF"])
def test_formats_decode_to_rgb(fmt: str) -> None:
    lossless = fmt in ("PNG", "BMP", "TIFF")
    options: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    loaded = load_image(encode(RGB, fmt, **options), name=f"x.{fmt.lower()}")
    assert loaded.image.size == (60, 40) and loaded.name == f"x.{fmt.lower()}"
    if lossless or fmt == "WEBP":
        assert np.array_equal(pixels(loaded), np.asarray(RGB))
    assert loaded.sha256 == image_hash(loaded.image)


@pytest.mark.parametrize(
    ("mode", "fmt", "notice"),
    [
        ("L", "PNG", "grayscale image converted to RGB"),
        ("1", "BMP", "grayscale image converted to RGB"),
        ("CMYK", "JPEG", "CMYK image converted to RGB"),
        ("P", "PNG", None),
        ("RGBA", "PNG", None),  # fully opaque: nothing to composite, nothing to say
    ],
)
def test_modes_convert_to_rgb(mode: str, fmt: str, notice: str | None) -> None:
    source = RGB.convert(mode)
    loaded = load_image(encode(source, fmt))
    assert loaded.image.size == (60, 40)
    assert [n.split(" without")[0] for n in loaded.notices] == ([notice] if notice else [])
    if fmt != "JPEG":
        assert np.array_equal(pixels(loaded), np.asarray(source.convert("RGB")))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_is_composited_on_white(mode: str) -> None:
    rgba = Image.new("RGBA", (32, 32), (200, 10, 10, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 16, 32))  # left half fully transparent
    if mode == "LA":
        source = rgba.convert("LA")
    elif mode == "P":
        source = Image.new("P", (32, 32), 1)
        source.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
        source.paste(0, (0, 0, 16, 32))
        source.info["transparency"] = 0
    else:
        source = rgba
    loaded = load_image(encode(source, "PNG"))
    assert loaded.notices == ("transparent areas composited on white",)
    out = pixels(loaded)
    assert (out[:, :16] == 255).all()
    gray = Image.new("RGB", (1, 1), (200, 10, 10)).convert("L").getpixel((0, 0))
    assert out[5, 20].tolist() == ([gray] * 3 if mode == "LA" else [200, 10, 10])


def test_sixteen_bit_grayscale_is_scaled() -> None:
    ramp = np.linspace(0, 65535, 64 * 32).reshape(32, 64).astype(np.uint16)
    loaded = load_image(encode(Image.fromarray(ramp), "PNG"))
    assert Image.open(io.BytesIO(encode(Image.fromarray(ramp), "PNG"))).mode == "I;16"
    assert loaded.notices == ("16-bit grayscale image scaled to 8-bit RGB",)
    out = pixels(loaded)
    assert out[0, 0].tolist() == [0, 0, 0] and out[-1, -1].tolist() == [255, 255, 255]
    assert np.abs(out[..., 0].astype(float) - ramp / 257).max() <= 0.5


@pytest.mark.parametrize(("dtype", "mode"), [(np.int32, "I"), (np.float32, "F")])
def test_thirty_two_bit_images_are_stretched(dtype: type, mode: str) -> None:
    values = np.linspace(-3, 5000, 32 * 32).reshape(32, 32).astype(dtype)
    source = Image.fromarray(values)
    assert source.mode == mode
    loaded = load_image(encode(source, "TIFF"))
    assert loaded.notices[0].startswith(f"32-bit grayscale image ({mode}) stretched from [-3, 5000]")
    assert pixels(loaded).min() == 0 and pixels(loaded).max() == 255


def test_animated_gif_and_multipage_tiff_use_the_first_frame() -> None:
    second = RGB.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    third = RGB.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    gif = load_image(encode(RGB, "GIF", save_all=True, append_images=[second, third]))
    assert gif.notices == ("the GIF has 3 frames; using the first",)
    assert np.array_equal(pixels(gif), np.asarray(Image.open(io.BytesIO(encode(RGB, "GIF"))).convert("RGB")))
    tiff = load_image(encode(RGB, "TIFF", save_all=True, append_images=[second]))
    assert tiff.notices == ("the TIFF has 2 frames; using the first",)
    assert np.array_equal(pixels(tiff), np.asarray(RGB))
    mpo = load_image(encode(RGB, "MPO", save_all=True, append_images=[second]))  # phone JPEGs: no notice
    assert mpo.notices == () and mpo.image.size == (60, 40)


def test_exif_orientation_is_applied() -> None:
    source = Image.new("RGB", (60, 30), (255, 0, 0))
    source.paste((0, 0, 255), (0, 0, 10, 30))  # blue stripe on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    loaded = load_image(encode(source, "JPEG", exif=exif, quality=95))
    assert loaded.image.size == (30, 60)
    assert loaded.notices == ("rotated/flipped upright following the EXIF orientation tag (6)",)
    top, bottom = pixels(loaded)[2, 15], pixels(loaded)[57, 15]
    assert top[2] > 200 > top[0] and bottom[0] > 200 > bottom[2]  # the left edge is now on top


@pytest.mark.parametrize(("fmt", "size"), [("PNG", (5000, 300)), ("JPEG", (8200, 410))])
def test_huge_images_are_downscaled_with_a_notice(fmt: str, size: tuple[int, int]) -> None:
    source = Image.linear_gradient("L").resize(size).convert("RGB")
    loaded = load_image(encode(source, fmt))
    expected = (4096, round(size[1] * 4096 / size[0]))
    assert loaded.image.size == expected
    assert loaded.notices == (
        f"downscaled to {expected[0]}x{expected[1]}: the longest side was {size[0]} px (limit 4096)",
    )


def test_decompression_bombs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        ImageError, match=r"bomb.png: refused as a possible decompression bomb: .* 10,000,000,000 pixels"
    ):
        load_image(png_header(100_000, 100_000), name="bomb.png")
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(ImageError, match="120,000,000 pixels"):
        load_image(png_header(12_000, 10_000))  # Pillow only warns between its limit and twice that
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match=r"claims 2,400 pixels; the limit is 1,000"):
        load_image(encode(RGB, "PNG"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"^photo: the file is empty \(0 bytes\)$"),
        (b"%PDF-1.7 not an image", r"^photo: not an image in a supported format \(JPEG, PNG, WEBP, BMP, TIFF, GIF\)"),
        (encode(RGB, "ICO"), r"not an image in a supported format"),
        (encode(RGB, "PNG")[:120], r"^photo: corrupt or truncated PNG: "),
        (encode(RGB, "JPEG")[:400], r"^photo: corrupt or truncated JPEG: "),
        (encode(RGB, "JPEG")[:40], r"^photo: corrupt or truncated JPEG: "),
        (encode(RGB, "GIF")[:30], r"^photo: corrupt or truncated GIF: "),
        (encode(Image.new("RGB", (8, 40)), "PNG"), r"too small \(8x40 pixels\); each side must be at least 16"),
    ],
)
def test_bad_files_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        load_image(data, name="photo")


def test_sources_paths_and_file_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    png = encode(RGB, "PNG")
    (tmp_path / "cat.png").write_bytes(png)
    expected = load_image(png).sha256
    assert load_image(tmp_path / "cat.png").name == "cat.png"
    assert load_image(str(tmp_path / "cat.png")).sha256 == expected
    with (tmp_path / "cat.png").open("rb") as fh:
        assert load_image(fh).name == "cat.png"
    upload = io.BytesIO(png)
    upload.read()  # Streamlit reruns hand back an UploadedFile (a BytesIO) whose position may be at the end
    assert load_image(upload, name="up.png").sha256 == expected
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty.jpg: the file is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageError, match=r"missing.png: no such file"):
        load_image(tmp_path / "missing.png")
    monkeypatch.setattr(images, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(ImageError, match=r"cat.png: the file is 0.0 MB; the limit is 0.0 MB"):
        load_image(tmp_path / "cat.png")
    with pytest.raises(ImageError, match=r"the file is larger than the limit"):
        load_image(png)
    with pytest.raises(TypeError, match="source must be bytes, a path or a binary file; got int"):
        load_image(3)  # type: ignore[arg-type]


def test_hash_depends_on_pixels_not_encoding() -> None:
    png, bmp = load_image(encode(RGB, "PNG")), load_image(encode(RGB, "BMP"))
    assert png.sha256 == bmp.sha256 == image_hash(RGB) and len(png.sha256) == 64
    assert image_hash(RGB.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) != png.sha256
    assert image_hash(Image.new("RGB", (4, 6))) != image_hash(Image.new("RGB", (6, 4)))  # same bytes, other size
    with pytest.raises(dataclasses.FrozenInstanceError):
        png.name = "other"  # type: ignore[misc]


def test_samples() -> None:
    available = sample_images()
    assert {"chelsea", "coffee", "rocket", "astronaut", "camera"} <= set(available)
    assert all(isinstance(text, str) and text for text in available.values())
    cat = load_sample("chelsea")
    assert cat.image.size == (451, 300) and cat.notices == () and cat.name == "chelsea"
    camera = load_sample("camera")
    assert camera.image.mode == "RGB" and camera.notices == ("grayscale image converted to RGB",)
    if "motorcycle" in available:
        assert load_sample("motorcycle").image.size == (741, 500)
    with pytest.raises(ImageError, match=r"unknown sample image 'dog'; available: chelsea, coffee"):
        load_sample("dog")


def gray16_png(width: int, height: int) -> bytes:
    """A 16-bit grayscale PNG of zeros written row by row: a few KB that decode to 2 bytes per pixel."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(b"\0" * (1 + 2 * width)) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_decode_cost_counts_bytes_per_pixel_and_the_downscale() -> None:
    small = images.decode_cost("RGB", 100, 100)
    assert small == 100 * 100 * (4 + 4 + images.WORK_BYTES_PER_PIXEL)  # Pillow keeps RGB in 4 bytes per pixel
    assert images.decode_cost("I;16", 100, 100) == small - 2 * 100 * 100
    big = images.decode_cost("I;16", 10_000, 10_000)  # the reported 200 KB PNG: 200 MB decoded + working copies
    assert 10_000**2 * 2 < big < 10_000**2 * 6
    assert images.decode_cost("RGBA", 10_000, 10_000) - images.decode_cost("RGB", 10_000, 10_000) == 4 * 10_000**2


def test_an_image_over_the_decode_budget_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = gray16_png(5000, 5000)  # 25 MP: 50 MB decoded, about 318 MB with the downscale's working copies
    assert len(data) < 100_000
    monkeypatch.setenv(images.ENV_MAX_DECODE_MB, "64")
    with pytest.raises(
        ImageError,
        match=r"^big.png: decoding this image would take about 317.8 MB .*\(64.0 MB, set by XAI_MAX_DECODE_MB\)",
    ):
        load_image(data, name="big.png")
    monkeypatch.setenv(images.ENV_MAX_DECODE_MB, "lots")
    with pytest.raises(ImageError, match="XAI_MAX_DECODE_MB must be a number of megabytes; got 'lots'"):
        load_image(data)
    monkeypatch.setenv(images.ENV_MAX_DECODE_MB, "512")
    loaded = load_image(data, name="big.png")
    assert loaded.image.size == (4096, 4096) and images.DECODE_GATE.reserved == 0


def test_the_decode_gate_bounds_concurrency_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    monkeypatch.setenv(images.ENV_MAX_DECODE_MB, "3")
    gate = images.DecodeGate(slots=2)
    seen: list[tuple[int, int]] = []
    errors: list[Exception] = []

    def decode(cost: int) -> None:
        try:
            with gate.reserve(cost, "x", wait_s=30):
                seen.append((gate.active, gate.reserved))
                time.sleep(0.05)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=decode, args=(2**20 * (1 + k % 2),)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and len(seen) == 8
    assert max(a for a, _ in seen) <= 2 and max(r for _, r in seen) <= 3 * 2**20
    assert (gate.active, gate.reserved) == (0, 0)
    busy = pytest.raises(ImageError, match=r"^y: the server is busy decoding")
    with gate.reserve(3 * 2**20, "x"), busy, gate.reserve(1, "y", wait_s=0.05):
        pass
    assert (gate.active, gate.reserved) == (0, 0)  # a refused or finished decode gives its share back


_PEAK_PROBE = """
import importlib.util, io, sys
from PIL import Image
spec = importlib.util.spec_from_file_location("images", sys.argv[2])  # the module alone: no torch in this process
images = sys.modules["images"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(images)
data = open(sys.argv[1], "rb").read()
header = Image.open(io.BytesIO(data))
estimate = images.decode_cost(header.mode, *header.size)
def status(field):  # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's peak (kept over exec)
    line = next(l for l in open("/proc/self/status") if l.startswith(field + ":"))
    return int(line.split()[1]) * 1024
now = status("VmRSS")
images.load_image(data)
print(status("VmHWM") - now, estimate)
"""


@pytest.mark.parametrize("kind", ["gray16", "rgba"])
def test_decoding_stays_within_its_estimate(kind: str, tmp_path: Path) -> None:
    """The peak memory of a worst-case upload (a large image in a small file) stays under ``decode_cost``."""
    import os
    import subprocess
    import sys

    side = 5000  # 25 MP, larger than MAX_SIDE so the downscale path runs
    if kind == "gray16":
        data = gray16_png(side, side)
    else:
        data = encode(Image.new("RGBA", (side, side), (10, 20, 30, 128)), "PNG", compress_level=1)
    path = tmp_path / "probe.png"
    path.write_bytes(data)
    env = {**os.environ, images.ENV_MAX_DECODE_MB: "4096"}
    command = [sys.executable, "-c", _PEAK_PROBE, str(path), images.__file__]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    growth, estimate = (int(v) for v in out.stdout.split())
    assert 0 < growth <= estimate, (growth, estimate)

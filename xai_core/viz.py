"""Turning attributions into pictures: channel reduction, normalisation, colour maps, overlays, file bytes.

numpy and OpenCV only. Tensors are accepted (anything with ``detach``) but torch is never imported here, so the
app can render cached numpy maps without touching the engine.

The conventions follow the papers and PAIR-code/saliency's ``VisualizeImageGrayscale``: a map is reduced over
colour channels by its method's rule (``reduce``), scaled by a high percentile of its magnitude so a few extreme
pixels do not wash out the rest (``normalize``), then coloured with a 256-entry look-up table (``colorize``).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

REDUCTIONS = ("max_abs", "abs_sum", "sum", "none")

_OPENCV_CMAPS = {
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "turbo": cv2.COLORMAP_TURBO,
    "jet": cv2.COLORMAP_JET,
    "hot": cv2.COLORMAP_HOT,
    "bone": cv2.COLORMAP_BONE,
}
# ColorBrewer RdBu (reversed) anchors, RGB: dark blue for -1, white for 0, dark red for +1.
_DIVERGING_ANCHORS = np.array(
    [
        (5, 48, 97),
        (33, 102, 172),
        (67, 147, 195),
        (146, 197, 222),
        (209, 229, 240),
        (247, 247, 247),
        (253, 219, 199),
        (244, 165, 130),
        (214, 96, 77),
        (178, 24, 43),
        (103, 0, 31),
    ],
    dtype=np.float64,
)
DIVERGING = "blue_white_red"
COLORMAPS = (*_OPENCV_CMAPS, "gray", DIVERGING)


def _diverging_lut() -> np.ndarray:
    at = np.linspace(0.0, 1.0, len(_DIVERGING_ANCHORS))
    x = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(x, at, _DIVERGING_ANCHORS[:, c]) for c in range(3)], axis=1)
    return np.round(lut).astype(np.uint8)


def _opencv_lut(code: int) -> np.ndarray:
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    return cv2.cvtColor(cv2.applyColorMap(ramp, code), cv2.COLOR_BGR2RGB).reshape(256, 3)


def _build_luts() -> dict[str, np.ndarray]:
    luts = {name: _opencv_lut(code) for name, code in _OPENCV_CMAPS.items()}
    luts["gray"] = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    luts[DIVERGING] = _diverging_lut()
    for lut in luts.values():
        lut.setflags(write=False)
    return luts


_LUTS = _build_luts()


def _as_numpy(array: Tensor | np.ndarray) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor, without importing torch
        return np.asarray(array.detach().float().cpu().numpy())
    return np.asarray(array)


def reduce(attributions: Tensor | np.ndarray, how: str) -> np.ndarray:
    """Reduce ``[B, C, H, W]`` (or ``[C, H, W]``) attributions to 2-D maps ``[B, H, W]`` (float32).

    Args:
        attributions: per-channel attributions, a tensor or array.
        how: ``"max_abs"`` (max over channels of ``|a|``, Simonyan et al. 2014,
            https://arxiv.org/abs/1312.6034), ``"abs_sum"`` (sum of ``|a|`` over channels), ``"sum"`` (signed sum over
            channels) or ``"none"`` (the channel dimension must have size 1 and is squeezed; CAM methods).

    Returns:
        float32 array ``[B, H, W]``.

    Raises:
        ValueError: unknown ``how``, wrong number of dimensions, or ``"none"`` with more than one channel.
    """
    a = _as_numpy(attributions).astype(np.float32, copy=False)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"attributions must be [B, C, H, W] or [C, H, W]; got shape {tuple(a.shape)}")
    if how == "max_abs":
        out = np.abs(a).max(axis=1)
    elif how == "abs_sum":
        out = np.abs(a).sum(axis=1)
    elif how == "sum":
        out = a.sum(axis=1)
    elif how == "none":
        if a.shape[1] != 1:
            raise ValueError(f"reduction 'none' needs a single channel; got {a.shape[1]} channels")
        out = a[:, 0]
    else:
        raise ValueError(f"how must be one of {list(REDUCTIONS)}; got {how!r}")
    return np.ascontiguousarray(out, dtype=np.float32)


def normalize(
    maps: np.ndarray,
    *,
    signed: bool = False,
    percentile: float = 99.0,
    shared: bool = False,
) -> np.ndarray:
    """Scale maps for display: ``[0, 1]`` (absolute) or ``[-1, 1]`` (signed), clipped at a percentile.

    Absolute mode shows ``|m| / s`` and signed mode ``m / s``, where ``s`` is the ``percentile``-th percentile of
    ``|m|``; values beyond ``s`` are clipped. The scale is computed per map, or once over the whole batch when
    ``shared`` is True, so that maps stacked from several methods can be compared on one scale. Non-finite values
    count as 0; a map whose scale is 0 (all zero, or zero up to the percentile) falls back to its maximum and, if
    that is 0 too, is returned as zeros.

    Args:
        maps: ``[H, W]`` or ``[B, H, W]``.
        signed: keep the sign (for methods with positive and negative evidence).
        percentile: in ``(0, 100]``; 100 scales by the maximum.
        shared: one scale for all maps instead of one per map.

    Returns:
        float32 array of the same shape as ``maps``.
    """
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (0, 100]; got {percentile!r}")
    m = np.nan_to_num(np.asarray(maps, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    single = m.ndim == 2
    if single:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"maps must be [H, W] or [B, H, W]; got shape {tuple(np.shape(maps))}")
    mag = np.abs(m)
    axes = None if shared else (1, 2)
    scale = np.percentile(mag, percentile, axis=axes, keepdims=True) if mag.size else np.zeros((1, 1, 1))
    peak = mag.max(axis=axes, keepdims=True) if mag.size else np.zeros((1, 1, 1))
    scale = np.where(scale > 0, scale, peak)
    safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
    out = np.clip(m / safe, -1.0, 1.0) if signed else np.clip(mag / safe, 0.0, 1.0)
    out = out.astype(np.float32)
    return out[0] if single else out


def colorize(map2d: np.ndarray, cmap: str = "inferno", *, signed: bool = False) -> np.ndarray:
    """Colour a normalised 2-D map with a 256-entry look-up table.

    Args:
        map2d: ``[H, W]`` in ``[0, 1]``, or in ``[-1, 1]`` when ``signed`` (0 then maps to the middle colour).
        cmap: one of ``COLORMAPS``: the OpenCV maps (inferno, viridis, magma, plasma, turbo, jet, hot, bone), gray,
            and ``"blue_white_red"`` (diverging, meant for signed maps).
        signed: the map is in ``[-1, 1]``.

    Returns:
        uint8 RGB image ``[H, W, 3]``.
    """
    if cmap not in _LUTS:
        raise ValueError(f"cmap must be one of {list(COLORMAPS)}; got {cmap!r}")
    m = np.nan_to_num(np.asarray(map2d, dtype=np.float32))
    if m.ndim != 2:
        raise ValueError(f"map2d must be [H, W]; got shape {tuple(m.shape)}")
    unit = (np.clip(m, -1.0, 1.0) + 1.0) / 2.0 if signed else np.clip(m, 0.0, 1.0)
    idx = np.round(unit * 255.0).astype(np.uint8)
    return _LUTS[cmap][idx]


def overlay(
    image_uint8: np.ndarray,
    map2d: np.ndarray,
    *,
    alpha: float = 0.5,
    cmap: str | None = None,
    signed: bool = False,
) -> np.ndarray:
    """Blend a coloured map over an RGB image: ``(1 - alpha) * image + alpha * colorize(map)``.

    Args:
        image_uint8: ``[H, W, 3]`` uint8 RGB (a ``[H, W]`` grey image is expanded).
        map2d: normalised ``[h, w]`` map (see ``normalize``); resized to ``H x W`` with bilinear interpolation.
        alpha: weight of the map in ``[0, 1]``; 0 returns the image unchanged.
        cmap: colour map name; defaults to ``"inferno"``, or ``"blue_white_red"`` when ``signed``.
        signed: the map is in ``[-1, 1]``.

    Returns:
        uint8 RGB image ``[H, W, 3]``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha!r}")
    image = np.asarray(image_uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be [H, W, 3] RGB; got shape {tuple(image.shape)}")
    image = image.astype(np.uint8, copy=False)
    m: np.ndarray = np.asarray(map2d, dtype=np.float32)
    height, width = image.shape[:2]
    if m.shape != (height, width):
        m = np.asarray(cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    colour = colorize(m, cmap or (DIVERGING if signed else "inferno"), signed=signed)
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * colour.astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def wipe(left: np.ndarray, right: np.ndarray, fraction: float, *, line: int = 2) -> np.ndarray:
    """A before/after comparison: ``left``'s columns up to ``fraction`` of the width, ``right``'s after, with a
    white dividing line ``line`` pixels wide (none at the edges). Both images must have the same shape."""
    a, b = np.asarray(left), np.asarray(right)
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape; got {a.shape} and {b.shape}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1]; got {fraction!r}")
    split = round(fraction * a.shape[1])
    out = b.copy()
    out[:, :split] = a[:, :split]
    if 0 < split < a.shape[1] and line > 0:
        out[:, max(0, split - line // 2) : split + (line + 1) // 2] = 255
    return out


def to_png_bytes(rgb: np.ndarray) -> bytes:
    """Encode a uint8 ``[H, W, 3]`` RGB (or ``[H, W]`` grey) image as PNG bytes."""
    img = np.asarray(rgb)
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8; got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim != 2:
        raise ValueError(f"image must be [H, W, 3] or [H, W]; got shape {tuple(img.shape)}")
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - OpenCV fails only on invalid sizes
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def to_npy_bytes(array: Any) -> bytes:
    """Serialise an array (or tensor) in NumPy's ``.npy`` format; read back with ``np.load(io.BytesIO(b))``."""
    buf = io.BytesIO()
    np.save(buf, _as_numpy(array), allow_pickle=False)
    return buf.getvalue()


def scales(maps: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """The display scale ``s`` of each map ``[B, H, W]`` as ``normalize`` computes it (percentile of ``|m|``,
    its maximum when that is 0): comparing them tells whether one shared scale would blank some maps."""
    m = np.abs(np.nan_to_num(np.asarray(maps, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0))
    if m.ndim == 2:
        m = m[None]
    found = np.percentile(m.reshape(len(m), -1), percentile, axis=1) if m.size else np.zeros(len(m))
    return np.where(found > 0, found, m.reshape(len(m), -1).max(axis=1, initial=0.0))


def colorbar(cmap: str = "inferno", *, signed: bool = False, width: int = 256, height: int = 10) -> np.ndarray:
    """A horizontal colour bar, uint8 ``[height, width, 3]``: 0 (left) to 1, or -1 to 1 when ``signed``, as
    ``colorize`` maps normalised values."""
    ramp = np.linspace(-1.0 if signed else 0.0, 1.0, width, dtype=np.float32)
    return np.repeat(colorize(np.tile(ramp, (height, 1)), cmap, signed=signed), 1, axis=0)

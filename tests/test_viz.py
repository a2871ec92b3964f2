"""Exact small cases for xai_core.viz: reductions, percentile scaling, colour maps, overlays, file bytes."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from xai_core import viz


@pytest.fixture
def attributions() -> np.ndarray:
    # [B=1, C=3, H=1, W=2]: pixel 0 has channels (1, -2, 0.5), pixel 1 has (-3, 1, 1)
    return np.array([[[[1.0, -3.0]], [[-2.0, 1.0]], [[0.5, 1.0]]]], dtype=np.float32)


def test_reduce_conventions(attributions: np.ndarray) -> None:
    np.testing.assert_allclose(viz.reduce(attributions, "max_abs"), [[[2.0, 3.0]]])
    np.testing.assert_allclose(viz.reduce(attributions, "abs_sum"), [[[3.5, 5.0]]])
    np.testing.assert_allclose(viz.reduce(attributions, "sum"), [[[-0.5, -1.0]]])
    out = viz.reduce(attributions, "max_abs")
    assert out.dtype == np.float32 and out.shape == (1, 1, 2)


def test_reduce_accepts_chw_and_tensors(attributions: np.ndarray) -> None:
    np.testing.assert_allclose(viz.reduce(attributions[0], "sum"), [[[-0.5, -1.0]]])
    from_tensor = viz.reduce(torch.from_numpy(attributions).requires_grad_(), "abs_sum")
    np.testing.assert_allclose(from_tensor, [[[3.5, 5.0]]])


def test_reduce_none_squeezes_single_channel() -> None:
    cam = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    np.testing.assert_array_equal(viz.reduce(cam, "none"), cam[:, 0])
    with pytest.raises(ValueError, match="single channel"):
        viz.reduce(np.zeros((1, 3, 2, 2)), "none")


@pytest.mark.parametrize(("shape", "how"), [((2, 2), "sum"), ((1, 1, 1, 2, 2), "sum"), ((1, 3, 2, 2), "mean")])
def test_reduce_rejects_bad_input(shape: tuple[int, ...], how: str) -> None:
    with pytest.raises(ValueError):
        viz.reduce(np.zeros(shape), how)


def test_normalize_percentile_clipping() -> None:
    m = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    np.testing.assert_allclose(viz.normalize(m, percentile=100.0), [[0.0, 0.25, 0.5, 0.75, 1.0]])
    # the median of |m| is 2: everything from 2 up is clipped to 1
    np.testing.assert_allclose(viz.normalize(m, percentile=50.0), [[0.0, 0.5, 1.0, 1.0, 1.0]])


def test_normalize_absolute_and_signed() -> None:
    m = np.array([[-4.0, -2.0, 0.0, 1.0, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(viz.normalize(m, percentile=100.0), [[1.0, 0.5, 0.0, 0.25, 0.5]])
    np.testing.assert_allclose(viz.normalize(m, signed=True, percentile=100.0), [[-1.0, -0.5, 0.0, 0.25, 0.5]])


def test_normalize_shared_vs_per_map_scale() -> None:
    maps = np.array([[[1.0, 2.0]], [[5.0, 10.0]]], dtype=np.float32)  # [B=2, H=1, W=2]
    per_map = viz.normalize(maps, percentile=100.0)
    np.testing.assert_allclose(per_map, [[[0.5, 1.0]], [[0.5, 1.0]]])
    shared = viz.normalize(maps, percentile=100.0, shared=True)
    np.testing.assert_allclose(shared, [[[0.1, 0.2]], [[0.5, 1.0]]])


def test_normalize_zero_and_non_finite_maps() -> None:
    maps = np.zeros((2, 3, 3), dtype=np.float32)
    maps[1, 0, 0] = 2.0  # 99th percentile of a mostly-zero map is small: falls back to the max only if it is 0
    out = viz.normalize(maps)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], 0.0)
    assert out[1, 0, 0] == 1.0
    sparse = np.zeros((10, 10), dtype=np.float32)
    sparse[0, 0] = 3.0  # the 50th percentile is 0: scale falls back to the maximum
    np.testing.assert_allclose(viz.normalize(sparse, percentile=50.0)[0, 0], 1.0)
    nan_map = np.array([[np.nan, np.inf, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(viz.normalize(nan_map, percentile=100.0), [[0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="percentile"):
        viz.normalize(maps, percentile=0.0)


def test_colorize_shapes_and_ends() -> None:
    m = np.array([[0.0, 1.0]], dtype=np.float32)
    for cmap in viz.COLORMAPS:
        rgb = viz.colorize(m, cmap)
        assert rgb.shape == (1, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(viz.colorize(m, "gray"), [[[0, 0, 0], [255, 255, 255]]])
    # jet runs from blue to red (RGB order, not OpenCV's BGR)
    jet = viz.colorize(m, "jet").astype(int)
    assert jet[0, 0, 2] > jet[0, 0, 0] and jet[0, 1, 0] > jet[0, 1, 2]
    with pytest.raises(ValueError, match="cmap"):
        viz.colorize(m, "rainbow-unicorn")


def test_colorize_diverging_signed() -> None:
    rgb = viz.colorize(np.array([[-1.0, 0.0, 1.0]], dtype=np.float32), viz.DIVERGING, signed=True).astype(int)
    blue, middle, red = rgb[0]
    assert blue[2] > blue[0]  # negative evidence is blue
    assert red[0] > red[2]  # positive evidence is red
    assert middle.min() >= 240  # zero is (nearly) white


def test_overlay_shape_dtype_and_resize() -> None:
    image = np.full((8, 6, 3), 100, dtype=np.uint8)
    out = viz.overlay(image, np.ones((4, 3), dtype=np.float32), alpha=0.5, cmap="gray")
    assert out.shape == (8, 6, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.full((8, 6, 3), 178, dtype=np.uint8))  # round(0.5 * 100 + 0.5 * 255)


def test_overlay_alpha_zero_returns_the_image() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(viz.overlay(image, rng.random((5, 7)), alpha=0.0), image)
    np.testing.assert_array_equal(viz.overlay(image, rng.random((5, 7)) * 2 - 1, alpha=0.0, signed=True), image)
    with pytest.raises(ValueError, match="alpha"):
        viz.overlay(image, rng.random((5, 7)), alpha=1.5)


def test_png_round_trip() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    data = viz.to_png_bytes(rgb)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), rgb)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), rgb)


def test_npy_round_trip() -> None:
    maps = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    back = np.load(io.BytesIO(viz.to_npy_bytes(maps)))
    np.testing.assert_array_equal(back, maps)
    assert back.dtype == np.float32


def test_wipe_splits_at_the_fraction_with_a_white_line() -> None:
    left = np.zeros((4, 10, 3), dtype=np.uint8)
    right = np.full((4, 10, 3), 100, dtype=np.uint8)
    out = viz.wipe(left, right, 0.5, line=2)
    assert (out[:, :4] == 0).all() and (out[:, 4:6] == 255).all() and (out[:, 6:] == 100).all()
    np.testing.assert_array_equal(viz.wipe(left, right, 1.0), left)  # no line at the edges
    np.testing.assert_array_equal(viz.wipe(left, right, 0.0), right)
    with pytest.raises(ValueError, match="same shape"):
        viz.wipe(left, right[:, :5], 0.5)

"""Localisation against segmentation masks agrees with Quantus 0.6; WSOL top-5 with its definition."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import quantus
import torch
from PIL import Image

import xai_core
from tests.toys import images, relu_cnn
from xai_core import metrics

B, H, W = 3, 10, 12


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(B, H, W))
    masks = np.zeros((B, H, W), dtype=bool)
    masks[0, 2:6, 3:9] = True
    masks[1, 0:3, :] = True
    masks[2] = rng.random((H, W)) < 0.3
    return maps, masks


def quantus_scores(cls: Any, maps: np.ndarray, masks: np.ndarray, **options: Any) -> np.ndarray:
    x, y = np.zeros((B, 1, H, W)), np.zeros(B, dtype=int)
    metric = cls(disable_warnings=True, **options)
    return np.asarray(metric(model=None, x_batch=x, y_batch=y, a_batch=maps[:, None].copy(),
                             s_batch=masks[:, None].astype(float)), dtype=np.float64)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "settings", "reference", "options"),
    [
        ("relevance_mass_accuracy", {}, quantus.RelevanceMassAccuracy, {}),
        ("relevance_mass_accuracy", {"relevance": "absolute"}, quantus.RelevanceMassAccuracy, {"abs": True}),
        ("relevance_rank_accuracy", {}, quantus.RelevanceRankAccuracy, {}),
        ("top_k_intersection", {"k": 20}, quantus.TopKIntersection, {"k": 20}),
        ("top_k_intersection", {"k": 20, "concept_influence": True}, quantus.TopKIntersection,
         {"k": 20, "concept_influence": True}),
        ("attribution_localisation", {"relevance": "absolute"}, quantus.AttributionLocalisation, {}),
        ("attribution_localisation", {}, quantus.AttributionLocalisation,
         {"abs": False, "positive_attributions": True}),
        ("mask_auc", {}, quantus.AUC, {}),
        ("mask_auc", {"relevance": "absolute"}, quantus.AUC, {"abs": True}),
    ],
)  # fmt: skip
def test_mask_measures_agree_with_quantus(name: str, settings: dict, reference: Any, options: dict) -> None:
    maps, masks = data()
    found = metrics.evaluate(name, maps=maps, masks=masks, **settings)
    # Quantus adds 1e-9 to attribution localisation's denominator (after dividing the maps by their maximum)
    np.testing.assert_allclose(found.per_image, quantus_scores(reference, maps, masks, **options), rtol=1e-9)
    assert found.higher_is_better


def test_closed_forms() -> None:
    maps, masks = np.ones((1, H, W)), np.zeros((1, H, W), dtype=bool)
    masks[0, :5] = True  # half the image
    uniform = {"maps": maps, "masks": masks}
    assert metrics.evaluate("relevance_mass_accuracy", **uniform).value == pytest.approx(0.5)
    # Kohlbrenner's weighted ratio: 1 for a uniform map, whatever the object's size
    assert metrics.evaluate("attribution_localisation", **uniform, weighted=True).value == pytest.approx(1.0)
    assert metrics.evaluate("mask_auc", **uniform).value == pytest.approx(0.5)  # all ties: chance
    perfect = {"maps": masks.astype(float) + 0.1 * np.random.default_rng(1).random((1, H, W)), "masks": masks}
    for name in ("relevance_rank_accuracy", "mask_auc"):
        assert metrics.evaluate(name, **perfect).value == pytest.approx(1.0)
    assert metrics.evaluate("top_k_intersection", **perfect, k=60).value == pytest.approx(1.0)
    assert metrics.evaluate("top_k_intersection", **perfect, k=60, concept_influence=True).value == pytest.approx(2.0)


def test_masks_are_validated() -> None:
    maps, masks = data()
    with pytest.raises(ValueError, match=r"masks must be \[batch, height, width\] like the maps \(3, 10, 12\); got"):
        metrics.evaluate("mask_auc", maps=maps, masks=masks[:, :5])
    with pytest.raises(ValueError, match="masks must be boolean or 0/1; got values such as"):
        metrics.evaluate("mask_auc", maps=maps, masks=masks * 255)
    empty = masks.copy()
    empty[1] = False
    with pytest.raises(ValueError, match="image 1: its mask covers no pixel"):
        metrics.evaluate("relevance_mass_accuracy", maps=maps, masks=empty)
    with pytest.raises(xai_core.ParameterError, match=r"top_k_intersection: parameter 'k' must be an integer in "
                       r"\[1, 120\]; got 121"):  # fmt: skip
        metrics.evaluate("top_k_intersection", maps=maps, masks=masks, k=121)
    with pytest.raises(xai_core.ParameterError, match=r"parameter 'relevance' must be one of \['signed', 'positive', "
                       r"'absolute'\]; got 'abs'"):  # fmt: skip
        metrics.evaluate("mask_auc", maps=maps, masks=masks, relevance="abs")
    one = metrics.evaluate("mask_auc", maps=maps[:1], masks=torch.from_numpy(masks[0]).float())
    assert one.per_image.shape == (1,)


def test_mask_from_image_follows_the_wrappers_preprocessing() -> None:
    class Geometry:  # the two fields of a load_model wrapper that preprocess uses for its geometry
        resize, input_size = 8, (8, 8)

    picture = np.zeros((20, 40), dtype=np.uint8)
    picture[:, 15:25] = 255  # 20x40 -> 8x16 (columns 6:10) -> centre crop of columns 4:12 -> columns 2:6
    mask = metrics.mask_from_image(Image.fromarray(picture), Geometry())
    assert mask.shape == (8, 8) and mask.dtype == bool
    assert mask[:, 2:6].all() and not mask[:, :2].any() and not mask[:, 6:].any()
    assert metrics.mask_from_image(picture).shape == (20, 40)


def test_wsol_top5_needs_the_true_class_in_the_top_k_and_the_box() -> None:
    model, x = relu_cnn(classes=6), images(batch=3, size=16)
    top2 = model(x).topk(2, dim=1).indices
    maps = np.zeros((3, 16, 16))
    maps[:, 4:9, 5:12] = 1.0
    boxes = [[(5, 4, 12, 9)], [(0, 0, 4, 4)], [(5, 4, 12, 10)]]  # IoU 1, 0, 35/42
    outside = next(c for c in range(6) if c not in top2[0].tolist())
    target = [outside, int(top2[1, 1]), int(top2[2, 1])]
    found = metrics.evaluate("wsol_top5", model=model, inputs=x, maps=maps, boxes=boxes, target=target, k=2)
    assert isinstance(found, metrics.TopKBoxResult)
    np.testing.assert_array_equal(found.in_top_k, [False, True, True])
    np.testing.assert_allclose(found.ious, [1.0, 0.0, 35 / 42])
    np.testing.assert_array_equal(found.per_image, [0.0, 0.0, 1.0])
    assert found.value == found.accuracy == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="wsol_top5 needs target: the true class of each image"):
        metrics.evaluate("wsol_top5", model=model, inputs=x, maps=maps, boxes=boxes)
    with pytest.raises(xai_core.ParameterError, match=r"parameter 'k' must be an integer in \[1, 6\]; got 7"):
        metrics.evaluate("wsol_top5", model=model, inputs=x, maps=maps, boxes=boxes, target=target, k=7)


def test_describe_carries_what_a_page_needs() -> None:
    rows = {row["name"]: row for row in metrics.describe()}
    for name in ("relevance_mass_accuracy", "relevance_rank_accuracy", "top_k_intersection",
                 "attribution_localisation", "mask_auc"):  # fmt: skip
        row = rows[name]
        assert row["family"] == "localization" and row["needs"] == ["maps", "masks"] and row["higher_is_better"]
        assert row["title"] and row["summary"] and row["paper"] and row["url"].startswith("https://")
    assert rows["wsol_top5"]["needs"] == ["model", "inputs", "maps", "boxes"]
    assert metrics.available("localization", needs=("maps", "masks")) == [
        "relevance_mass_accuracy", "relevance_rank_accuracy", "top_k_intersection", "attribution_localisation",
        "mask_auc",
    ]  # fmt: skip

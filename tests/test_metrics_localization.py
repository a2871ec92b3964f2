"""Localisation metrics on hand-made maps: pointing games (TorchRay semantics), WSOL, box files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import xai_core
from xai_core import metrics


def peak_map(x: int, y: int, size: int = 64) -> np.ndarray:
    m = np.zeros((size, size), dtype=np.float32)
    m[y, x] = 1.0
    return m


@pytest.mark.parametrize(
    ("box", "hit"),
    [
        ((20, 20, 40, 40), True),  # the point (30, 30) itself
        ((44, 10, 60, 50), True),  # 14 px to the right: inside the 15 px tolerance
        ((45, 10, 60, 50), False),  # 15 px: TorchRay's test is strict, d^2 < 15^2
        ((10, 10, 16, 50), False),  # x1 is exclusive: the nearest column is 15, 15 px away
        ((41, 41, 60, 60), False),  # diagonal: (11, 11) away, 242 >= 225; a square dilation would hit
        ((40, 40, 60, 60), True),  # (10, 10) away, 200 < 225
    ],
)
def test_pointing_game_tolerance(box: tuple[int, int, int, int], hit: bool) -> None:
    result = metrics.pointing_game(peak_map(30, 30), [box])
    assert result.per_image.tolist() == [float(hit)] and result.value == float(hit)
    assert result.points.tolist() == [[30, 30]] and result.higher_is_better


def test_pointing_game_batch_ties_several_boxes_and_zero_tolerance() -> None:
    tie = np.zeros((64, 64))
    tie[5, 50] = tie[40, 3] = 2.0  # equal maxima: the first in row-major order, (x=50, y=5), is the point
    maps = np.stack([peak_map(30, 30), tie])
    boxes = [[(0, 0, 5, 5), (28, 28, 33, 33)], [(45, 0, 55, 10)]]
    result = metrics.pointing_game(maps, boxes)
    assert result.per_image.tolist() == [1.0, 1.0] and result.points.tolist() == [[30, 30], [50, 5]]
    assert metrics.pointing_game(tie[None], [[(0, 35, 8, 45)]]).value == 0.0
    assert metrics.pointing_game(peak_map(30, 30), [(31, 30, 40, 40)], tolerance=0).value == 0.0
    assert metrics.pointing_game(peak_map(30, 30), [(30, 30, 31, 31)], tolerance=0).value == 1.0
    assert metrics.pointing_game(torch.from_numpy(maps), np.array([[28, 28, 33, 33], [0, 0, 2, 2]])).value == 0.5


def test_energy_pointing_game_exact() -> None:
    m = np.array(
        [
            [1.0, 2.0, 0.0, 0.0],
            [3.0, 4.0, 0.0, -5.0],  # negative values carry no energy
            [0.0, 0.0, 6.0, 0.0],
            [0.0, 0.0, 0.0, 4.0],
        ]
    )
    result = metrics.energy_pointing_game(m, [(0, 0, 2, 2)])  # columns 0..1, rows 0..1: 1 + 2 + 3 + 4 = 10 of 20
    assert result.value == pytest.approx(0.5) and result.higher_is_better
    union = metrics.energy_pointing_game(m, [[(0, 0, 2, 2), (1, 1, 3, 3)]])  # adds 6 (row 2, column 2) once
    assert union.value == pytest.approx(16 / 20)
    assert metrics.energy_pointing_game(-np.ones((4, 4)), [(0, 0, 2, 2)]).value == 0.0


def test_extended_pointing_precision_curve_by_hand() -> None:
    m = np.array([[4.0, 3.0, 2.0, 1.0]])  # total energy 10; boxes cover columns 0 and 2
    curve = metrics.extended_pointing_precision(m, [[(0, 0, 1, 1), (2, 0, 3, 1)]], points=5)
    np.testing.assert_allclose(curve.fractions, [0.0, 0.25, 0.5, 0.75, 1.0])
    # p*10 = 0, 2.5, 5, 7.5, 10 -> smallest top sets {4}, {4}, {4,3}, {4,3,2}, {4,3,2,1}
    np.testing.assert_array_equal(curve.counts, [[1, 1, 2, 3, 4]])
    np.testing.assert_allclose(curve.scores, [[1.0, 1.0, 0.5, 2 / 3, 0.5]])
    expected_auc = 0.25 * ((1 + 1) / 2 + (1 + 0.5) / 2 + (0.5 + 2 / 3) / 2 + (2 / 3 + 0.5) / 2)
    np.testing.assert_allclose(curve.auc, [expected_auc])
    assert curve.higher_is_better and curve.name == "extended_pointing_precision"
    exact = metrics.extended_pointing_precision(np.array([[3.0, 0.0, 7.0, 0.0]]), [(2, 0, 4, 1)], points=11)
    # p = 0.7 needs exactly the 7 (no rounding slip to two pixels); zeros never join the set.
    assert exact.counts[0].tolist() == [1] * 8 + [2] * 3
    np.testing.assert_allclose(exact.scores[0], [1.0] * 8 + [0.5] * 3)


def test_wsol_iou_exact_on_a_hand_made_blob() -> None:
    m = np.full((10, 10), 0.1)  # below 20% of the maximum: background
    m[2:5, 3:7] = 1.0  # the largest component: box (3, 2, 7, 5), 12 pixels
    m[8, 8] = m[9, 9] = 0.9  # a smaller (8-connected) component elsewhere
    result = metrics.wsol(m, [(3, 2, 8, 5)])  # 15 pixels; intersection 12
    assert result.boxes.tolist() == [[3, 2, 7, 5]]
    assert result.value == pytest.approx(12 / 15) and result.accuracy == 1.0 and result.higher_is_better
    two = metrics.wsol(np.stack([m, m]), [[(0, 0, 2, 2), (3, 2, 7, 5)], [(0, 0, 1, 1)]])  # best box; a miss
    assert two.per_image.tolist() == [1.0, 0.0] and two.accuracy == 0.5


def test_wsol_joins_diagonal_neighbours_and_handles_empty_maps() -> None:
    m = np.zeros((6, 6))
    m[1, 1] = m[2, 2] = m[3, 3] = 1.0  # one 8-connected component of 3 pixels
    m[5, 0] = m[5, 1] = 1.0  # 2 pixels
    assert metrics.wsol(m, [(1, 1, 4, 4)]).boxes.tolist() == [[1, 1, 4, 4]]
    empty = metrics.wsol(np.zeros((6, 6)), [(1, 1, 4, 4)])
    assert empty.boxes.tolist() == [[0, 0, 0, 0]] and empty.value == 0.0


def test_box_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="one entry per image: 2 images, 1 entries"):
        metrics.pointing_game(np.zeros((2, 8, 8)), [(0, 0, 2, 2)])
    with pytest.raises(ValueError, match=r"image 0: box \(4, 0, 2, 2\) must have x1 > x0"):
        metrics.energy_pointing_game(np.zeros((8, 8)), [(4, 0, 2, 2)])
    with pytest.raises(ValueError, match="cover no pixel of the 8x8 map"):
        metrics.pointing_game(np.zeros((8, 8)), [(10, 10, 12, 12)])


def test_read_boxes_from_csv_and_json(tmp_path: Path) -> None:
    csv_file = tmp_path / "boxes.csv"
    csv_file.write_text("image,x0,y0,x1,y1,label\ncat.jpg,1,2,30,40,cat\ncat.jpg,5,5,9,9\ndog.png,0,0,10,10,dog\n")
    boxes = metrics.load_boxes(csv_file)
    assert boxes == {
        "cat.jpg": [metrics.Box(1, 2, 30, 40, "cat"), metrics.Box(5, 5, 9, 9, None)],
        "dog.png": [metrics.Box(0, 0, 10, 10, "dog")],
    }
    assert metrics.pointing_game(peak_map(10, 10), [boxes["cat.jpg"]]).value == 1.0
    json_file = tmp_path / "boxes.json"
    json_file.write_text('{"cat.jpg": [[1, 2, 30, 40], [5, 5, 9, 9, "ear"]]}')
    assert metrics.load_boxes(json_file)["cat.jpg"][1] == metrics.Box(5, 5, 9, 9, "ear")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("b.csv", "cat.jpg,1,2,30,40\ncat.jpg,1,2,30\n", r"b.csv: line 2: expected image,x0,y0,x1,y1\[,label\]"),
        ("b.csv", "cat.jpg,1,2,30,40\n\ndog.jpg,1,x,3,4\n", r"line 3: coordinates must be numbers"),
        ("b.csv", "cat.jpg,10,2,3,40\n", r"line 1: box must have x1 > x0 and y1 > y0"),
        ("b.json", '{"cat.jpg": [[1, 2, 3]]}', r"image 'cat.jpg', box 0: expected x0, y0, x1, y1"),
        ("b.json", '{"cat.jpg": [1, 2, 3, 4]}', r"image 'cat.jpg', box 0: expected x0, y0, x1, y1"),
        ("b.json", '{"cat.jpg": [[1, 2, 3, 4]],\n}', r"line 2: invalid JSON"),
        ("b.txt", "", r"box file must end in .csv or .json; got 'b.txt'"),
    ],
)
def test_bad_box_files_name_the_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        metrics.load_boxes(path)


# --- the survey's extended pointing game and the pointing game's ties --------------------------------------------


def test_extended_pointing_game_is_a_hit_or_miss_per_image_as_the_survey_defines_it() -> None:
    m = np.array([[4.0, 3.0, 2.0, 1.0]])  # energy 10; boxes cover columns 0 and 2
    curve = metrics.extended_pointing_game(m, [[(0, 0, 1, 1), (2, 0, 3, 1)]], points=5)
    # foregrounds {4}, {4}, {4,3}, {4,3,2}, {4,3,2,1}: within the boxes only while they hold the 4 alone
    np.testing.assert_array_equal(curve.scores, [[1.0, 1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(curve.counts, [[1, 1, 2, 3, 4]])
    np.testing.assert_allclose(curve.auc, [0.25 * (1.0 + 0.5)])
    assert curve.name == "extended_pointing_game" and curve.higher_is_better
    inside = metrics.extended_pointing_game(np.array([[0.0, 5.0, 5.0, 0.0]]), [(1, 0, 3, 1)], points=3)
    assert inside.scores.tolist() == [[1.0, 1.0, 1.0]] and inside.value == 1.0  # all the energy lies in the box
    # A batch: value is the AUC of the accuracy curve (the mean of the hits over images), i.e. the mean AUC.
    both = metrics.extended_pointing_game(np.stack([m, np.array([[0.0, 5.0, 5.0, 0.0]])]),
                                          [[(0, 0, 1, 1), (2, 0, 3, 1)], [(1, 0, 3, 1)]], points=5)  # fmt: skip
    accuracy = both.scores.mean(axis=0)
    assert both.value == pytest.approx(metrics.trapezoid_auc(both.fractions, accuracy[None])[0])


def test_pointing_game_ties_first_maximum_or_any_maximum() -> None:
    tie = np.zeros((64, 64))
    tie[5, 50] = tie[40, 3] = 2.0  # the first maximum in row-major order is (x=50, y=5)
    box = [(0, 35, 8, 45)]  # holds only the second maximum
    first = metrics.pointing_game(tie[None], [box], tolerance=0)
    anyone = metrics.pointing_game(tie[None], [box], tolerance=0, ties="any")
    assert first.value == 0.0 and anyone.value == 1.0
    assert first.points.tolist() == anyone.points.tolist() == [[50, 5]]
    near = [(10, 42, 20, 50)]  # 7 px from the second maximum: within the default tolerance only for "any"
    assert metrics.pointing_game(tie[None], [near]).value == 0.0
    assert metrics.pointing_game(tie[None], [near], ties="any").value == 1.0
    with pytest.raises(xai_core.ParameterError, match=r"pointing_game: parameter 'ties' must be one of"):
        metrics.pointing_game(tie[None], [box], ties="all")


def test_pointing_game_with_any_tie_agrees_with_quantus() -> None:
    import quantus

    rng = np.random.default_rng(0)
    maps = rng.integers(0, 12, (40, 16, 16)).astype(np.float32)  # integer maps: most have tied maxima
    corners = rng.integers(0, 12, (40, 2))
    sizes = rng.integers(2, 6, (40, 2))
    boxes = [(int(x), int(y), int(x + w), int(y + h)) for (x, y), (w, h) in zip(corners, sizes, strict=True)]
    masks = np.stack([metrics.box_mask([b], (16, 16)) for b in boxes]).astype(np.float32)
    reference = quantus.PointingGame(disable_warnings=True, display_progressbar=False)(
        model=None, x_batch=np.zeros((40, 3, 16, 16), np.float32), y_batch=np.zeros(40, int),
        a_batch=maps[:, None], s_batch=masks[:, None],
    )  # fmt: skip
    ours = metrics.pointing_game(maps, boxes, tolerance=0, ties="any")
    np.testing.assert_array_equal(ours.per_image, np.array(reference, dtype=float))
    first = metrics.pointing_game(maps, boxes, tolerance=0)
    torchray = [float(masks[i].reshape(-1)[int(np.argmax(maps[i]))] > 0) for i in range(40)]  # argmax: first max
    np.testing.assert_array_equal(first.per_image, torchray)
    assert (first.per_image != ours.per_image).any()  # the two conventions differ on these maps

"""Inputs of a dataset evaluation: recursive folders, lists, class labels, Pascal VOC and COCO boxes, PNG masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from evaluation_data import Toy, picture, toy_dataset, toy_evaluation, write_coco, write_voc
from PIL import Image

from xai_core import metrics
from xai_core.cli import main
from xai_core.evaluation import annotations, inputs, read_rows, run
from xai_core.metrics import registry
from xai_core.metrics.records import ScoreResult


def test_folders_are_searched_recursively_and_labels_come_from_a_mapping(tmp_path: Path) -> None:
    for rel in ("n001/a.JPEG", "n002/deep/b.png", "n002/c.webp", ".hidden/d.png", "n001/notes.txt"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".txt"):
            path.write_text("x")
        else:
            picture(0).save(path, format={"JPEG": "JPEG", "png": "PNG", "webp": "WEBP"}[rel.rsplit(".", 1)[1]])
    refs = inputs.scan_folder(tmp_path)
    assert [r.id for r in refs] == ["n001/a.JPEG", "n002/c.webp", "n002/deep/b.png"]
    mapping = tmp_path / "LOC_synset_mapping.txt"
    mapping.write_text("n000 zero, nought\nn001 tench, Tinca tinca\nn002 goldfish\n")
    assert [r.label for r in inputs.with_folder_labels(refs, inputs.read_class_mapping(mapping))] == [1, 2, 2]
    keras = tmp_path / "index.json"
    keras.write_text(json.dumps({"0": ["n002", "goldfish"], "7": ["n001", "tench"]}))
    assert [r.label for r in inputs.with_folder_labels(refs, inputs.read_class_mapping(keras))] == [7, 0, 0]
    table = tmp_path / "map.csv"
    table.write_text("folder,index\nn001,3\n")
    assert [r.label for r in inputs.with_folder_labels(refs, inputs.read_class_mapping(table))] == [3, None, None]


def test_lists_name_files_relative_to_themselves(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    picture(1).save(tmp_path / "imgs" / "x.png")
    listing = tmp_path / "list.csv"
    listing.write_text("path,label\nimgs/x.png,5\nimgs/missing.png,\n")
    refs = inputs.read_list(listing)
    assert [(r.id, r.label) for r in refs] == [("imgs/missing.png", None), ("imgs/x.png", 5)]
    assert refs[1].path == str(tmp_path / "imgs" / "x.png")
    as_json = tmp_path / "list.json"
    as_json.write_text(json.dumps(["imgs/x.png", {"path": "imgs/y.png", "label": 2}]))
    assert [(r.id, r.label) for r in inputs.read_list(as_json)] == [("imgs/x.png", None), ("imgs/y.png", 2)]
    bad = tmp_path / "bad.csv"
    bad.write_text("file\nx.png\n")
    with pytest.raises(ValueError, match="'path' column"):
        inputs.read_list(bad)
    bad.write_text("path,label\nx.png,cat\n")
    with pytest.raises(ValueError, match="label must be a class index"):
        inputs.read_list(bad)


def test_voc_boxes_are_converted_from_one_based_inclusive(tmp_path: Path) -> None:
    write_voc(tmp_path / "Annotations", "000005.jpg", [("chair", 263, 211, 324, 339), ("person", 1, 1, 10, 20)])
    write_voc(tmp_path / "Annotations" / "sub", "000007.jpg", [("car", 141, 50, 500, 330)])
    boxes = annotations.read_annotations(tmp_path / "Annotations")
    assert boxes["000005.jpg"] == [((262.0, 210.0, 324.0, 339.0), "chair"), ((0.0, 0.0, 10.0, 20.0), "person")]
    assert boxes["000007.jpg"] == [((140.0, 49.0, 500.0, 330.0), "car")]
    refs = [inputs.ImageRef("JPEGImages/000005.jpg", "/x/000005.jpg"), inputs.ImageRef("other.jpg", "/x/other.jpg")]
    attached = annotations.attach_boxes(refs, boxes, ["person"])
    assert attached[0].boxes == ((0.0, 0.0, 10.0, 20.0),) and attached[1].boxes is None
    (tmp_path / "broken.xml").write_text("<annotation><object>")
    with pytest.raises(ValueError, match="not valid XML"):
        annotations.read_voc(tmp_path)


def test_coco_boxes_and_the_format_is_detected(tmp_path: Path) -> None:
    path = write_coco(tmp_path / "instances.json", {1: "a.jpg", 2: "b.jpg", 3: "c.jpg"},
                      [(1, 1, [10, 5, 20.5, 8]), (1, 2, [0, 0, 4, 4]), (2, 1, [3, 3, 0, 7])])  # fmt: skip
    boxes = annotations.read_annotations(path)
    assert boxes == {"a.jpg": [((10.0, 5.0, 30.5, 13.0), "cat"), ((0.0, 0.0, 4.0, 4.0), "dog")]}  # zero width gone
    plain = tmp_path / "boxes.json"
    plain.write_text(json.dumps({"a.jpg": [[1, 2, 3, 4]]}))
    assert annotations.read_annotations(plain) == {"a.jpg": [((1.0, 2.0, 3.0, 4.0), None)]}
    bad = write_coco(tmp_path / "bad.json", {1: "a.jpg"}, [(9, 1, [0, 0, 1, 1])])
    with pytest.raises(ValueError, match="names image_id 9"):
        annotations.read_coco(bad)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Toy:
    return toy_dataset(tmp_path_factory.mktemp("toy"), 3)


def test_the_pointing_game_on_voc_boxes_through_the_cli(toy: Toy, tmp_path: Path) -> None:
    voc = tmp_path / "voc"
    write_voc(voc, "img00.png", [("thing", 1, 1, 48, 40)])  # the whole image: every maximum is a hit
    write_voc(voc, "img01.png", [("thing", 1, 1, 2, 2)])  # a corner the centre crop cuts away
    out = tmp_path / "r"
    argv = ["evaluate", *toy.cli(), "--methods", "grad_cam", "--metrics", "pointing_game", "--annotations", str(voc),
            "--out", str(out), "--set", "tolerance=0", "-q"]  # fmt: skip
    assert main(argv) == 0
    rows = read_rows(out).set_index("image")
    assert rows.loc["0/img00.png", "value"] == 1.0 and rows.loc["0/img00.png", "status"] == "ok"
    for image_id in ("1/img01.png", "0/img02.png"):
        assert rows.loc[image_id, "status"] == "not_applicable"
        assert "no annotated box inside the model's crop" in rows.loc[image_id, "error"]


class MaskShare(metrics.Metric):
    """Share of the map's positive mass inside the mask (a test metric needing masks)."""

    name, title, family, summary = "test_mask_share", "Mask share", "localization", "test"
    needs = ("maps", "masks")

    def compute(self, ctx: metrics.MetricContext, **settings: object) -> ScoreResult:
        maps = np.clip(np.asarray(ctx.maps, dtype=np.float64), 0, None)
        masks = np.asarray(ctx.masks, dtype=bool)
        per_image = (maps * masks).sum(axis=(1, 2)) / np.maximum(maps.sum(axis=(1, 2)), 1e-12)
        return ScoreResult(name=self.name, value=float(per_image.mean()), per_image=per_image, higher_is_better=True)


def test_png_masks_follow_the_image_tree_and_reach_metrics_that_need_them(
    toy: Toy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry._METRICS, MaskShare.name, MaskShare)  # removed again after the test
    masks = tmp_path / "masks"
    for image_id, full in (("0/img00.png", True), ("1/img01.png", False)):
        (masks / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((40, 48), 255 if full else 0, dtype=np.uint8)).save(masks / image_id)
    evaluation = toy_evaluation(toy, tmp_path / "r", methods=("saliency",), metric_names=(), settings={})
    evaluation.images = annotations.attach_masks(evaluation.images, masks)
    evaluation.metrics = {MaskShare.name: {}}
    run(evaluation)
    rows = read_rows(tmp_path / "r").set_index("image")
    assert rows.loc["0/img00.png", "value"] == pytest.approx(1.0)
    assert rows.loc["1/img01.png", "value"] == 0.0
    assert rows.loc["0/img02.png", "status"] == "not_applicable"
    wrong = tmp_path / "wrong"
    (wrong / "0").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(wrong / "0" / "img00.png")
    evaluation.images = annotations.attach_masks(inputs.scan_folder(toy.root), wrong)
    evaluation.out = tmp_path / "r2"
    run(evaluation)
    rows = read_rows(tmp_path / "r2").set_index("image")
    assert rows.loc["0/img00.png", "status"] == "error" and "mask img00.png is 8x8" in rows.loc["0/img00.png", "error"]

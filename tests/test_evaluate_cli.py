"""Batch evaluation from the command line: rows per image x method x metric, resumable, summary printed."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

import xai_core
from xai_core.cli import main
from xai_core.images import load_sample


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images")
    load_sample("chelsea").image.save(root / "chelsea.png")
    load_sample("coffee").image.save(root / "coffee.jpg")
    (root / "notes.txt").write_text("not an image")
    (root / "boxes.csv").write_text("image,x0,y0,x1,y1\nchelsea.png,60,20,330,300\ncoffee.jpg,30,20,560,370\n")
    return root


@pytest.mark.slow
def test_evaluate_writes_rows_resumes_and_summarises(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.csv"
    argv = ["evaluate", "--images", str(folder), "--methods", "saliency,grad_cam",
            "--metrics", "insertion,deletion,pointing_game", "--annotations", str(folder / "boxes.csv"),
            "--out", str(out), "--steps", "4"]  # fmt: skip
    assert main(argv) == 0
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 2 * 3
    assert {r["metric"] for r in rows} == {"insertion", "deletion", "pointing_game"}
    assert {r["higher_is_better"] for r in rows if r["metric"] == "deletion"} == {"False"}
    printed = capsys.readouterr()
    assert "grad_cam" in printed.out and "(better)" in printed.out
    assert main(argv) == 0  # a second run computes nothing new
    assert "already done" in capsys.readouterr().err
    with out.open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 12


def test_evaluate_refuses_unknown_names_with_a_message(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--images", str(folder), "--methods", "saliency", "--metrics", "iou", "--out", str(out)])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        main(["evaluate", "--images", str(tmp_path / "missing"), "--methods", "saliency", "--out", str(out)])


def test_box_to_input_follows_resize_and_crop() -> None:
    model = xai_core.load_model()
    image = Image.new("RGB", (512, 256))  # resize 256 -> 512x256, centre crop 224 starts at x=144, y=16
    assert model.box_to_input((144, 16, 368, 240), image.size) == (0.0, 0.0, 224.0, 224.0)
    assert model.box_to_input((0, 0, 100, 100), image.size) == (0.0, 0.0, 0.0, 84.0)

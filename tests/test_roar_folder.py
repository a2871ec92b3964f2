"""ROAR and KAR on a user's model and image folder (xai_core/sanity/roar_folder.py): a tiny seeded data set where
one class is brighter in a known square, the toy CNN of toys.py as the user's checkpoint, and an oracle map that
points at the square (read through ``maps_from``, as maps saved by ``evaluate --save-maps``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn
from toys import relu_cnn

from xai_core.cli import main
from xai_core.evaluation import inputs, read_rows, sink
from xai_core.evaluation.modelspec import ModelSpec, describe
from xai_core.evaluation.spec import RunSpec, SpecMismatch, package_version, write_spec
from xai_core.evaluation.summarize import summary_table
from xai_core.models import ModelError, ModelWrapper
from xai_core.params import ParameterError
from xai_core.request import Request
from xai_core.sanity import roar_data, roar_results
from xai_core.sanity.roar import Modified, Split
from xai_core.sanity.roar_folder import RoarRun, run_roar, split_images
from xai_core.sanity.roar_retrain import FineTuneRetrainer, HeadRetrainer, Training

TOYS = Path(__file__).resolve().parent / "toys.py"
SQUARE = (slice(4, 20), slice(4, 20))  # in the model's 32x32 crop; a quarter of the pixels
PER_CLASS = 30


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # these tiny convolutions are several times faster on one thread of a busy CPU
    yield
    torch.set_num_threads(before)


def write_images(root: Path, per_class: int = PER_CLASS, seed: int = 0) -> Path:
    """``plain/`` and ``square/``: uniform noise in [0.3, 0.7]; ``square/`` images are 0.1 brighter in SQUARE.

    Images are 37x37, the toy wrapper's resize, so the crop is pixels 2..33 and SQUARE lies at 6..21 here. No single
    pixel gives the class away (the brightened values overlap the others); their sum over the square does.
    """
    rng = np.random.default_rng(seed)
    for name in ("plain", "square"):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.uniform(0.3, 0.7, (37, 37, 3))
            if name == "square":
                pixels[6:22, 6:22] += 0.1
            Image.fromarray((pixels * 255).round().astype(np.uint8)).save(root / name / f"{i:02d}.png")
    return root


class Data:
    def __init__(self, root: Path) -> None:
        self.images = write_images(root / "images")
        self.weights = root / "toy.pt"
        torch.save(relu_cnn(seed=3).state_dict(), self.weights)
        self.spec = ModelSpec(f"{TOYS}:relu_cnn", str(self.weights), input_size=32, device="cpu")
        self.model: ModelWrapper = self.spec.build()
        self.refs = inputs.with_folder_labels(inputs.scan_folder(self.images), {"plain": 0, "square": 1})
        self.request = Request.create("saliency")
        self.oracle = self._oracle_folder(root / "oracle")

    def _oracle_folder(self, folder: Path) -> Path:
        """A results folder with saved maps labelled "oracle": 1 on SQUARE, tiny seeded noise elsewhere."""
        folder.mkdir()
        write_spec(folder, RunSpec(model=describe(self.spec, self.model), target="predicted", metrics={},
                                   requests={"oracle": {"request": self.request.to_dict(), "key": self.request.key()}},
                                   version=package_version()))  # fmt: skip
        maps = []
        for k in range(len(self.refs)):
            m = 1e-3 * np.random.default_rng(k).random((32, 32), dtype=np.float32)
            m[SQUARE] += 1.0
            maps.append(m)
        saved = sink.save_maps(folder, "oracle", [r.id for r in self.refs], maps)
        writer = sink.ResultSink(folder)
        key = self.request.key()
        writer.add([sink.row(image=r.id, method="oracle", request_key=key, metric="insertion", settings_hash="x",
                             maps_file=saved, maps_index=k) for k, r in enumerate(self.refs)])  # fmt: skip
        writer.close()
        return folder

    def run(self, out: Path, **changes: Any) -> RoarRun:
        fields: dict[str, Any] = {"out": out, "images": self.refs, "requests": {"oracle": self.request},
                                  "model": self.spec, "maps_from": self.oracle, "fractions": (0.1, 0.3, 0.5),
                                  "seeds": (0,)}  # fmt: skip
        return RoarRun(**{**fields, **changes})


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    return Data(tmp_path_factory.mktemp("roar"))


@pytest.fixture(scope="module")
def oracle_rows(data: Data, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    report = run_roar(data.run(tmp_path_factory.mktemp("oracle-run") / "out", seeds=(0, 1)), model=data.model)
    assert (report.train, report.test, report.classes, report.computed, report.errors) == (44, 16, 2, 8, 0)
    return read_rows(report.out)


def values(rows: pd.DataFrame, method: str, mode: str) -> float:
    return float(rows[(rows["method"] == method) & (rows["metric"] == mode)]["value"].mean())


def test_a_map_on_the_informative_square_beats_the_random_ranking(oracle_rows: pd.DataFrame) -> None:
    # ROAR: removing the square (30% of the pixels cover it) leaves chance; random removal leaves most of it.
    assert values(oracle_rows, "oracle", "roar") < values(oracle_rows, "random", "roar") - 0.25
    # KAR: keeping the top 10% keeps only square pixels, a random 10% only a tenth of them.
    assert values(oracle_rows, "oracle", "kar") > values(oracle_rows, "random", "kar") + 0.05
    curves = {(c.method, c.mode): c for c in roar_results.read_curves(oracle_rows)}
    roar_oracle, roar_random = curves[("oracle", "roar")], curves[("random", "roar")]
    assert roar_oracle.x == (0.0, 0.1, 0.3, 0.5) and curves[("oracle", "kar")].x == (0.1, 0.3, 0.5, 1.0)
    assert roar_oracle.mean[0] == roar_random.mean[0] >= 0.9  # the unmodified model, shared
    assert roar_oracle.mean[2] <= 0.7 and roar_random.mean[2] >= 0.9
    assert roar_oracle.seeds == (0, 1) and roar_oracle.higher_is_better is False


def test_rows_are_a_results_folder_that_summarize_reads(oracle_rows: pd.DataFrame) -> None:
    assert set(oracle_rows["image"]) == {"seed=0", "seed=1"} and set(oracle_rows["metric"]) == {"roar", "kar"}
    assert (oracle_rows["status"] == "ok").all()
    better = dict(zip(oracle_rows["metric"], oracle_rows["higher_is_better"], strict=False))
    assert better == {"roar": False, "kar": True}
    table = summary_table(oracle_rows, resamples=200)
    assert set(table["metric"]) == {"roar", "kar"} and (table["n"] == 2).all()
    assert table[(table["metric"] == "roar")].set_index("method")["rank"].to_dict() == {"oracle": 1, "random": 2}
    long = roar_results.curves_table(roar_results.read_curves(oracle_rows))
    assert list(long.columns) == ["method", "mode", "fraction", "accuracy", "std", "n"] and len(long) == 16


def test_figure_shows_both_modes_with_labels_as_text(oracle_rows: pd.DataFrame) -> None:
    rows = oracle_rows.assign(method=oracle_rows["method"].replace({"oracle": "<a href='x'>o</a>"}))
    figure = roar_results.figure(roar_results.read_curves(rows))
    names = [t.name for t in figure.data if t.name]
    assert "&lt;a href=&#x27;x&#x27;&gt;o&lt;/a&gt; (n=2)" in names and "<a" not in "".join(names)
    assert {t.xaxis for t in figure.data} == {"x", "x2"}  # ROAR and KAR panels
    assert any(t.line.dash == "dash" for t in figure.data if t.name and t.name.startswith("random"))


def test_retraining_is_seeded_and_repeatable(data: Data, tmp_path: Path) -> None:
    mlp = {"retrain": "mlp", "hidden": 16, "iterations": 50}
    first = run_roar(data.run(tmp_path / "a", modes=("roar",), settings=mlp), model=data.model)
    again = run_roar(data.run(tmp_path / "b", modes=("roar",), settings=mlp), model=data.model)
    a, b = (read_rows(r.out).sort_values(["method", "image"]) for r in (first, again))
    assert a["curve"].map(list).tolist() == b["curve"].map(list).tolist()
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    retrainer = HeadRetrainer(data.model.module, data.model.to_model_space, Training(hidden=8), "mlp", chunk=16)
    heads = [retrainer.fit(x, y, 2, seed) for seed in (0, 0, 1)]
    weights = [torch.cat([p.detach().flatten() for p in h.parameters()]) for h in heads]
    assert torch.equal(weights[0], weights[1]) and not torch.allclose(weights[0], weights[2])


def test_whole_model_fine_tuning_is_seeded_and_leaves_the_model_alone(data: Data) -> None:
    model = data.model
    before = copy.deepcopy(model.module.state_dict())
    pixels = torch.stack([model.to_pixels(model.preprocess(Image.open(r.path))[0]) for r in data.refs])
    labels = torch.tensor([int(r.label or 0) for r in data.refs])
    split = Split((pixels * 255).round().to(torch.uint8), labels)
    clean = Modified(split, None, 0.0, False, torch.full((3,), 0.5))
    tuner = FineTuneRetrainer(model.module, model.to_model_space, Training(epochs=8, lr=1e-2, batch=16), chunk=32)
    accuracy = tuner(clean, clean, [0, 0])
    assert accuracy[0] == accuracy[1] >= 0.9  # the same seed, the same model; it learned the training images
    assert all(torch.equal(before[k], v) for k, v in model.module.state_dict().items())
    assert not model.module.training


def test_results_resume_and_a_cancelled_run_keeps_its_finished_units(
    data: Data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    steps: list[str] = []

    def stop() -> bool:
        return len(steps) >= 8  # after the images, the clean model, the oracle maps and a few retrainings

    report = run_roar(data.run(out, maps_from=None), model=data.model,
                      progress=lambda f, what: steps.append(what), should_stop=stop)  # fmt: skip
    assert report.cancelled and 0 < report.computed < 4
    kept = read_rows(out)
    assert len(kept) == report.computed and (out / sink.MAPS_DIR).is_dir()
    # The maps of the first run are reused: explaining again would fail.
    monkeypatch.setattr(roar_data.Worker, "explain", lambda *a, **k: pytest.fail("explained again"))
    resumed = run_roar(data.run(out, maps_from=None), model=data.model)
    assert not resumed.cancelled and resumed.done_before == report.computed
    assert resumed.computed == 4 - report.computed
    more = run_roar(data.run(out, maps_from=None, seeds=(0, 1)), model=data.model)
    assert (more.done_before, more.computed) == (4, 4)
    rows = read_rows(out)
    assert len(rows) == 8 and not rows.duplicated(["method", "metric", "image"]).any()
    merged = kept.merge(rows, on=["method", "metric", "image"])
    assert (merged["value_x"] == merged["value_y"]).all()  # finished rows are never recomputed
    assert run_roar(data.run(out, maps_from=None, seeds=(0, 1)), model=data.model).computed == 0
    with pytest.raises(SpecMismatch, match="fractions"):
        run_roar(data.run(out, maps_from=None, fractions=(0.2, 0.4)), model=data.model)


def test_a_method_whose_maps_fail_gets_error_rows_and_the_others_run(data: Data, tmp_path: Path) -> None:
    broken = Request.create("grad_cam", layer="no.such.layer")
    run = data.run(tmp_path / "out", requests={"broken": broken}, maps_from=None, modes=("kar",), fractions=(0.5,))
    report = run_roar(run, model=data.model)
    rows = read_rows(report.out).set_index("method")
    assert (report.computed, report.errors) == (1, 1)
    assert rows.loc["broken", "status"] == "error" and "have no broken map" in rows.loc["broken", "error"]
    assert rows.loc["random", "status"] == "ok"


def test_maps_from_a_folder_of_another_target_rule_are_refused(data: Data, tmp_path: Path) -> None:
    with pytest.raises(SpecMismatch, match="its target is 'predicted', this run's is 'label'"):
        run_roar(data.run(tmp_path / "out", target="label"), model=data.model)


def test_the_head_needs_a_last_linear_that_is_the_output(data: Data) -> None:
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = relu_cnn(seed=3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2.0 * self.body(x)

    retrainer = HeadRetrainer(Scaled().eval(), data.model.to_model_space, Training(), "linear", chunk=8)
    split = Split(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.tensor([0, 1]))
    with pytest.raises(ModelError, match="retrain='full'"):
        retrainer.features(Modified(split, None, 0.0, False, torch.zeros(3)))
    with pytest.raises(ModelError, match=r"no nn\.Linear"):
        HeadRetrainer(nn.Conv2d(3, 2, 1), data.model.to_model_space, Training(), "linear", chunk=8)


def test_split_is_stratified_seeded_and_refuses_one_class(data: Data) -> None:
    train, test, skipped = split_images([*data.refs, inputs.ImageRef("x.png", "/x.png")], None, 0.25, 0)
    assert len(test) == 16 and sum(r.label for r in test) == 8 and not {r.id for r in train} & {r.id for r in test}
    assert skipped == ["x.png: no class label"]
    assert split_images(data.refs, None, 0.25, 0)[1] == test and split_images(data.refs, None, 0.25, 1)[1] != test
    given = split_images(data.refs[:40], data.refs[40:], 0.25, 0)
    assert [r.id for r in given[1]] == [f"test/{r.id}" for r in data.refs[40:]]
    with pytest.raises(ValueError, match="at least two classes"):
        split_images(data.refs[:20], None, 0.25, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fractions": (0.0, 0.5)}, "fractions must be increasing values in \\(0, 1\\)"),
        ({"seeds": (0, 0)}, "seeds must be distinct"),
        ({"modes": ("road",)}, "modes must be distinct values of"),
        ({"settings": {"l2": -1.0}}, "parameter 'l2' must be a finite number in \\[0.0, 100.0\\]; got -1.0"),
        ({"settings": {"retrain": "scratch"}}, "'retrain' must be one of"),
        ({"requests": {"random": Request.create("saliency")}}, "baseline ranking"),
    ],
)
def test_bad_settings_are_refused_by_name(data: Data, tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        run_roar(data.run(tmp_path / "out", **change), model=data.model)
    assert not (tmp_path / "out").exists()


def test_command_line_then_summarize(data: Data, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    argv = ["roar", "--images", str(data.images), "--model", f"{TOYS}:relu_cnn", "--weights", str(data.weights),
            "--input-size", "32", "--device", "cpu", "--methods", "saliency", "--modes", "roar", "--fractions",
            "0.5", "--training-seeds", "0,1", "--out", str(out), "--set", "iterations=50", "-q"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "44 train and 16 test images of 2 classes" in printed.err and "4 computed now" in printed.err
    assert "saliency" in printed.out and "random" in printed.out  # the accuracy table
    assert main(argv) == 0 and "4 were done, 0 computed now" in capsys.readouterr().err
    assert main(["summarize", str(out), "--resamples", "200", "--formats", "md"]) == 0
    assert "roar ↓" in capsys.readouterr().out
    assert main([*argv[:-3], "--set", "l2=-1"]) == 2
    assert "parameter 'l2' must be" in capsys.readouterr().err

"""The local engine: rows equal to a plain per-image loop, a failing image recorded, resume, refusal, --new-run,
seeds that do not depend on batching, and no Ray import."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from evaluation_data import Toy, toy_dataset, toy_evaluation

import xai_core
from xai_core import metrics
from xai_core.evaluation import read_rows, run
from xai_core.evaluation.plan import RANDOMIZATION
from xai_core.evaluation.spec import SpecMismatch, derive_seed, read_spec, settings_hash
from xai_core.request import Request

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Toy:
    return toy_dataset(tmp_path_factory.mktemp("toy"), 4, broken=True)


def oracle(toy: Toy, method: str, names: list[str], settings: dict) -> dict[tuple[str, str], float]:
    """The old loop: one image per ``attribute`` call, one ``metrics.evaluate_many`` per image."""
    model = toy.model.build()
    request = Request.create(method)
    out = {}
    for image_id in toy.ids:
        if "broken" in image_id:
            continue
        x = model.preprocess(xai_core.load_image(toy.root / image_id).image)
        target = int(model.predict(x).argmax())
        maps = xai_core.attribute(model, x, request, target=target).to_maps()
        resolved = metrics.resolve_many(names, settings)
        for name in names:
            if "seed" in resolved[name]:
                resolved[name]["seed"] = derive_seed(resolved[name]["seed"], image_id)  # the item's own seed
        results = metrics.evaluate_many(names, model=model, inputs=x, maps=maps, target=[target], overrides=resolved)
        out.update({(image_id, n): float(results[n].value) for n in names})
    return out


def test_rows_match_a_per_image_loop_and_a_failing_image_is_recorded(toy: Toy, tmp_path: Path) -> None:
    names = ["insertion", "deletion", "average_drop"]
    evaluation = toy_evaluation(toy, tmp_path / "r", metric_names=tuple(names), batch_size=3)
    report = run(evaluation)
    rows = read_rows(tmp_path / "r")
    assert report.items == len(toy.ids) * 2 * 3 == len(rows) and report.done_before == 0
    assert set(rows["image"]) == set(toy.ids)
    errors = rows[rows["status"] == "error"]
    assert set(errors["image"]) == {"0/broken.png"} and len(errors) == 6  # every item of that image, the rest ran
    assert errors["error"].str.contains("ImageError").all()
    ok = rows[rows["status"] == "ok"].set_index(["image", "method", "metric"])
    for method in ("saliency", "grad_cam"):
        expected = oracle(toy, method, names, {"steps": 4})
        for (image_id, name), value in expected.items():
            assert ok.loc[(image_id, method, name), "value"] == pytest.approx(value, rel=1e-5, abs=1e-7)
    spec = read_spec(tmp_path / "r")
    assert spec is not None and spec.model["checksum"] and spec.target == "predicted"
    key = Request.create("saliency").key()
    assert spec.requests["saliency"]["key"] == key and set(rows[rows["method"] == "saliency"]["request_key"]) == {key}
    hashes = {n: settings_hash(metrics.resolve_many(names, {"steps": 4})[n]) for n in names}
    assert all(rows[rows["metric"] == n]["settings_hash"].eq(h).all() for n, h in hashes.items())
    curves = rows[(rows["metric"] == "insertion") & (rows["status"] == "ok")]["curve"]
    assert all(len(c) == 5 for c in curves)  # steps + 1 points per image, for the mean-curve plots


def test_a_second_run_computes_nothing_and_other_settings_are_refused(toy: Toy, tmp_path: Path) -> None:
    out = tmp_path / "r"
    run(toy_evaluation(toy, out, methods=("saliency",)))
    again = run(toy_evaluation(toy, out, methods=("saliency",)))
    assert again.computed == 0 and again.done_before == again.items == len(toy.ids) * 2
    with pytest.raises(SpecMismatch) as refused:
        run(toy_evaluation(toy, out, methods=("saliency",), settings={"steps": 5}))
    message = str(refused.value)
    assert "metric insertion: steps 4 in the folder, 5 now" in message and "--new-run" in message
    changed = toy_evaluation(toy, out, methods=("saliency",), settings={"steps": 5}, new_run=True)
    beside = run(changed)
    assert beside.out == tmp_path / "r-2" and beside.computed == beside.items
    grown = run(toy_evaluation(toy, out, methods=("saliency", "grad_cam")))  # a method added: only its items run
    assert grown.computed == len(toy.ids) * 2 and len(read_rows(out)) == len(toy.ids) * 4
    with pytest.raises(SpecMismatch, match="model checksum"):
        other = toy_evaluation(toy, out, methods=("saliency",))
        run(replace(other, model=replace(other.model, weights=None)))  # the factory's own initialisation


def test_seeded_requests_do_not_depend_on_batching(toy: Toy, tmp_path: Path) -> None:
    noisy = {"sg": Request.create("saliency", noise={"mode": "smoothgrad", "samples": 3})}
    one = toy_evaluation(toy, tmp_path / "a", settings={"steps": 4, "substrate": "noise"}, batch_size=1, task_size=1)
    four = toy_evaluation(toy, tmp_path / "b", settings={"steps": 4, "substrate": "noise"}, batch_size=4)
    run(replace(one, requests=noisy))
    run(replace(four, requests=noisy))
    a, b = (read_rows(tmp_path / k).sort_values(["image", "metric"]).reset_index(drop=True) for k in "ab")
    assert a["image"].tolist() == b["image"].tolist()
    np.testing.assert_allclose(a["value"], b["value"], rtol=1e-5, atol=1e-7)


def test_model_randomization_rows_per_layer_and_measure(toy: Toy, tmp_path: Path) -> None:
    from xai_core.evaluation import randomization

    settings = randomization.resolve("cascading", "spearman_abs,ssim", seed=1, layers=3)
    evaluation = toy_evaluation(toy, tmp_path / "r", methods=("saliency",), metric_names=("deletion",),
                                randomization=settings, randomization_sample=2)  # fmt: skip
    run(evaluation)
    rows = read_rows(tmp_path / "r")
    layered = rows[(rows["metric"] == RANDOMIZATION) & (rows["status"] == "ok")]
    assert layered["image"].nunique() == 2 and len(layered) == 2 * 3 * 2  # images x layers x measures
    assert layered["layer"].iloc[0] == "11"  # relu_cnn's linear head: from the logits down
    table = randomization.layer_table(rows, resamples=200)
    assert set(table["measure"]) == {"spearman_abs", "ssim"} and table["n"].eq(2).all()
    assert (table["mean"] <= 1.0 + 1e-9).all() and table["high"].ge(table["low"]).all()


def test_the_local_engine_never_imports_ray(toy: Toy, tmp_path: Path) -> None:
    code = (
        "import sys; sys.path[:0] = [{root!r}, {tests!r}]\n"
        "from pathlib import Path\n"
        "from evaluation_data import Toy, toy_evaluation\n"
        "from xai_core.evaluation import run\n"
        "toy = Toy(Path({images!r}), Path({weights!r}), ())\n"
        "report = run(toy_evaluation(toy, Path({out!r}), methods=('saliency',), metric_names=('deletion',)))\n"
        "assert report.computed > 0, report\n"
        "print('ray' in sys.modules, sorted(m for m in sys.modules if m.startswith('ray')))\n"
    ).format(root=str(ROOT), tests=str(ROOT / "tests"), images=str(toy.root), weights=str(toy.weights),
             out=str(tmp_path / "r"))  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False []"

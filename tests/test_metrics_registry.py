"""The metric registry: declarations, validation through the schema, shared work, the README table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from toys import relu_cnn

import xai_core
from xai_core import metrics
from xai_core.cli import main, metric_table_in
from xai_core.params import FloatParam, IntParam, Param

README = Path(__file__).resolve().parent.parent / "README.md"
SIZE = 16


def inputs(batch: int = 2) -> Tensor:
    return torch.rand(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def maps(batch: int = 2) -> np.ndarray:
    return np.random.default_rng(1).random((batch, SIZE, SIZE))


def test_every_metric_declares_itself_once_as_plain_data() -> None:
    described = metrics.describe()
    assert [d["name"] for d in described] == metrics.available()
    json.dumps(described)  # plain data, as xai_core.methods()
    for entry in described:
        cls = metrics.get(entry["name"])
        assert cls.family in metrics.FAMILIES and set(cls.needs) <= set(metrics.NEEDS) and cls.needs
        assert cls.title and cls.summary and cls.paper and cls.url.startswith("http")
        assert all(isinstance(p, Param) and p.help for p in cls.params)
        assert metrics.resolve(cls.name, {}) == {p.name: p.default for p in cls.params}  # defaults are valid
    assert {"insertion", "deletion", "abpc", "average_drop", "sic", "aic", "pointing_game", "wsol"} <= set(
        metrics.available()
    )
    assert metrics.available("localization", needs=("maps", "boxes")) == [
        "pointing_game", "energy_pointing_game", "extended_pointing_game", "extended_pointing_precision", "wsol",
    ]  # fmt: skip
    assert "insertion" not in metrics.available(needs=("maps", "boxes"))
    with pytest.raises(KeyError, match="unknown metric 'iou'; known metrics:"):
        metrics.get("iou")
    with pytest.raises(ValueError, match="family must be one of"):
        metrics.available("speed")


def test_curve_settings_are_declared_once_and_shared() -> None:
    names = ["insertion", "deletion", "deletion_lerf", "aopc_morf", "aopc_lerf", "abpc"]
    assert all(metrics.get(n).params is metrics.CURVE_PARAMS for n in names)
    assert metrics.get("average_drop").params == (metrics.CURVE_PARAMS[3],)  # the same `output` declaration
    steps = {p.name: p for p in metrics.CURVE_PARAMS}["steps"]
    assert (steps.default, steps.low, steps.high) == (100, 1, 10000)


def test_settings_are_validated_by_the_schema_with_the_setting_range_and_value() -> None:
    box = [(0, 0, 4, 4)]
    message = r"pointing_game: parameter 'tolerance' must be a finite number in \[0.0, 1000.0\]; got -1"
    with pytest.raises(xai_core.ParameterError, match=message):
        metrics.evaluate("pointing_game", maps=maps(1), boxes=[box], tolerance=-1)
    with pytest.raises(xai_core.ParameterError, match=r"wsol: unknown parameter\(s\) \['treshold'\]"):
        metrics.wsol(maps(1), [box], treshold=0.3)
    with pytest.raises(ValueError, match="pointing_game needs maps, boxes; missing: boxes"):
        metrics.evaluate("pointing_game", maps=maps(1))
    with pytest.raises(ValueError, match="insertion needs model, inputs, maps; missing: model, inputs"):
        metrics.evaluate("insertion", maps=maps(1))


def test_evaluate_many_scores_each_curve_once() -> None:
    model, x = relu_cnn(), inputs()
    seen: list[int] = []
    handle = model.register_forward_hook(lambda _m, args, _o: seen.append(args[0].shape[0]))
    found = metrics.evaluate_many(
        ["insertion", "deletion", "aopc_morf", "abpc", "average_drop"], model=model, inputs=x, maps=maps(),
        steps=4, chunk_size=100,
    )  # fmt: skip
    handle.remove()
    # one unperturbed forward, three curves (insertion, deletion MoRF, deletion LeRF) of 5 points, one masked pass
    assert seen == [2, 2 * 5, 2 * 5, 2 * 5, 2 * 2]
    assert list(found) == ["insertion", "deletion", "aopc_morf", "abpc", "average_drop"]
    alone = metrics.abpc(model, x, maps(), steps=4)
    np.testing.assert_allclose(found["abpc"].per_image, alone.per_image, atol=1e-9)
    assert found["aopc_morf"].curves[0] is found["deletion"]  # the same curve record, shared


def test_settings_go_to_the_metrics_that_declare_them_and_overrides_to_one() -> None:
    model, x = relu_cnn(), inputs()
    found = metrics.evaluate_many(
        ["insertion", "deletion", "pointing_game"], model=model, inputs=x, maps=maps(), boxes=[(0, 0, 8, 8)] * 2,
        steps=8, tolerance=0.0, overrides={"deletion": {"steps": 4}},
    )  # fmt: skip
    assert found["insertion"].scores.shape == (2, 9) and found["deletion"].scores.shape == (2, 5)
    assert found["pointing_game"].value == metrics.pointing_game(maps(), [(0, 0, 8, 8)] * 2, tolerance=0).value
    with pytest.raises(xai_core.ParameterError, match=r"unknown setting\(s\) \['tolerance'\]"):
        metrics.evaluate_many(["insertion"], model=model, inputs=x, maps=maps(), tolerance=3.0)
    with pytest.raises(xai_core.ParameterError, match=r"overrides name metric\(s\) \['wsol'\]"):
        metrics.evaluate_many(["insertion"], model=model, inputs=x, maps=maps(), overrides={"wsol": {}})


def test_a_metric_that_does_not_apply_is_left_out_of_many_and_raised_alone() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 2)).eval()
    with torch.no_grad():
        model[1].bias[:] = torch.tensor([-100.0, -200.0])  # every logit negative
    found = metrics.evaluate_many(
        ["average_drop", "increase_in_confidence", "insertion"], model=model, inputs=inputs(), maps=maps(),
        output="logit", steps=2,
    )  # fmt: skip
    assert list(found) == ["increase_in_confidence", "insertion"]
    with pytest.raises(metrics.MetricNotApplicable, match="must be positive; use output='probability'"):
        metrics.evaluate("average_drop", model=model, inputs=inputs(), maps=maps(), output="logit")


class MaxSensitivity(metrics.Metric):
    """How a robustness measure of ``xai_core.checks`` fits the registry: it needs an explainer, not a method name.

    Max-sensitivity (Yeh et al. 2019) as ``checks.max_sensitivity`` computes it, for a plain module (pixel space =
    input space): the largest relative change of the explanation over ``samples`` uniform L-inf perturbations.
    """

    name, title, family = "max_sensitivity_demo", "Max-sensitivity", "robustness"
    paper, url = (
        "Yeh et al. On the (In)fidelity and Sensitivity of Explanations. NeurIPS 2019",
        "https://arxiv.org/abs/1901.09392",
    )
    summary = "Largest relative change of the explanation under small input perturbations."
    higher_is_better = False
    needs = ("model", "inputs", "explainer")
    params = (
        FloatParam("radius", 0.02, "L-inf radius of the perturbations", low=1e-9, high=1.0),
        IntParam("samples", 8, "perturbations drawn", low=1, high=1000),
        IntParam("seed", 0, "seed of the perturbations", low=0, high=2**31 - 1),
    )

    def compute(self, ctx: metrics.MetricContext, **s: Any) -> metrics.MetricResult:
        assert ctx.inputs is not None and ctx.explainer is not None
        x = ctx.inputs
        target = torch.as_tensor(ctx.target) if ctx.target is not None else ctx.model(x).argmax(dim=1)
        reference = torch.as_tensor(ctx.explainer(x, target)).reshape(1, x.shape[0], -1)
        noise = torch.rand((s["samples"], *x.shape), generator=torch.Generator().manual_seed(s["seed"])) * 2 - 1
        noisy = (x.unsqueeze(0) + noise * s["radius"]).flatten(0, 1)
        perturbed = torch.as_tensor(ctx.explainer(noisy, target.repeat(s["samples"]))).reshape(
            s["samples"], x.shape[0], -1
        )
        change = (perturbed - reference).norm(dim=2) / reference.norm(dim=2).clamp(min=1e-12)
        per_image = change.max(dim=0).values.numpy()
        return metrics.ScoreResult(
            name=self.name, value=float(per_image.mean()), per_image=per_image, higher_is_better=False
        )


def test_a_robustness_measure_with_an_explainer_fits_the_registry() -> None:
    from xai_core import checks

    model, x = relu_cnn(), inputs()

    def explain(batch: Tensor, target: Tensor, other: Any = None) -> Tensor:
        return xai_core.attribute(model if other is None else other, batch, "saliency", target=target).attributions

    found = metrics.evaluate(MaxSensitivity, model=model, inputs=x, explainer=explain, samples=4, radius=0.05)
    expected = checks.max_sensitivity(model, x, "saliency", radius=0.05, samples=4, seed=0)
    np.testing.assert_allclose(found.per_image, expected.per_sample, rtol=1e-5)
    assert not found.higher_is_better
    with pytest.raises(ValueError, match="max_sensitivity_demo needs model, inputs, explainer; missing: explainer"):
        metrics.evaluate(MaxSensitivity, model=model, inputs=x)


def test_settings_from_text_are_typed_by_their_declaration() -> None:
    parsed = metrics.settings_from_text(["insertion", "pointing_game"], ["steps=20", "substrate=black", "tolerance=3"])
    assert parsed == {"steps": 20, "substrate": "black", "tolerance": 3.0}
    assert metrics.settings_from_text(["sic"], ["keep_monotonous=false"]) == {"keep_monotonous": False}
    with pytest.raises(xai_core.ParameterError, match=r"insertion: parameter 'steps' must be an integer; got 'ten'"):
        metrics.settings_from_text(["insertion"], ["steps=ten"])
    with pytest.raises(xai_core.ParameterError, match=r"unknown setting 'tolerance'"):
        metrics.settings_from_text(["insertion"], ["tolerance=3"])
    with pytest.raises(xai_core.ParameterError, match="settings are name=value"):
        metrics.settings_from_text(["insertion"], ["steps"])


def test_public_functions_document_their_settings_from_the_schema() -> None:
    doc = metrics.insertion.__doc__ or ""
    assert "steps (int, default 100, [1, 10000])" in doc and "granularity (choice, default 'pixel'" in doc


def test_readme_metric_table_matches_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert metric_table_in(README.read_text()) == metrics.markdown_table(), "stale: run `make readme`"
    assert main(["metrics", "--markdown"]) == 0
    assert capsys.readouterr().out.strip() == metrics.markdown_table()


def test_cli_evaluate_takes_metric_names_and_settings_from_the_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    Image.new("RGB", (32, 32)).save(tmp_path / "black.png")
    base = ["evaluate", "--images", str(tmp_path), "--methods", "saliency", "--out", str(tmp_path / "r.csv")]
    for extra, message in (
        (
            ["--metrics", "insertion", "--set", "steps=0"],
            "insertion: parameter 'steps' must be an integer in [1, 10000]",
        ),
        (["--metrics", "insertion", "--set", "tolerance=3"], "unknown setting 'tolerance'"),
        (["--metrics", "insertion,iou"], "unknown metric 'iou'; known metrics: ['abpc',"),
        (["--metrics", "insertion", "--steps", "0"], "parameter 'steps' must be an integer"),
    ):
        assert main(base + extra) == 2  # a one-line message, no traceback (xai_core/evaluation/cli.py)
        assert message in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()  # refused before any model was loaded or row written

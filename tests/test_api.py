"""The public API: argument validation with clear messages, targets, layers, the method schema."""

from __future__ import annotations

import json

import pytest
import torch
from toys import images, relu_cnn

import xai_core
from xai_core import Request
from xai_core.params import BoolParam, ChoiceParam, FloatParam, IntParam, ParameterError, validate


def test_methods_lists_every_method_with_its_schema() -> None:
    listed = {m["name"]: m for m in xai_core.methods.describe()}
    expected = {
        "saliency", "squared_gradient", "input_x_gradient", "deconvnet", "guided_backprop", "rectgrad",
        "grad_cam", "grad_cam_pp", "guided_grad_cam", "fullgrad",
    }  # fmt: skip
    assert expected <= set(listed)
    for entry in listed.values():
        assert entry["family"] in ("vanilla", "integrated", "bias", "postprocess")
        assert entry["paper"] and entry["url"].startswith("https://")
    assert listed["rectgrad"]["params"][0] == {
        "name": "q", "type": "float", "default": 98.0, "help": listed["rectgrad"]["params"][0]["help"],
        "low": 0.0, "high": 100.0,
    }  # fmt: skip
    assert [p["name"] for p in listed["rectgrad"]["params"]] == ["q", "times_input", "padding_trick"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"q": 101.0}, r"rectgrad: parameter 'q' must be a finite number in \[0.0, 100.0\]; got 101.0"),
        ({"q": "high"}, r"parameter 'q' must be a finite number in \[0.0, 100.0\]; got 'high'"),
        (
            {"steps": 3},
            r"unknown parameter\(s\) \['steps'\]; this method takes \['padding_trick', 'q', 'times_input'\]",
        ),
        ({"noise": {"mode": "smoothgrad", "samples": 0}}, r"parameter 'samples' must be an integer in \[1, 10000\]"),
        ({"noise": "blur"}, r"parameter 'mode' must be one of \['smoothgrad', 'smoothgrad_squared', 'vargrad'\]"),
        (
            {"samples": 4},
            r"unknown parameter\(s\) \['samples'\]; this method takes \['padding_trick', 'q', 'times_input'\]",
        ),
        ({"postprocess": "smoothgrad"}, r"postprocess= is now noise="),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        xai_core.attribute(relu_cnn(), images(), "rectgrad", **kwargs)


def test_param_declarations_validate_types() -> None:
    schema = (IntParam("n", 3, low=1, high=5), FloatParam("s", 0.5), ChoiceParam("c", "a", choices=("a", "b")),
              BoolParam("f", False))  # fmt: skip
    assert validate(schema, {"n": 4.0, "c": "b"}, "m") == {"n": 4, "s": 0.5, "c": "b", "f": False}
    for bad in ({"n": 2.5}, {"n": True}, {"s": float("nan")}, {"c": "z"}, {"f": 1}):
        with pytest.raises(ParameterError):
            validate(schema, bad, "m")


def test_unknown_method_and_bad_inputs() -> None:
    with pytest.raises(KeyError, match="unknown method 'nope'; known methods: \\["):
        xai_core.attribute(relu_cnn(), images(), "nope")
    with pytest.raises(ValueError, match=r"float tensor \[batch, channels, height, width\]; got \(3, 12, 12\)"):
        xai_core.attribute(relu_cnn(), images()[0], "saliency")
    with pytest.raises(TypeError, match=r"nn\.Module"):
        xai_core.attribute("not a model", images(), "saliency")


def test_targets_int_sequence_tensor_and_errors() -> None:
    model, x = relu_cnn(), images(batch=2)
    assert xai_core.attribute(model, x, "saliency", target=3).target.tolist() == [3, 3]
    assert xai_core.attribute(model, x, "saliency", target=torch.tensor([0, 2])).target.tolist() == [0, 2]
    with pytest.raises(ValueError, match="one class per sample: 2 samples, 3 targets"):
        xai_core.attribute(model, x, "saliency", target=[0, 1, 2])
    with pytest.raises(ValueError, match=r"output must be one of \['logit', 'probability'\]"):
        xai_core.attribute(model, x, "saliency", output="loss")


def test_layer_by_dotted_name_equals_layer_by_module() -> None:
    model, x = relu_cnn(), images()
    by_name = xai_core.attribute(model, x, "grad_cam", layer="7").attributions
    by_module = xai_core.attribute(model, x, "grad_cam", layer=model[7]).attributions
    torch.testing.assert_close(by_name, by_module)
    with pytest.raises(ParameterError, match="layer 'head' is not a submodule; last conv layers are"):
        xai_core.attribute(model, x, "grad_cam", layer="head")
    with pytest.raises(ParameterError, match="grad_cam needs layer="):
        xai_core.attribute(model, x, "grad_cam")


def test_settings_reproduce_the_map() -> None:
    model, x = relu_cnn(), images()
    first = xai_core.attribute(model, x, "rectgrad", noise=xai_core.Noise("vargrad", samples=3, seed=4), q=90.0)
    settings = json.loads(json.dumps(first.settings()))
    again = xai_core.attribute(model, x, Request.from_dict(settings["request"]), target=settings["target"])
    torch.testing.assert_close(first.attributions, again.attributions)
    assert first.seed == 4 and again.request == first.request


def test_progress_is_reported_up_to_one() -> None:
    seen: list[float] = []
    xai_core.attribute(relu_cnn(), images(), "saliency", noise=xai_core.Noise(samples=6), chunk_size=2,
                       progress=seen.append)  # fmt: skip
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 3


def test_noise_settings_never_mix_with_the_method_parameters() -> None:
    """Issue 11, seam 1: a method that declares ``seed`` or ``samples`` under SmoothGrad/VarGrad."""
    model, x = relu_cnn(), images()
    references = images(batch=2, seed=9)
    result = xai_core.attribute(
        model, x, "expected_gradients", references=references, samples=5, seed=2,
        noise=xai_core.Noise("smoothgrad", samples=3, seed=11),
    )  # fmt: skip
    assert result.params["samples"] == 5 and result.noise is not None and result.noise.samples == 3
    assert result.params["seed"] == 2 and result.noise.seed == 11
    with pytest.raises(ParameterError, match="a Request carries its own settings; also given: \\['steps'\\]"):
        xai_core.attribute(model, x, Request.create("integrated_gradients"), steps=4)

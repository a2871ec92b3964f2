"""The typed request from form to engine, and the seams that used to break on the way (issue 11, issue 16.7)."""

from __future__ import annotations

import json
import math
import pickle

import pytest
import torch
from captum.attr import LayerGradCam
from torch import nn
from toys import images, relu_cnn

import xai_core
from xai_core import Noise, ParameterError, Request, checks

# --- the record --------------------------------------------------------------------------------------------------


def test_a_request_resolves_defaults_and_round_trips_through_json() -> None:
    request = Request.create("integrated_gradients", {"steps": 16.0}, noise={"mode": "vargrad", "samples": 4})
    assert request.params["steps"] == 16 and isinstance(request.params["steps"], int)
    assert request.params["rule"] == "gausslegendre"  # every default filled in
    assert request.noise == Noise("vargrad", samples=4)
    again = Request.from_dict(json.loads(json.dumps(request.to_dict())))
    assert again == request and again.key() == request.key() and hash(again) == hash(request)
    assert request.replace(params={"steps": 17}).key() != request.key()
    assert request.title == "integrated_gradients + VarGrad (4 x 0.15)"
    with pytest.raises(TypeError):
        request.params["steps"] = 3  # type: ignore[index]  # read-only
    copied = pickle.loads(pickle.dumps(request))  # the app's st.cache_data pickles results holding requests
    assert copied == request and dict(copied.params) == dict(request.params)


def test_request_keys_are_stable_and_see_tensor_contents() -> None:
    first = Request.create("integrated_gradients", {"baseline": torch.zeros(1, 3, 4, 4)})
    same = Request.create("integrated_gradients", {"baseline": torch.zeros(1, 3, 4, 4)})
    other = Request.create("integrated_gradients", {"baseline": torch.ones(1, 3, 4, 4)})
    assert first.key() == same.key() != other.key()
    with pytest.raises(ParameterError, match=r"tensor parameter\(s\) \['baseline'\] cannot be written as JSON"):
        first.to_dict()


def test_layer_belongs_to_cam_methods_only() -> None:
    assert Request.create("grad_cam", layer="7").layer == "7"
    with pytest.raises(ParameterError, match="saliency explains the input, not a layer"):
        Request.create("saliency", layer="7")


# --- issue 11, seams that break ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["integrated_gradients", "guided_ig", "split_ig", "idgi"])
def test_per_sample_baseline_under_noise_does_not_depend_on_chunking(method: str) -> None:
    """Seam 3: a ``[B, ...]`` baseline with SmoothGrad crashed whenever a chunk held more than one noise draw."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).eval()
    x = torch.rand(2, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    baseline = torch.rand(2, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    params = {"baseline": baseline, "steps": 8}
    for mode in ("smoothgrad", "vargrad"):
        noise = Noise(mode, samples=4, seed=3)
        maps = [
            xai_core.attribute(model, x, method, noise=noise, chunk_size=c, target=[0, 1], **params).attributions
            for c in (1, 2, 8)
        ]
        for other in maps[1:]:
            torch.testing.assert_close(other, maps[0], rtol=1e-5, atol=1e-7)
    # Each image keeps its own baseline: the path of image b starts at f(x'_b), for every noise draw.
    result = xai_core.attribute(
        model, x, method, noise=Noise(samples=3, sigma=0.0), chunk_size=4, target=[0, 1], **params
    )
    assert result.completeness is not None
    f_baseline = model(baseline).gather(1, torch.tensor([[0], [1]])).squeeze(1).detach().double()
    torch.testing.assert_close(result.completeness.f_baseline, f_baseline.expand(3, 2), rtol=1e-5, atol=1e-6)
    if method == "integrated_gradients":  # exact on a linear model: w_c * (x - x'_b) per image
        expected = (x - baseline) * model[1].weight.detach().view(2, 1, 2, 2)
        torch.testing.assert_close(result.attributions, expected, rtol=1e-4, atol=1e-6)


def test_completeness_is_kept_for_every_noise_draw() -> None:
    """Seam 4: the gap of every noisy sample, shaped ``[samples, B]`` whatever ``chunk_size``."""
    model, x = relu_cnn(), images(batch=2)
    gaps = [
        xai_core.attribute(model, x, "integrated_gradients", steps=4, noise=Noise(samples=5), chunk_size=c)
        for c in (2, 3, 16)
    ]
    for result in gaps:
        assert result.completeness is not None and result.completeness.gap.shape == (5, 2)
        assert result.path is not None and result.path.scores.shape == (5, 2, 4) and result.path.alphas.shape == (4,)
        torch.testing.assert_close(result.completeness.gap, gaps[0].completeness.gap)  # type: ignore[union-attr]
    assert "mean over noise draws" in gaps[0].completeness.caption()  # type: ignore[union-attr]


def test_grad_cam_on_a_layer_without_spatial_axes_matches_captum() -> None:
    """Seam 5: a ``Linear`` output ``[B, K]`` is a 1x1 feature map, as Captum's ``LayerGradCam`` treats it."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5), nn.ReLU(), nn.Linear(5, 3)
    ).eval()
    x = torch.rand(2, 3, 8, 8)
    ours = xai_core.attribute(model, x, "grad_cam", layer="4", target=[0, 2]).attributions
    theirs = LayerGradCam(model, model[4]).attribute(x, target=[0, 2]).detach()
    assert ours.shape == (2, 1, 8, 8)
    torch.testing.assert_close(ours[:, 0, 0, 0], theirs.flatten())
    torch.testing.assert_close(ours, ours[:, :, :1, :1].expand_as(ours))  # one value per image
    assert xai_core.attribute(model, x, "grad_cam_pp", layer="3").attributions.shape == (2, 1, 8, 8)


def test_a_model_with_one_score_per_sample_gets_a_message() -> None:
    """Seam 6: ``[B]`` outputs with ``target=None`` raised an ``IndexError`` from ``argmax``."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 1), nn.Flatten(0)).eval()
    with pytest.raises(ParameterError, match=r"returns shape \(2,\): return \[batch, 1\] for a single score"):
        xai_core.attribute(model, torch.rand(2, 1, 2, 2), "saliency")


class ConvBn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 3)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def test_checks_take_an_explicit_target() -> None:
    """Seam 2: ``target=`` reached ``attribute`` twice ("got multiple values for keyword argument 'target'")."""
    model, x = relu_cnn(), images(batch=2)
    assert checks.max_sensitivity(model, x, "saliency", target=[1, 2], samples=2).per_sample.shape == (2,)
    assert checks.linearity(model, x, "saliency", target=[1, 2]).method == "saliency"
    folded = checks.implementation_invariance(ConvBn().eval(), x, "saliency", target=[1, 2])
    assert folded.passed and "1 batch norms folded" in folded.detail
    request = Request.create("integrated_gradients", {"steps": 8})
    assert checks.completeness(model, x, request, target=[0, 1]).method == "integrated_gradients"
    assert len(checks.check_axioms(model, x, "saliency", target=[1, 2])) == 6


# --- issue 16.7: every parameter error is a ParameterError naming the parameter, the range and the value ----------

BAD_CALLS = [
    ({"method": "integrated_gradients", "steps": math.nan}, r"'steps' must be an integer in \[1, 4096\]; got nan"),
    ({"method": "integrated_gradients", "steps": math.inf}, r"'steps' must be an integer in \[1, 4096\]; got inf"),
    ({"method": "integrated_gradients", "steps": 10**12}, r"'steps' must be an integer in \[1, 4096\]; got 1000000"),
    ({"method": "integrated_gradients", "steps": "50"}, r"'steps' must be an integer in \[1, 4096\]; got '50'"),
    ({"method": "integrated_gradients", "steps": True}, r"'steps' must be an integer in \[1, 4096\]; got True"),
    ({"method": "rectgrad", "q": -math.inf}, r"'q' must be a finite number in \[0.0, 100.0\]; got -inf"),
    ({"method": "integrated_gradients", "rule": 3}, r"'rule' must be one of \['riemann_left'"),
    ({"method": "saliency", "target": math.nan}, r"target must hold whole class indices; got nan"),
    ({"method": "saliency", "target": 1.5}, r"target must hold whole class indices; got 1.5"),
    ({"method": "saliency", "target": "cat"}, r"target must be a class index"),
    ({"method": "saliency", "target": True}, r"target must be a class index"),
    ({"method": "saliency", "target": 10**30}, r"target class indices are out of range"),
    ({"method": "saliency", "target": 99}, r"target classes must lie in \[0, 3\]; got \[99, 99\]"),
    ({"method": "nope"}, r"unknown method 'nope'; known methods: \["),
    ({"method": "saliency", "noise": {"mode": "smoothgrad", "sigma": math.nan}}, r"'sigma' must be a finite number"),
    ({"method": "saliency", "noise": {"samples": 10**9}}, r"'samples' must be an integer in \[1, 10000\]"),
    ({"method": "saliency", "noise": {"strength": 2}}, r"unknown setting\(s\) \['strength'\]"),
    ({"method": "saliency", "output": "loss"}, r"output must be one of \['logit', 'probability'\]; got 'loss'"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_CALLS)
def test_every_bad_parameter_is_a_parameter_error(kwargs: dict, message: str) -> None:
    kwargs = dict(kwargs)
    method = kwargs.pop("method")
    with pytest.raises(ParameterError, match=message):
        xai_core.attribute(relu_cnn(), images(batch=2), method, **kwargs)


def test_bad_inputs_are_parameter_errors() -> None:
    x = images()
    x[0, 0, 0, 0] = math.nan
    with pytest.raises(ParameterError, match="inputs contain NaN or infinite values"):
        xai_core.attribute(relu_cnn(), x, "saliency")
    with pytest.raises(ParameterError, match=r"float tensor \[batch, channels, height, width\]; got \(3, 12, 12\)"):
        xai_core.attribute(relu_cnn(), images()[0], "saliency")

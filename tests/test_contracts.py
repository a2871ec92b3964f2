"""Contract tests generated from the registry: every method x toy model.

Each method must return the right shape, finite values, the same map for the same seed, and leave the model
exactly as it was (weights, modes, requires_grad, .grad, module types, inplace flags, no hooks), after success
and after an exception.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from toys import CAM_LAYER_INDEX, images, relu_cnn

import xai_core
from xai_core import registry
from xai_core.hooks import hook_count
from xai_core.params import IntParam

METHODS = sorted(registry.all_methods())
MODELS = {
    "relu": lambda: relu_cnn(),
    "relu_inplace": lambda: relu_cnn(inplace=True),
    "relu6_inplace": lambda: relu_cnn(activation=nn.ReLU6, inplace=True),
}


def _snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "types": [type(m) for m in model.modules()],
        "inplace": [getattr(m, "inplace", None) for m in model.modules()],
    }


def _assert_unchanged(model: nn.Module, before: dict) -> None:
    after = _snapshot(model)
    for key in ("training", "requires_grad", "types", "inplace"):
        assert after[key] == before[key], key
    assert all(g is None for g in after["grads"]), "a parameter's .grad was written"
    for name, value in before["state"].items():
        assert torch.equal(after["state"][name], value), name
    assert hook_count(model) == 0, "hooks left on the model"
    assert torch._C._len_torch_function_stack() == 0, "a torch function mode was left active"


def _cheap_params(method: str) -> dict[str, int]:
    """Iteration counts (steps, samples, ...) cut to 3: contracts test behaviour, not accuracy."""
    return {
        p.name: max(p.low or 1, 3)
        for p in registry.get(method).params
        if isinstance(p, IntParam) and p.name != "seed" and p.default > 8
    }


def _call(model: nn.Module, x: torch.Tensor, method: str, **kwargs):
    cls = registry.get(method)
    extra: dict = {"layer": model[CAM_LAYER_INDEX]} if cls.needs_layer else {}
    if any(p.name == "references" for p in cls.params):  # a plain module has no bundled reference images
        extra["references"] = images(batch=3, size=x.shape[-1], seed=5)
    return xai_core.attribute(model, x, method, **{**extra, **_cheap_params(method), **kwargs})


@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize("method", METHODS)
def test_shape_finite_and_model_unchanged(method: str, model_name: str) -> None:
    model, x = MODELS[model_name](), images(batch=3)
    before = _snapshot(model)
    x_before = x.clone()
    result = _call(model, x, method, target=[0, 1, 2])
    expected = x.shape if registry.get(method).kind == "pixel" else (3, 1, *x.shape[-2:])
    assert tuple(result.attributions.shape) == tuple(expected)
    assert torch.isfinite(result.attributions).all()
    assert result.method == method and result.target.tolist() == [0, 1, 2]
    assert result.to_maps().shape == (3, *x.shape[-2:])
    recorded = {name for name in ("completeness", "path", "interactions") if getattr(result, name) is not None}
    assert recorded == set(registry.get(method).records), "the method's declared records differ from what it keeps"
    assert torch.equal(x, x_before), "inputs were modified"
    _assert_unchanged(model, before)


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_map_and_batch_equals_single(method: str) -> None:
    model, x = relu_cnn(), images(batch=2)
    noise = xai_core.Noise("smoothgrad", samples=4, seed=7)
    first = _call(model, x, method, noise=noise, chunk_size=3)
    again = _call(model, x, method, noise=noise, chunk_size=8)
    other = _call(model, x, method, noise=xai_core.Noise("smoothgrad", samples=4, seed=8))
    torch.testing.assert_close(first.attributions, again.attributions)  # chunking does not change the noise
    assert not torch.equal(first.attributions, other.attributions)
    # What the method records is kept for every noise draw, whatever the chunking (as Captum's NoiseTunnel deltas).
    for record in (first.completeness, first.path):
        if record is not None:
            again_record = again.completeness if record is first.completeness else again.path
            for name, value in vars(record).items():
                if isinstance(value, torch.Tensor) and name != "alphas":
                    assert value.shape[:2] == (4, 2), (name, value.shape)
                    torch.testing.assert_close(value, getattr(again_record, name), rtol=1e-4, atol=1e-6)
    # A batch is explained sample by sample: the first sample alone gives the same map.
    batch = _call(model, x, method, target=[1, 2]).attributions
    single = _call(model, x[:1], method, target=[1]).attributions
    torch.testing.assert_close(batch[:1], single, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_no_hooks_left_after_an_exception(method: str) -> None:
    model, x = relu_cnn(inplace=True), images()
    before = _snapshot(model)
    with pytest.raises(ValueError, match="target classes"):
        _call(model, x, method, target=[0, 99])  # fails inside the forward pass, after hooks are in place
    _assert_unchanged(model, before)

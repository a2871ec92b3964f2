"""BIG and BSM: the boundary search against foolbox (the library zifanw/boundary attacks with), and the methods.

foolbox 3.3.4 is the oracle: ``L2PGD``/``LinfPGD`` with the authors' ``rel_stepsize = 2 eps / steps`` (its random
start switched off, since our draws come from a torch generator) and ``L2CarliniWagnerAttack`` with their settings
but fewer steps, on one image at a time (foolbox decides CW's early abort on the batch's summed loss; here per image,
which is the same for a batch of one). Small seeded models on 3x16x16 inputs; attack steps kept small.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn
from toys import images, relu_cnn

import xai_core
from xai_core.methods._adversarial import SearchSpace, parse_epsilons, pgd, random_starts
from xai_core.methods._carlini_wagner import carlini_wagner_l2
from xai_core.params import ParameterError
from xai_core.paths import PixelSpace

fb = pytest.importorskip("foolbox")
SIZE = 16
LEGACY = {"norm": "linf", "space": "pixels", "epsilons": "0.002,0.004,0.008,0.016,0.032,0.064", "pgd_steps": 20,
          "pgd_variant": "first_crossing", "attacks": "pgd"}  # fmt: skip
CHEAP = {"pgd_steps": 4, "cw_steps": 8, "cw_binary_steps": 3}


def smooth_cnn(seed: int = 0, classes: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.Tanh(), nn.Conv2d(6, 4, 3, padding=1, stride=2), nn.Softplus(),
        nn.Flatten(), nn.Linear(4 * (SIZE // 2) ** 2, classes),
    ).eval()  # fmt: skip


def fragile_cnn(seed: int) -> nn.Module:
    """``smooth_cnn`` with a 5x read-out: the margin term outweighs the distance sooner, so CW succeeds in few steps."""
    model = smooth_cnn(seed)
    with torch.no_grad():
        model[-1].weight.mul_(5.0)
    return model


class Wrapper:
    """A ``load_model``-like wrapper: [0, 1] pixels, normalised by mean 0.5 and std 0.25 (the same for every channel,
    so the model-space box is [-2, 2] in every channel, the scalar bounds foolbox takes)."""

    cam_layer = None

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def to_pixels(self, x: Tensor) -> Tensor:
        return x * 0.25 + 0.5

    def to_model_space(self, p: Tensor) -> Tensor:
        return (p - 0.5) / 0.25


def model_inputs(batch: int = 2, seed: int = 1) -> Tensor:
    pixels = torch.rand(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * 0.8 + 0.1
    return (pixels - 0.5) / 0.25


def predicted(model: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_matches_foolbox_from_the_same_start(norm: str) -> None:
    wrapper = Wrapper(smooth_cnn(1))
    x = model_inputs(3, seed=2)
    labels = predicted(wrapper.module, x)
    space = SearchSpace.of(PixelSpace.of(wrapper), "input", x)
    eps, steps = 0.5, 8
    ours, ok = pgd(wrapper.module, x, labels, space, eps, norm=norm, steps=steps, variant="foolbox", start=None,
                   chunk_size=2)  # fmt: skip
    attack = (fb.attacks.L2PGD if norm == "l2" else fb.attacks.LinfPGD)(
        rel_stepsize=2 * eps / steps, steps=steps, random_start=False
    )
    _, (theirs,), success = attack(fb.PyTorchModel(wrapper.module, bounds=(-2, 2)), x, labels, epsilons=[eps])
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert torch.equal(ok, success[0])


def test_random_starts_lie_in_the_ball() -> None:
    generator = torch.Generator().manual_seed(0)
    l2 = random_starts((3, 8, 8), [0.5, 2.0], "l2", generator)
    assert (l2.flatten(1).norm(dim=1) <= torch.tensor([0.5, 2.0]) + 1e-6).all()
    assert (l2.flatten(1).norm(dim=1) > 0.9 * torch.tensor([0.5, 2.0])).all()  # 192 dims: mass near the sphere
    linf = random_starts((3, 8, 8), [0.1], "linf", generator)
    assert linf.abs().max() <= 0.1


@pytest.mark.parametrize("seed", [0, 2])
def test_carlini_wagner_matches_foolbox(seed: int) -> None:
    wrapper = Wrapper(fragile_cnn(seed))
    x = model_inputs(3, seed=seed + 5)
    labels = predicted(wrapper.module, x)
    space = SearchSpace.of(PixelSpace.of(wrapper), "input", x)
    settings: dict[str, Any] = {"steps": 20, "binary_steps": 5, "stepsize": 0.01}
    found = 0
    attack = fb.attacks.L2CarliniWagnerAttack(
        binary_search_steps=settings["binary_steps"], steps=settings["steps"], stepsize=settings["stepsize"]
    )
    fmodel = fb.PyTorchModel(wrapper.module, bounds=(-2, 2))
    for b in range(len(x)):  # one image per call: foolbox's early abort looks at the batch's summed loss
        ours, ok = carlini_wagner_l2(wrapper.module, x[b : b + 1], labels[b : b + 1], space, epsilon=1.0,
                                     chunk_size=4, **settings)  # fmt: skip
        _, (theirs,), success = attack(fmodel, x[b : b + 1], labels[b : b + 1], epsilons=[1.0])
        assert bool(ok[0]) == bool(success[0, 0])
        if bool(ok[0]):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
            found += 1
    assert found == 3  # every image reached the boundary: the points were compared, not only the flags


def test_big_keeps_the_closer_misclassified_proposal_and_completeness_holds() -> None:
    module = fragile_cnn(1)
    wrapper, x = Wrapper(module), model_inputs(2, seed=3)
    target = predicted(module, x).tolist()
    settings = {"pgd_steps": 6, "cw_steps": 20, "cw_binary_steps": 6, "epsilons": "0.5,1,2,4", "cw_epsilon": 8.0}
    run = lambda attacks: xai_core.attribute(  # noqa: E731
        wrapper, x, "big", target=target, attacks=attacks, steps=64, chunk_size=64, seed=4, **settings
    )  # fmt: skip
    both, alone = run("pgd+cw"), {a: run(a) for a in ("pgd", "cw")}
    extras = both.extras
    assert extras["attack_success"].all() and set(extras["boundary_attack"]) == {"pgd", "cw"}  # one of each here
    for b in range(len(x)):
        candidates = {a: float(r.extras["boundary_distance"][b]) for a, r in alone.items()
                      if bool(r.extras["attack_success"][b])}  # fmt: skip
        chosen = min(candidates, key=candidates.__getitem__)
        assert extras["boundary_attack"][b] == chosen
        assert float(extras["boundary_distance"][b]) == pytest.approx(candidates[chosen])
    with torch.no_grad():
        classes = wrapper.module(extras["boundary_points"]).argmax(1)
    assert (classes != torch.tensor(target)).all() and torch.equal(classes, extras["boundary_class"])
    pixels = wrapper.to_pixels(extras["boundary_points"])
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6  # inside the image box
    drop = (both.completeness.f_input - both.completeness.f_baseline).abs()
    assert (both.completeness.gap.abs() <= 2e-3 + 2e-3 * drop).all(), (both.completeness.gap, drop)


def test_defaults_are_the_authors() -> None:
    for name in ("big", "bsm"):
        defaults = {p.name: p.default for p in xai_core.methods.get(name).params}
        assert parse_epsilons(defaults["epsilons"]) == pytest.approx([36 / 255, 64 / 255, 0.3, 0.5, 0.7, 0.9, 1.1])
        assert (defaults["norm"], defaults["space"], defaults["attacks"], defaults["pgd_steps"]) == (
            "l2", "input", "pgd+cw", 40,
        )  # fmt: skip
        assert (defaults["cw_steps"], defaults["cw_stepsize"], defaults["cw_epsilon"]) == (100, 0.01, 1.0)
    big = {p.name: p.default for p in xai_core.methods.get("big").params}
    assert (big["rule"], big["steps"]) == ("riemann_trapezoid", 10)  # PARAMETERS["n_steps"] reaches Captum's IG


def test_seeded_random_starts() -> None:
    wrapper = Wrapper(smooth_cnn(2))
    x = model_inputs(2, seed=9)
    run = lambda seed: xai_core.attribute(  # noqa: E731
        wrapper, x, "bsm", attacks="pgd", pgd_steps=2, epsilons="0.5,1", seed=seed
    ).extras["boundary_points"]  # fmt: skip
    torch.testing.assert_close(run(1), run(1))
    assert not torch.equal(run(1), run(2))


# --- the earlier settings, still reachable ---------------------------------------------------------------------


def test_legacy_big_boundary_point_is_adversarial_and_completeness_holds() -> None:
    model, x = smooth_cnn(), images(batch=3, size=SIZE)
    target = predicted(model, x).tolist()
    settings = {**LEGACY, "epsilons": "0.05,0.1,0.2,0.4,0.8"}
    result = xai_core.attribute(model, x, "big", target=target, steps=128, chunk_size=128, **settings)
    extras = result.extras
    assert extras["attack_success"].all() and set(extras["boundary_attack"]) == {"pgd"}
    assert (predicted(model, extras["boundary_points"]) != torch.tensor(target)).all()
    linf = (extras["boundary_points"] - x).flatten(1).abs().amax(1)
    assert (linf <= extras["boundary_epsilon"] + 1e-6).all()
    drop = (result.completeness.f_input - result.completeness.f_baseline).abs()
    assert (result.completeness.gap.abs() <= 1e-3 + 1e-3 * drop).all()


def test_legacy_search_takes_the_smallest_successful_epsilon() -> None:
    model, x = smooth_cnn(), images(batch=2, size=SIZE)
    target = predicted(model, x).tolist()
    ladder = "0.05,0.1,0.2,0.4,0.8"
    settings = {**LEGACY, "epsilons": ladder}
    result = xai_core.attribute(model, x, "big", target=target, steps=4, **settings)
    for b, eps in enumerate(result.extras["boundary_epsilon"].tolist()):
        smaller = [e for e in parse_epsilons(ladder) if e < eps]
        if smaller:  # the next radius down must fail for this image
            alone = xai_core.attribute(model, x[b : b + 1], "big", target=target[b], steps=4,
                                       **{**settings, "epsilons": [smaller[-1]]})  # fmt: skip
            assert not bool(alone.extras["attack_success"][0])


def test_nothing_succeeds_falls_back_to_the_largest_pgd_radius_and_says_so() -> None:
    model, x = smooth_cnn(), images(batch=2, size=SIZE)
    result = xai_core.attribute(model, x, "big", target=predicted(model, x).tolist(), steps=4,
                                **{**LEGACY, "epsilons": "1e-5,1e-4"})  # fmt: skip
    assert not result.extras["attack_success"].any() and result.extras["boundary_attack"] == ("none", "none")
    assert torch.allclose(result.extras["boundary_epsilon"], torch.tensor(1e-4, dtype=torch.float64))
    assert torch.isfinite(result.attributions).all()


def test_bsm_is_the_plain_gradient_at_the_boundary_point() -> None:
    model, x = relu_cnn(), images(batch=2, size=SIZE)
    target = predicted(model, x).tolist()
    result = xai_core.attribute(model, x, "bsm", target=target, epsilons="0.5,2", **CHEAP)
    points = result.extras["boundary_points"].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(points).gather(1, torch.tensor(target).view(-1, 1)).sum(), points)
    torch.testing.assert_close(result.attributions, grad)


def test_epsilon_lists_and_settings_are_parsed_or_refused_clearly() -> None:
    model, x = smooth_cnn(), images(batch=1, size=SIZE)
    resolved = xai_core.attribute(model, x, "bsm", epsilons=[0.4, 0.1, 0.4], attacks="pgd", pgd_steps=2)
    assert resolved.params["epsilons"] == "0.1,0.4"
    for bad in ("0.1,abc", "", " , ", "0.1,-0.2", "0,1", "nan", [0.1, "x"], 0.1, [True]):
        with pytest.raises(ParameterError, match="'epsilons' must be positive numbers"):
            xai_core.attribute(model, x, "big", epsilons=bad)
    for name, value in (("norm", "l1"), ("space", "latent"), ("attacks", "fgsm"), ("pgd_variant", "madry")):
        with pytest.raises(ParameterError, match=name):
            xai_core.attribute(model, x, "big", **{name: value})

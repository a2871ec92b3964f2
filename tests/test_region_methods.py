"""Region-level methods: Integrated Hessians over regions, IDG over a region tree, and the segmentation helpers."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from toys import linear_model, relu_cnn, smooth_cnn

import xai_core
from xai_core.hooks import hook_count, smooth_activations
from xai_core.methods import idg, integrated_hessians  # noqa: F401  (registers both methods)
from xai_core.methods.integrated_hessians import log_gauss
from xai_core.methods.regions import adjacency, hierarchical_regions, parents, patch_regions, superpixel_regions
from xai_core.params import ParameterError

LABELS = torch.from_numpy(patch_regions(16, 16, 4))  # 16 patches of 4 x 4 on a 16 x 16 image
A, B = 1, 6


class Product(nn.Module):
    """f(x) = (sum of x over patch A) (sum of x over patch B): one interaction, Gamma_AB = S_A S_B / 4."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = (x * (LABELS == A)).sum((1, 2, 3)), (x * (LABELS == B)).sum((1, 2, 3))
        return torch.stack([a * b, a + b], 1)


def _rand(batch: int = 2, size: int = 16, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _off_diagonal(gamma: torch.Tensor) -> torch.Tensor:
    return gamma - torch.diag(torch.diag(gamma))


def test_log_gauss_rule_is_exact_for_polynomials() -> None:
    # int_0^1 -ln(t) t^k dt = 1 / (k + 1)^2: exact up to degree 2 steps - 1
    nodes, weights = log_gauss(6)
    assert ((nodes > 0) & (nodes < 1)).all() and (weights > 0).all()
    for k in range(12):
        assert abs(float((weights * nodes**k).sum()) - 1 / (k + 1) ** 2) < 1e-14


def test_product_model_interacts_only_between_its_two_regions() -> None:
    x = _rand()
    result = xai_core.attribute(Product().eval(), x, "integrated_hessians", target=0, patch_size=4, steps=2)
    for s, gamma in enumerate(result.interactions.matrices):
        expected = torch.zeros(16, 16, dtype=torch.float64)
        value = float(x[s][:, LABELS == A].sum() * x[s][:, LABELS == B].sum()) / 4  # eqs. 19-20 in closed form
        expected[A, B] = expected[B, A] = expected[A, A] = expected[B, B] = value
        torch.testing.assert_close(gamma, expected, rtol=1e-12, atol=1e-12)
        assert result.interactions.top_pairs[s][0][:2] == (A, B)
        assert result.interactions.top_pairs[s][0][2] == pytest.approx(value, rel=1e-12)
    assert result.completeness.gap.abs().max() < 1e-10  # sum Gamma = f(x) - f(0) = S_A S_B


def test_matches_the_papers_double_integral() -> None:
    # Eqs. 19-20 on an 8 x 8 Gauss-Legendre grid over (a, b), with Hessians of g(z) from torch.func.
    model, x = smooth_cnn().double(), _rand(batch=1, size=8)
    masks = torch.stack([torch.from_numpy(patch_regions(8, 8, 4) == r).double() for r in range(4)])

    def g(z: torch.Tensor) -> torch.Tensor:
        return model((z[:, None, None] * masks).sum(0) * x)[0, 1]  # baseline x' = 0

    nodes, weights = (torch.from_numpy(v) / 2 for v in np.polynomial.legendre.leggauss(8))
    a, b = torch.meshgrid(nodes + 0.5, nodes + 0.5, indexing="ij")
    z = (a * b).reshape(-1, 1).expand(-1, 4).contiguous()
    hessians, gradients = torch.func.vmap(torch.func.hessian(g))(z), torch.func.vmap(torch.func.grad(g))(z)
    integrand = (a * b).reshape(-1, 1, 1) * hessians + torch.diag_embed(gradients)
    expected = ((weights[:, None] * weights[None, :]).reshape(-1, 1, 1) * integrand).sum(0)
    result = xai_core.attribute(model, x, "integrated_hessians", target=1, patch_size=4, steps=12)
    torch.testing.assert_close(result.interactions.matrices[0], expected, rtol=1e-9, atol=1e-12)


def test_completeness_symmetry_and_map_on_a_smooth_cnn() -> None:
    model, x = smooth_cnn().double(), _rand()
    result = xai_core.attribute(model, x, "integrated_hessians", target=[0, 2], patch_size=4, steps=8)
    delta = result.completeness.f_input - result.completeness.f_baseline
    assert result.completeness.gap.abs().max() < 1e-10  # sum_ij Gamma_ij = f(x) - f(x')
    assert result.extras["row_gap"].max() < 1e-10  # sum_j Gamma_ij = IG of g for region i
    for gamma in result.interactions.matrices:
        torch.testing.assert_close(gamma, gamma.T, rtol=0, atol=1e-14)
        assert _off_diagonal(gamma).abs().max() > 1e-6  # a nonlinear model interacts
    torch.testing.assert_close(result.attributions.sum((1, 2, 3)), delta, rtol=1e-10, atol=1e-12)
    assert result.attributions.shape == (2, 1, 16, 16) and result.kind == "cam"


def test_linear_model_has_no_interactions_and_region_ig_on_the_diagonal() -> None:
    model, x = linear_model(shape=(3, 16, 16)).double(), _rand()
    result = xai_core.attribute(model, x, "integrated_hessians", target=1, patch_size=4, steps=4)
    weight = model[1].weight.detach()[1].view(3, 16, 16)
    for s, gamma in enumerate(result.interactions.matrices):
        region_ig = torch.stack([(weight * x[s])[:, r == LABELS].sum() for r in range(16)])  # black baseline
        assert _off_diagonal(gamma).abs().max() < 1e-12
        torch.testing.assert_close(torch.diag(gamma), region_ig, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(result.extras["region_ig"][s], region_ig, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", [nn.ReLU, nn.ReLU6])
def test_smooth_relu_makes_relu_nets_interact_and_leaves_the_model_alone(activation: type[nn.Module]) -> None:
    model, x = relu_cnn(activation=activation, inplace=True).double(), _rand(batch=1) * 4 - 2
    state = {k: v.clone() for k, v in model.state_dict().items()}
    before = model(x).detach()
    kwargs = {"target": 1, "patch_size": 4, "steps": 4}
    plain = xai_core.attribute(model, x, "integrated_hessians", smooth_relu=False, **kwargs)
    smooth = xai_core.attribute(model, x, "integrated_hessians", smooth_relu=True, beta=10.0, **kwargs)
    assert _off_diagonal(plain.interactions.matrices[0]).abs().max() == 0.0  # d2 ReLU = 0 almost everywhere
    assert _off_diagonal(smooth.interactions.matrices[0]).abs().max() > 1e-6
    assert plain.extras["smoothed_activations"] == 0 and smooth.extras["smoothed_activations"] > 0
    assert torch.equal(model(x), before) and hook_count(model) == 0
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert torch._C._len_torch_function_stack() == 0  # the mode is gone
    assert isinstance(model[2], activation) and model[2].inplace


def test_smooth_relu_mode_substitutes_relu_and_relu6() -> None:
    x = torch.linspace(-8, 14, 101, dtype=torch.float64)
    with smooth_activations(5.0) as mode:
        relu, relu6, functional = nn.ReLU(inplace=True)(x.clone()), nn.ReLU6()(x), torch.relu(x)
    torch.testing.assert_close(relu, F.softplus(x, 5.0))
    torch.testing.assert_close(functional, F.softplus(x, 5.0))
    torch.testing.assert_close(relu6, 6 - F.softplus(6 - F.softplus(x, 5.0), 5.0))
    assert mode.replaced == 3 and (relu6 - F.relu6(x)).abs().max() < 0.15  # ln 2 / beta at the kinks
    assert torch.equal(nn.ReLU()(x), F.relu(x))  # nothing left behind


def test_superpixel_regions_and_interaction_map() -> None:
    model, x = smooth_cnn(), _rand(dtype=torch.float32, size=24)
    result = xai_core.attribute(model, x, "integrated_hessians", regions="superpixel", n_segments=9, steps=3)
    labels = result.interactions.regions
    assert labels.shape == (2, 24, 24)
    for s, gamma in enumerate(result.interactions.matrices):
        count = int(labels[s].max()) + 1
        assert gamma.shape == (count, count) and torch.isfinite(gamma).all()
        chosen = result.interactions.region_map(s, 2)
        assert chosen.shape == (24, 24) and np.all(chosen[labels[s].numpy() == 2] == 0)
        other = int(labels[s][0, 0]) if int(labels[s][0, 0]) != 2 else int(labels[s][-1, -1])
        assert chosen[labels[s].numpy() == other][0] == pytest.approx(float(gamma[2, other]))
    with pytest.raises(ValueError, match="region"):
        result.interactions.region_map(0, 999)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"patch_size": 21}, "patch_size"),
        ({"patch_size": 1}, "at most 256"),
        ({"regions": "pixels"}, "regions"),
        ({"steps": 0}, "steps"),
        ({"beta": 0.0}, "beta"),
        ({"n_segments": 1, "regions": "superpixel"}, "n_segments"),
    ],
)
def test_integrated_hessians_parameter_errors(params: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        xai_core.attribute(smooth_cnn(), _rand(batch=1, size=20, dtype=torch.float32), "integrated_hessians", **params)


# --- IDG -------------------------------------------------------------------------------------------------------


def _closed_form_idg(labels: list[torch.Tensor], delta: torch.Tensor, weight: torch.Tensor) -> list[torch.Tensor]:
    """IDG(S) = sum_S w_i delta_i / ||delta_S|| for f = w . x + b (gbar = w exactly), per level and the root."""
    out = []
    for level in [*labels, torch.zeros_like(labels[0])]:
        out.append(
            torch.stack(
                [
                    (weight * delta)[:, level == r].sum() / delta[:, level == r].norm()
                    for r in range(int(level.max()) + 1)
                ]
            )
        )
    return out


@pytest.mark.parametrize("feature_dividends", [True, False])
def test_idg_closed_form_on_a_linear_model(feature_dividends: bool) -> None:
    model, x = linear_model(shape=(3, 24, 24)).double(), _rand(size=24)
    result = xai_core.attribute(
        model, x, "idg", target=2, n_segments=16, levels=3, steps=4, feature_dividends=feature_dividends
    )
    weight, extras = model[1].weight.detach()[2].view(3, 24, 24), result.extras
    for s in range(2):
        labels = [level[s] for level in extras["levels"]]
        expected = _closed_form_idg(labels, x[s], weight)  # black baseline: delta = x
        atoms = float(weight.abs().sum()) if feature_dividends else 0.0
        repeated = [torch.zeros(len(expected[0]), dtype=torch.bool)]
        for k in range(1, len(expected)):
            coarse = labels[k] if k < len(labels) else torch.zeros_like(labels[0])
            up = torch.from_numpy(parents(labels[k - 1].numpy(), coarse.numpy()))
            repeated.append(torch.bincount(up, minlength=len(expected[k])) == 1)
        z = atoms + sum(float(e.abs()[~r].sum()) for e, r in zip(expected, repeated, strict=True))
        for k, (e, r) in enumerate(zip(expected, repeated, strict=True)):
            torch.testing.assert_close(extras["idg"][k][s], e, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(extras["dividends"][k][s], torch.where(r, 0.0, e.abs() / z), rtol=1e-10, atol=0)
        assert float(extras["importance"][-1][s][0]) == pytest.approx(1.0, abs=1e-12)  # v(root) = 1
        for k in range(1, len(expected)):  # v(S) = d(S) + sum of the children's v: grows up the tree
            assert float(extras["importance"][k][s].sum()) >= float(extras["importance"][k - 1][s].sum()) - 1e-15
        painted = extras["importance"][0][s][labels[0]]
        torch.testing.assert_close(result.attributions[s, 0], painted, rtol=1e-6, atol=1e-9)


def test_idg_is_finite_and_reproducible_with_the_seed() -> None:
    model, x = relu_cnn(), _rand(dtype=torch.float32, size=24)
    kwargs = {"baseline": "uniform", "n_segments": 12, "levels": 3, "steps": 8}
    first = xai_core.attribute(model, x, "idg", seed=3, **kwargs)
    again = xai_core.attribute(model, x, "idg", seed=3, **kwargs)
    other = xai_core.attribute(model, x, "idg", seed=4, **kwargs)
    assert torch.isfinite(first.attributions).all() and first.attributions.shape == (2, 1, 24, 24)
    assert torch.equal(first.attributions, again.attributions)
    assert not torch.equal(first.attributions, other.attributions)
    assert all(torch.equal(a, b) for a, b in zip(first.extras["levels"], again.extras["levels"], strict=True))


@pytest.mark.parametrize(("params", "match"), [({"levels": 0}, "levels"), ({"n_segments": 1}, "n_segments")])
def test_idg_parameter_errors(params: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        xai_core.attribute(relu_cnn(), _rand(batch=1, dtype=torch.float32), "idg", **params)


# --- regions ---------------------------------------------------------------------------------------------------


def test_patch_regions_numbers_a_grid_row_by_row() -> None:
    labels = patch_regions(5, 7, 3)
    assert labels.shape == (5, 7) and labels.max() == 5
    assert labels[0].tolist() == [0, 0, 0, 1, 1, 1, 2] and labels[4].tolist() == [3, 3, 3, 4, 4, 4, 5]
    assert adjacency(labels) == {(0, 1), (1, 2), (0, 3), (1, 4), (2, 5), (3, 4), (4, 5)}


def test_hierarchical_regions_are_deterministic_nested_and_coarsening() -> None:
    image = _rand(batch=1, size=48, seed=5)[0].permute(1, 2, 0).numpy()
    maps = hierarchical_regions(image, 24, 4)
    again = hierarchical_regions(image, 24, 4)
    assert all(np.array_equal(a, b) for a, b in zip(maps, again, strict=True))
    assert np.array_equal(maps[0], superpixel_regions(image, 24))
    counts = [int(level.max()) + 1 for level in maps]
    assert counts[0] >= 12 and all(c == max(1, round(counts[0] / 2**k)) for k, c in enumerate(counts))
    for fine, coarse in pairwise(maps):
        assert np.array_equal(parents(fine, coarse)[fine], coarse)  # each coarse region is a union of fine ones
        assert set(np.unique(coarse)) == set(range(int(coarse.max()) + 1))

"""Integrated Hessians between image regions (Janizek, Sturmfels, Lee 2021; survey eqs. 18-21).

With region masks m_r (patches or SLICO superpixels, ``regions.py``) and z in [0, 1]^R,
g(z) = f(x' + (sum_r z_r m_r) * (x - x')), so g(1) = f(x), g(0) = f(x'). Integrated Hessians of g at z = 1 from
z' = 0 (eqs. 19-20, whose (z_i - z'_i)(z_j - z'_j) factors are 1 here):

    Gamma_ij = int_0^1 int_0^1 a b d2g/dz_i dz_j (a b 1) da db  +  [i = j] int_0^1 int_0^1 dg/dz_i (a b 1) da db.

The integrand depends on t = a b only, which has density -ln t on [0, 1], so Gamma = int_0^1 -ln(t) (t H_g(t 1)
+ diag grad g(t 1)) dt: a ``steps``-node Gauss rule for the weight -ln t (exact for integrands polynomial in t of
degree < 2 steps) is as accurate as the paper's steps x steps Riemann grid (eq. 21) for steps Hessians, not steps^2.
Each Hessian is double backprop: grad_z g with ``create_graph``, then one backward per row for all nodes of a
chunk (on CPU as fast as ``torch.func`` jacfwd(jacrev) or ``is_grads_batched`` on a small CNN, 1.5x faster on
ResNet-18, and R times less memory).

Completeness: sum_j Gamma_ij = IG_i(g) (the IG of f summed over region i), sum_ij Gamma_ij = f(x) - f(x'); both
gaps are in the extras. Gamma is symmetric; a pair's whole interaction is Gamma_ij + Gamma_ji = 2 Gamma_ij. The map
(kind "cam") paints row sum i / area_i over region i, so it sums to f(x) - f(x'). ReLU networks have zero second
derivatives almost everywhere; as the paper does, ``smooth_relu`` evaluates f with ReLU replaced by softplus_beta
and ReLU6 / hardtanh(lo, hi) by hi - softplus(hi - lo - softplus(x - lo)), through a thread-local function mode
(the model is not touched). Gamma then explains the smoothed model; ``f_input``/``f_baseline`` are its values.
A model whose output jumps within a few percent of the path from x' (saturation) needs many more steps, as IG does:
watch ``Attribution.completeness``. Cost: R double backprops per node, so steps x R times a gradient.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import replace
from functools import partial
from math import comb
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xai_core.batching import chunks
from xai_core.extras import COMPLETENESS, INTERACTIONS, Completeness, Interactions
from xai_core.hooks import smooth_activations
from xai_core.methods.base import Context, Method
from xai_core.methods.integrated_gradients import BLUR_SIGMA, SEED
from xai_core.methods.regions import patch_regions, superpixel_regions
from xai_core.params import BoolParam, ChoiceParam, FloatParam, IntParam, ParameterError
from xai_core.paths import baseline_param, make_baseline, quadrature
from xai_core.registry import register
from xai_core.targets import Target

MAX_REGIONS = 256  # R Hessian rows per node: keeps a 224 x 224 image at minutes, not hours
TOP_PAIRS = 10  # strongest interacting pairs listed in the extras
STEPS = IntParam("steps", 16, "nodes of the Gauss rule in t = a b (Hessians per image)", low=1, high=256)
REGIONS = ChoiceParam("regions", "patch", "what the interacting features are", choices=("patch", "superpixel"))
PATCH_SIZE = IntParam("patch_size", 32, "side of a square patch in pixels (regions='patch')", low=1, high=4096)
N_SEGMENTS = IntParam("n_segments", 49, "number of SLICO superpixels (regions='superpixel')", low=2, high=MAX_REGIONS)
SMOOTH_RELU = BoolParam("smooth_relu", True, "replace ReLU/ReLU6 by softplus so second derivatives exist")
BETA = FloatParam("beta", 10.0, "softplus sharpness: softplus_beta -> ReLU as beta grows", low=0.1, high=1000.0)


def log_gauss(steps: int) -> tuple[Tensor, Tensor]:
    """Gauss rule for int_0^1 -ln(t) phi(t) dt: modified Chebyshev algorithm (Gautschi 2004, Alg. 2.1) on the
    monic shifted Legendre moments int_0^1 -ln(t) P_k(2t - 1) dt / C(2k, k) = (-1)^k / (k (k + 1) C(2k, k)),
    then Golub-Welsch. Weights sum to 1 (= int int da db)."""
    m = 2 * steps
    nu = np.array([1.0] + [(-1) ** k / (k * (k + 1) * comb(2 * k, k)) for k in range(1, m)])
    a, b = np.full(m, 0.5), np.array([0.0] + [k * k / (4.0 * (4 * k * k - 1)) for k in range(1, m)])
    alpha, beta = np.zeros(steps), np.zeros(steps)
    alpha[0], beta[0] = a[0] + nu[1] / nu[0], nu[0]
    older, old = np.zeros(m), nu
    for k in range(1, steps):
        new = np.zeros(m)
        for j in range(k, m - k):
            new[j] = old[j + 1] - (alpha[k - 1] - a[j]) * old[j] - beta[k - 1] * older[j] + b[j] * old[j - 1]
        alpha[k] = a[k] + new[k + 1] / new[k] - old[k] / old[k - 1]
        beta[k] = new[k] / old[k - 1]
        older, old = old, new
    off = np.sqrt(beta[1:])
    nodes, vectors = np.linalg.eigh(np.diag(alpha) + np.diag(off, 1) + np.diag(off, -1))
    return torch.from_numpy(nodes), torch.from_numpy(beta[0] * vectors[0] ** 2)


def _regions(params: Mapping[str, Any], side: int = 224) -> int:
    """About how many regions ``params`` make on a ``side`` x ``side`` image (superpixels: the requested count)."""
    if params["regions"] == "patch":
        return math.ceil(side / max(1, int(params["patch_size"]))) ** 2
    return int(params["n_segments"])


def region_labels(inputs: Tensor, ctx: Context, params: dict[str, Any]) -> Tensor:
    """Label maps ``[B, H, W]`` (long): patches, or SLICO superpixels of each image in pixel space."""
    height, width = inputs.shape[-2:]
    if params["regions"] == "patch":
        if params["patch_size"] > min(height, width):
            raise ParameterError(
                f"patch_size must be at most the image side {min(height, width)}; got {params['patch_size']}"
            )
        labels = np.stack([patch_regions(height, width, params["patch_size"])] * inputs.shape[0])
    else:
        pixels = ctx.space.to_pixels(inputs).detach().permute(0, 2, 3, 1).cpu().numpy()
        labels = np.stack([superpixel_regions(image, params["n_segments"]) for image in pixels])
    if labels.max() + 1 > MAX_REGIONS:
        raise ParameterError(f"{labels.max() + 1} regions (patch_size or n_segments); at most {MAX_REGIONS}")
    return torch.from_numpy(labels).to(inputs.device)


def region_derivatives(
    ctx: Context, x: Tensor, x0: Tensor, masks: Tensor, t: Tensor, target: Target, hessian: bool
) -> tuple[Tensor, Tensor]:
    """grad g ``[n, R]`` at z = t_k 1 and, with ``hessian``, H_g ``[n, R, R]`` (double backprop, one row at a time)."""
    z = t[:, None].expand(-1, masks.shape[0]).detach().requires_grad_(True)
    with torch.enable_grad():
        points = x0 + (z @ masks).view(-1, 1, *x.shape[-2:]) * (x - x0)
        (grad,) = torch.autograd.grad(target.repeat(len(t))(ctx.model(points)).sum(), z, create_graph=hessian)
        if not (hessian and grad.requires_grad):  # no second-order graph: H = 0 (a linear model, plain ReLU paths)
            return grad.detach(), torch.zeros(*z.shape, z.shape[1]).to(z)
        rows = [
            torch.autograd.grad(grad[:, i].sum(), z, retain_graph=True, materialize_grads=True)[0]
            for i in range(z.shape[1])
        ]
    return grad.detach(), torch.stack(rows, 1)


def sample_interactions(ctx: Context, x: Tensor, x0: Tensor, labels: Tensor, target: Target, steps: int) -> dict:
    """The extras of one image: Gamma ``[R, R]`` (eqs. 19-20 by the -ln t rule), IG of g per region, gaps.

    ``ctx.progress`` gets this image's own fraction done (the Hessians are R times the cost of the gradients)."""
    count = int(labels.max()) + 1
    masks = (labels.flatten() == torch.arange(count, device=x.device)[:, None]).to(x.dtype)  # [R, HW]
    gamma, region_ig = torch.zeros(count, count, dtype=torch.float64), torch.zeros(count, dtype=torch.float64)
    for (nodes, weights), hessian in ((log_gauss(steps), True), (quadrature("gausslegendre", steps), False)):
        for index in chunks(steps, ctx.chunk_size):
            t, w = nodes[index], weights[index]
            grad, hess = (v.double().cpu() for v in region_derivatives(ctx, x, x0, masks, t.to(x), target, hessian))
            ctx.report((index.stop / steps * count if hessian else count + index.stop / steps) / (count + 1))
            if hessian:  # Gamma = sum_k w_k (t_k H_g(t_k 1) + diag grad g(t_k 1))
                gamma += (w.view(-1, 1, 1) * (t.view(-1, 1, 1) * hess + torch.diag_embed(grad))).sum(0)
            else:  # IG_i(g) = int_0^1 dg/dz_i (a 1) da, Gauss-Legendre in a
                region_ig += (w.view(-1, 1) * grad).sum(0)
    with torch.no_grad():
        f_input, f_baseline = target.repeat(2)(ctx.model(torch.cat([x, x0]))).double().cpu()
    i, j = torch.triu_indices(count, count, 1)
    top = gamma[i, j].abs().argsort(descending=True)[:TOP_PAIRS].tolist()
    return {
        "interactions": gamma,
        "region_ig": region_ig,
        "top_pairs": [(int(i[k]), int(j[k]), float(gamma[i[k], j[k]])) for k in top],
        "row_gap": (gamma.sum(1) - region_ig).abs().max(),
        "gap": gamma.sum() - (f_input - f_baseline),
        "f_input": f_input,
        "f_baseline": f_baseline,
        "map": (gamma.sum(1) / masks.sum(1).double().cpu())[labels.cpu()],  # row sum spread over the region
    }


@register
class IntegratedHessians(Method):
    name = "integrated_hessians"
    title = "Integrated Hessians"
    records = ("completeness", "interactions")
    family = "integrated"
    paper = (
        "Janizek, Sturmfels, Lee. Explaining Explanations: Axiomatic Feature Interactions for Deep Networks. JMLR 2021"
    )
    url = "https://arxiv.org/abs/2002.04138"
    summary = "Pairwise interactions between image regions: the IG of the IG of f over region masks."
    kind = "cam"
    reduction = "none"
    params = (baseline_param(), STEPS, REGIONS, PATCH_SIZE, N_SEGMENTS, SMOOTH_RELU, BETA, BLUR_SIGMA, SEED)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return int(params["steps"]) * (_regions(params) + 2)  # a Hessian row per region

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        baseline = make_baseline(
            params["baseline"], inputs, ctx.space, sigma=params["blur_sigma"], generator=ctx.generator
        )
        labels, mode, found = region_labels(inputs, ctx, params), smooth_activations(params["beta"]), []
        with mode if params["smooth_relu"] else nullcontext():
            for s in range(len(inputs)):
                part = replace(ctx, progress=partial(lambda s, done: ctx.report((s + done) / len(inputs)), s))
                one = ctx.target.take(slice(s, s + 1))
                found.append(
                    sample_interactions(part, inputs[s : s + 1], baseline[s : s + 1], labels[s], one, params["steps"])
                )
        ctx.extras[INTERACTIONS] = Interactions(  # tuples: R differs between images with superpixels
            tuple(f["interactions"] for f in found), labels.cpu(), tuple(tuple(f["top_pairs"]) for f in found)
        )
        gap, f_input, f_baseline = (torch.stack([f[k] for f in found]) for k in ("gap", "f_input", "f_baseline"))
        ctx.extras[COMPLETENESS] = Completeness(gap, f_input, f_baseline)
        ctx.extras["region_ig"] = [f["region_ig"] for f in found]
        ctx.extras["row_gap"] = torch.stack([f["row_gap"] for f in found])
        ctx.extras["smoothed_activations"] = mode.replaced
        return torch.stack([f["map"] for f in found]).unsqueeze(1).to(inputs)

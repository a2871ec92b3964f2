"""Integrated Directional Gradients over a region tree (Sikdar, Bhattacharya, Heese 2021; survey eqs. 22-24).

The paper's meaningful subsets M (nodes of a parse tree there) are here: every input scalar (pixel channel) when
``feature_dividends``, the SLICO superpixels (leaves), their unions at ``levels - 1`` coarser levels
(``regions.hierarchical_regions``) and the whole image (root). For S in M, with z_S = x - x' on S and 0 elsewhere,

    IDG(S) = int_0^1 grad f(x' + a (x - x')) . z_S / ||z_S|| da = sum_{i in S} (x_i - x'_i) gbar_i / ||z_S||

(eqs. 22-24), gbar = int_0^1 grad f da by the IG quadrature (``steps``, ``rule``); IDG(S) = 0 when z_S = 0. For one
scalar z_S / ||z_S|| = +-e_i, so |IDG({i})| = |gbar_i| (the authors' ``div_features`` in ``calculate_gradients.py``,
given even where x_i = x'_i). Dividends and importances, as in the authors' code:

    d(S) = |IDG(S)| / Z,   Z = sum_{S in M} |IDG(S)|,   v(S) = sum_{T in M, T subset S} d(T) = d(S) + sum_children v,

so d(S) = v(S) - sum of the dividends strictly inside S, v(root) = 1 and v grows up the tree. A region with one
child is the same set as its child and adds no dividend. The map (kind "cam") paints v(leaf) over each leaf
superpixel: the leaf's share of the normalised total. On images the scalars' dividends usually dominate Z (extras
``feature_share`` near 1), so v(leaf) is close to sum |gbar| over the leaf; ``feature_dividends=False`` keeps only
the groups' own dividends. Extras: ``levels`` (label maps ``[B, H, W]``, fine to coarse); ``idg``, ``dividends``,
``importance`` indexed [level][sample] -> ``[R]`` with one more level for the root; ``normaliser`` Z; and the IG
path's profile and completeness gap (``paths.record_profile``) for the gradients integrated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xai_core.methods.base import Context, Method
from xai_core.methods.integrated_gradients import BLUR_SIGMA, SEED, STEPS
from xai_core.methods.regions import hierarchical_regions, parents
from xai_core.params import BoolParam, IntParam
from xai_core.paths import (
    baseline_param,
    integrate_straight_path,
    make_baseline,
    quadrature,
    record_profile,
    rule_param,
)
from xai_core.registry import register

N_SEGMENTS = IntParam("n_segments", 32, "number of SLICO superpixels (the leaves of the tree)", low=2, high=2048)
LEVELS = IntParam("levels", 4, "label maps in the tree; each coarser level has about half the regions", low=1, high=12)
FEATURE_DIVIDENDS = BoolParam(
    "feature_dividends", True, "give every input scalar its dividend |gbar_i| (authors' code)"
)


def tree_scores(labels: list[np.ndarray], delta: Tensor, gbar: Tensor, features: bool) -> dict[str, Any]:
    """IDG, dividend and importance of every node of one image's tree (levels fine to coarse, then the root).

    ``labels`` are the nested label maps ``[H, W]``; ``delta`` = x - x' and ``gbar`` are ``[C, H, W]`` float64.
    """
    maps = [*labels, np.zeros_like(labels[0])]  # the root: the whole image
    dot, square = (delta * gbar).sum(0).flatten(), (delta * delta).sum(0).flatten()
    ups = [torch.from_numpy(parents(fine, coarse)) for fine, coarse in pairwise(maps)]
    idg, raw = [], []
    for k, level in enumerate(maps):
        ids, count = torch.from_numpy(level.ravel()), int(level.max()) + 1
        norm = torch.bincount(ids, square, count).sqrt()  # ||z_S||
        idg.append(torch.bincount(ids, dot, count) / torch.where(norm > 0, norm, torch.inf))  # eqs. 22-24
        repeated = torch.bincount(ups[k - 1], minlength=count) == 1 if k else torch.zeros(count, dtype=torch.bool)
        raw.append(torch.where(repeated, 0.0, idg[-1].abs()))  # one child: the same set, counted once
    ids = torch.from_numpy(maps[0].ravel())
    atoms = torch.bincount(ids, gbar.abs().sum(0).flatten(), len(raw[0])) if features else torch.zeros_like(raw[0])
    z = float(sum(r.sum() for r in raw) + atoms.sum()) or 1.0  # Z = sum over M of |IDG(S)|
    dividends = [r / z for r in raw]
    importance = [dividends[0] + atoms / z]  # v(leaf) = d(leaf) + sum of its scalars' dividends
    for k, up in enumerate(ups, start=1):
        importance.append(dividends[k] + torch.zeros_like(dividends[k]).index_add_(0, up, importance[k - 1]))
    return {
        "idg": idg,
        "dividends": dividends,
        "importance": importance,
        "Z": z,
        "feature_share": float(atoms.sum()) / z,
    }


@register
class IntegratedDirectionalGradients(Method):
    name = "idg"
    title = "Integrated Directional Gradients (IDG)"
    records = ("completeness", "path")
    family = "integrated"
    paper = (
        "Sikdar, Bhattacharya, Heese. Integrated Directional Gradients: Feature Interaction Attribution for "
        "Neural NLP Models. ACL 2021"
    )
    url = "https://aclanthology.org/2021.acl-long.71"
    summary = "Importance of nested superpixel groups: dividends of directional gradients along each group."
    kind = "cam"
    reduction = "none"
    params = (baseline_param(), STEPS, rule_param(), N_SEGMENTS, LEVELS, FEATURE_DIVIDENDS, BLUR_SIGMA, SEED)

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image (the app's time estimate and fair-use cap)."""
        return int(params["steps"]) + 1

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        baseline = make_baseline(
            params["baseline"], inputs, ctx.space, sigma=params["blur_sigma"], generator=ctx.generator
        )
        alphas, weights = quadrature(params["rule"], params["steps"])
        path = integrate_straight_path(
            ctx.model, inputs, baseline, ctx.target, alphas, weights,
            chunk_size=ctx.chunk_size, keep_gradients=True, progress=ctx.progress,
        )  # fmt: skip
        record_profile(ctx.extras, path, path.attributions)
        assert path.gradients is not None
        gbar = (weights.view(-1, 1, 1, 1, 1).to(inputs.device) * path.gradients.double()).sum(0).cpu()
        delta = (inputs - baseline).double().cpu()
        pixels = ctx.space.to_pixels(inputs).detach().permute(0, 2, 3, 1).cpu().numpy()
        trees = [hierarchical_regions(image, params["n_segments"], params["levels"]) for image in pixels]
        scores = [tree_scores(t, delta[s], gbar[s], params["feature_dividends"]) for s, t in enumerate(trees)]
        nodes = range(len(trees[0]) + 1)  # levels, then the root
        ctx.extras.update(
            levels=[torch.from_numpy(np.stack([t[k] for t in trees])) for k in range(len(trees[0]))],
            **{key: [[sc[key][k] for sc in scores] for k in nodes] for key in ("idg", "dividends", "importance")},
            normaliser=torch.tensor([sc["Z"] for sc in scores]),
            feature_share=torch.tensor([sc["feature_share"] for sc in scores]),
        )
        maps = [sc["importance"][0][torch.from_numpy(t[0])] for sc, t in zip(scores, trees, strict=True)]
        return torch.stack(maps).unsqueeze(1).to(inputs.device, inputs.dtype)

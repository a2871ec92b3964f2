"""Composite baselines: a method run once per baseline of a set, its maps and typed records averaged.

``attribute`` and the noise wrapper call ``compute_with_baselines`` instead of ``Method.compute``, so every method
that takes a ``baseline`` parameter accepts the names in ``paths.COMPOSITE_BASELINES`` without code of its own.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from xai_core.extras import COMPLETENESS, INTERACTIONS, PATH, Completeness, Interactions, PathProfile
from xai_core.paths import COMPOSITE_BASELINES


def compute_with_baselines(method: Any, inputs: Tensor, ctx: Any, params: dict[str, Any]) -> Tensor:
    """``method.compute(inputs, ctx, **params)``; for a composite baseline, the mean of its maps over the baselines.

    ``black_white`` is the averaged black-and-white baseline of XRAI (Kapishnikov, Bolukbasi, Viegas, Terry, ICCV
    2019, https://arxiv.org/abs/1906.02825; PAIR ``saliency/core/xrai.py::_get_integrated_gradients`` averages IG
    over ``_make_baselines``' two images): the method runs once from a black and once from a white image and the
    maps are averaged. Every method that takes ``baseline`` gets it, because ``attribute`` and the noise wrapper
    call this function. Each run is a path of its own, so completeness holds per path; the recorded
    ``Completeness`` is their mean, which is exact: sum(mean attr) - (f(x) - mean_i f(x'_i)) = mean_i gap_i.
    The path profile (f and |grad f| at the nodes) and Integrated Hessians' interactions are averaged likewise; every
    path's own records are kept as ``"black:<key>"`` / ``"white:<key>"`` in the extras.

    Deviation from PAIR: its black and white are the image's own minimum and maximum value; here they are the ends
    of the pixel range (0 and 1), as the ``black`` and ``white`` baselines.
    """
    name = params.get("baseline")
    parts = COMPOSITE_BASELINES.get(name) if isinstance(name, str) else None
    if parts is None:
        return method.compute(inputs, ctx, **params)
    maps, records = [], []
    for i, part in enumerate(parts):
        step = None if ctx.progress is None else (lambda f, i=i: ctx.report((i + f) / len(parts)))
        sub = dataclasses.replace(ctx, extras={}, progress=step)
        maps.append(method.compute(inputs, sub, **{**params, "baseline": part}))
        records.append(sub.extras)
    ctx.extras.update(_averaged_records(parts, records))
    return _mean(maps)


def _mean(values: list[Tensor]) -> Tensor:
    return torch.stack([v.double() for v in values]).mean(0).to(values[0].dtype)


def _averaged_records(parts: tuple[str, ...], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every path's records under ``"<baseline>:<key>"``, and the mean of the typed ones under their own key."""
    out: dict[str, Any] = {
        f"{part}:{key}": value for part, record in zip(parts, records, strict=True) for key, value in record.items()
    }
    found = [c for r in records if isinstance(c := r.get(COMPLETENESS), Completeness)]
    if len(found) == len(records):
        out[COMPLETENESS] = Completeness(
            _mean([c.gap for c in found]), found[0].f_input, _mean([c.f_baseline for c in found])
        )
    paths = [p for r in records if isinstance(p := r.get(PATH), PathProfile)]
    if len(paths) == len(records) and all(torch.equal(p.alphas, paths[0].alphas) for p in paths):
        stars = [s for p in paths if (s := p.alpha_star) is not None]
        out[PATH] = PathProfile(
            paths[0].alphas,
            _mean([p.scores for p in paths]),
            _mean([p.grad_norms for p in paths]),
            _mean(stars) if len(stars) == len(paths) else None,
        )
    pairs = [p for r in records if isinstance(p := r.get(INTERACTIONS), Interactions)]
    if len(pairs) == len(records):
        out[INTERACTIONS] = _mean_interactions(pairs)
    return out


def _mean_interactions(found: list[Interactions]) -> Interactions:
    """The mean Gamma per image; its strongest pairs ranked as Integrated Hessians ranks them (|Gamma_ij|, i < j)."""
    matrices = tuple(_mean(list(per_image)) for per_image in zip(*(f.matrices for f in found), strict=True))
    top = []
    for gamma, kept in zip(matrices, found[0].top_pairs, strict=True):
        i, j = torch.triu_indices(gamma.shape[0], gamma.shape[0], 1)
        order = gamma[i, j].abs().argsort(descending=True)[: len(kept)].tolist()
        top.append(tuple((int(i[k]), int(j[k]), float(gamma[i[k], j[k]])) for k in order))
    return Interactions(matrices, found[0].regions, tuple(top))

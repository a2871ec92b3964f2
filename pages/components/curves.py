"""The Faithfulness page's step viewer: the image a perturbation curve scored at step ``k``, as the engine made it.

A curve of the perturbation engine (``metrics.perturbation_plan``) records the settings that produced it
(``CurveResult.settings``); rebuilding the plan from them gives the very images that were scored (the plan is
cached per map and settings). Which curves the plan draws is the engine's vocabulary: ``PLAN_CURVES`` maps a
curve's name to its (curve, order).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import streamlit as st

from pages.components import memo, state
from pages.components.compute import MapResult
from pages.components.measures import Run
from xai_core import metrics

SETTINGS = {p.name for p in metrics.CURVE_PARAMS}  # what perturbation_plan takes (a curve's record adds its order)
PLAN_CURVES = {
    "insertion": ("insertion", "morf"),
    "deletion": ("deletion", "morf"),
    "deletion_lerf": ("deletion", "lerf"),
}


def plan_curves(run: Run) -> dict[str, dict[str, Any]]:
    """The perturbation-plan curves among ``run``'s results: curve name -> the settings that produced it."""
    found: dict[str, dict[str, Any]] = {}
    for scored in run.scored:
        for result in scored.results.values():
            own = (result,) if isinstance(result, metrics.CurveResult) else tuple(getattr(result, "curves", ()))
            for curve in own:
                if curve.name in PLAN_CURVES and curve.name not in found and curve.settings:
                    found[curve.name] = {k: v for k, v in curve.settings.items() if k in SETTINGS}
    return found


@st.cache_data(show_spinner=False, max_entries=16)
def _plan(cache_key: str, _model: Any, _image: Any, _map: np.ndarray, _settings: Any) -> metrics.PerturbationPlan:
    return metrics.perturbation_plan(_model, _model.preprocess(_image.image), _map, **_settings)


def step_image(
    model_name: str, model: Any, image: Any, item: MapResult, settings: Mapping[str, Any], curve: str, k: int
) -> tuple[np.ndarray, int, int]:
    """The image scored at step ``k`` of ``curve`` for ``item``'s map (uint8 ``[H, W, 3]``), features moved, ``N``."""
    key = memo.key("plan", model_name, image.sha256, item.request.key(), item.target, dict(settings))
    plan = _plan(key, model, image, item.map, dict(settings))
    kind, order = PLAN_CURVES[curve]
    shown = np.asarray(model.to_display(plan.images(kind, k, order)))
    return shown[0], int(plan.counts[0, k]), int(plan.n[0])


def step_viewer(subject: Any, run: Run) -> float | None:
    """Map, curve and step widgets and the perturbed image; the step as a fraction (for the chart), or None."""
    found = plan_curves(run)
    if not found or not run.scored:
        return None
    st.subheader("Perturbed image at step k")
    c1, c2, c3 = st.columns([1, 1, 2])
    method = c1.selectbox("Map", [s.item.title for s in run.scored], key=state.FAITH_VIEW_METHOD)
    curve = c2.radio("Curve", list(found), key=state.FAITH_VIEW_CURVE, horizontal=True)
    s = found[curve]
    k = c3.slider("Step k", 0, s["steps"], s["steps"] // 5, key=state.FAITH_VIEW_STEP)
    scored = next(x for x in run.scored if x.item.title == method)
    shown, moved, n = step_image(subject.model_name, subject.model, subject.image, scored.item, s, curve, k)
    own = next((r for r in scored.results.values() if getattr(r, "name", "") == curve), None)
    inner = [c for r in scored.results.values() for c in getattr(r, "curves", ()) if c.name == curve]
    record = own if own is not None else inner[0]
    picture, info = st.columns([1, 2])
    verb = "inserted into the substrate" if PLAN_CURVES[curve][0] == "insertion" else "replaced by the substrate"
    order = "most" if PLAN_CURVES[curve][1] == "morf" else "least"
    picture.image(shown, caption=f"{method}, {curve}, step {k}/{s['steps']}", width="stretch")
    info.markdown(
        f"**{moved} of {n}** {s['granularity']} features ({moved / n:.0%}) {verb} ({s['substrate']}), {order} "
        f"relevant first.\n\nTarget {s['output']} at this step: **{record.scores[0][k]:.4g}**."
    )
    return k / s["steps"]

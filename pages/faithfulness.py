"""Faithfulness page: insertion/deletion curves (drawn as they are scored), AOPC, ABPC, AD, ADD, IC per method,
and the perturbed image at any step of a curve.

Maps come from the shared cache (``compute.compute_map``); curves from ``xai_core.metrics.faithfulness_report``,
cached by map and curve settings (``components/curves.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from pages.components import charts, compute, curves, fair, memo, method_settings, page, runner, state, urlstate
from pages.components import widgets as kept

SCOPE = "faith"
DEFAULT_METHODS = ("saliency", "grad_cam")


@dataclass(frozen=True)
class FaithRun:
    model_name: str
    image_sha256: str
    settings: dict[str, Any]  # the resolved curve settings
    maps: dict[str, compute.MapResult]
    reports: list[curves.Report]


def curve_settings() -> dict[str, Any]:
    """The perturbation settings widgets (inside the form), rendered from the engine's schema of the curves."""
    values = {}
    for start in range(0, len(curves.SCHEMA), 4):
        for column, spec in zip(st.columns(4), curves.SCHEMA[start : start + 4], strict=False):
            with column:
                values[spec["name"]] = kept.param(spec, state.faith_setting_key(spec["name"]))
    return curves.resolve(values)


def run(subject: page.Subject, target: int, specs: list[Any], slot: Any, s: dict[str, Any]) -> FaithRun:
    """Maps (cached), then one report per map: cached, or scored here with the chart redrawn as batches finish."""
    name, model, image = subject.model_name, subject.model, subject.image
    maps = {}
    for item in runner.maps(subject, specs, target):
        if isinstance(item, compute.Failure):
            st.error(f"{method_settings.title(item.method)}: {item.message}")
        else:
            maps[item.title] = item
    bar = st.progress(0.0)
    live, reports = curves.LiveCurves(slot, s), []
    for i, item in enumerate(maps.values()):
        key = curves.report_key(name, image.sha256, item, s)
        report = memo.lookup(key)
        if report is None:
            live.start(item.title)

            def progress(fraction: float, curve: str, partial: Any, i: int = i, method: str = item.title) -> None:
                bar.progress(min((i + fraction) / len(maps), 1.0), text=f"Scoring {method}: {curve} curve…")
                live.update(fraction, curve, partial)

            report = memo.remember(key, curves.compute_report(model, image, item, s, progress))
        live.finish(report)
        reports.append(report)
    bar.empty()
    return FaithRun(name, image.sha256, s, maps, reports)


def step_viewer(subject: page.Subject, result: FaithRun) -> float:
    """Method, curve and step widgets and the perturbed image; returns the step as a fraction (for the chart)."""
    st.subheader("Perturbed image at step k")
    s = result.settings
    c1, c2, c3 = st.columns([1, 1, 2])
    method = c1.selectbox("Map", [r.method for r in result.reports], key=state.FAITH_VIEW_METHOD)
    curve = c2.radio("Curve", ("insertion", "deletion"), key=state.FAITH_VIEW_CURVE, horizontal=True)
    k = c3.slider("Step k", 0, s["steps"], s["steps"] // 5, key=state.FAITH_VIEW_STEP)
    report = next(r for r in result.reports if r.method == method)
    item = result.maps[method]
    shown, moved, n = curves.step_image(subject.model_name, subject.model, subject.image, item, s, curve, k)
    picture, info = st.columns([1, 2])
    verb = "inserted into the substrate" if curve == "insertion" else "replaced by the substrate"
    picture.image(shown, caption=f"{method}, {curve}, step {k}/{s['steps']}", width="stretch")
    info.markdown(
        f"**{moved} of {n}** {s['granularity']} features ({moved / n:.0%}) {verb} ({s['substrate']}), most relevant "
        f"first.\n\nTarget {s['output']} at this step: **{report.curves[curve][k]:.4g}** (unperturbed: "
        f"{report.curves['deletion'][0]:.4g})."
    )
    return k / s["steps"]


subject = page.subject()
urlstate.restore(SCOPE)
st.title("Faithfulness")
target = subject.predicted
picture, settings = st.columns([1, 3], gap="medium")
page.picture(subject, picture, f"{subject.image.name}: explaining class {subject.label(target)}")
with settings:
    chosen = method_settings.pick(SCOPE, DEFAULT_METHODS, describe=runner.labels(subject))
    with st.form(state.FAITH_FORM):
        s = curve_settings()
        with st.container(height=300):
            specs = method_settings.form(SCOPE, chosen, layers=subject.model.cam_layers(), bound=fair.bound)
        submitted = st.form_submit_button("Compute curves", type="primary", key=state.FAITH_SUBMIT)
urlstate.publish(SCOPE, specs)
runner.stopped_note()
slot = st.empty()
if submitted and not chosen:
    st.warning("Choose at least one method.")
elif submitted:
    st.session_state[state.FAITH_RESULTS] = run(subject, target, specs, slot, s)
result: FaithRun | None = st.session_state.get(state.FAITH_RESULTS)
current = (subject.model_name, subject.image.sha256)
if result is None or (result.model_name, result.image_sha256) != current or not result.reports:
    st.caption("Choose methods and settings and press **Compute curves**.")
    st.stop()
rows = curves.table_rows(result.reports)
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    width="stretch",
    height=35 * (len(rows) + 1) + 3,  # every row visible: no inner scrolling
    column_config={"value": st.column_config.NumberColumn(format="%.4f")},
)
step = step_viewer(subject, result)
shown = [(r.method, r.curves) for r in result.reports]
figure = charts.curves_figure(result.reports[0].fractions, shown, step_fraction=step, y_title=result.settings["output"])
slot.plotly_chart(figure, key=state.FAITH_CHART)

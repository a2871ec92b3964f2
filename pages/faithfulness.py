"""Faithfulness page: insertion/deletion curves (drawn as they are scored), AOPC, ABPC, AD, ADD, IC per method,
and the perturbed image at any step of a curve.

Maps come from the shared cache (``compute.compute_map``); curves from ``xai_core.metrics.faithfulness_report``,
cached by map and curve settings (``components/curves.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

import xai_core
from pages.components import charts, compute, curves, memo, method_form, param_form, sidebar, state

log = logging.getLogger(__name__)

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
    return curves.resolve(param_form.render(curves.SCHEMA, state.faith_setting_key, columns=4))


def run(
    name: str,
    model: Any,
    image: Any,
    target: int,
    specs: list[xai_core.Request | compute.Failure],
    slot: Any,
    s: dict[str, Any],
) -> FaithRun:
    """Maps (cached), then one report per map: cached, or scored here with the chart redrawn as batches finish."""
    bar, maps = st.progress(0.0), {}
    for i, spec in enumerate(specs):
        if isinstance(spec, compute.Failure):
            st.error(spec.message)
            continue
        bar.progress(i / len(specs), text=f"Computing the {spec.method} map ({i + 1}/{len(specs)})…")
        try:
            maps[spec.method] = compute.compute_map(name, model, image, spec, target)
        except Exception as exc:  # ParameterError or a failing method: say which, go on with the others
            log.exception("method %s failed", spec.method)
            st.error(f"{spec.method}: {exc}")
    live, reports = curves.LiveCurves(slot, s), []
    for i, item in enumerate(maps.values()):
        key = curves.report_key(name, image.sha256, item, s)
        report = memo.lookup(key)
        if report is None:
            live.start(item.method)

            def progress(fraction: float, curve: str, partial: Any, i: int = i, method: str = item.method) -> None:
                bar.progress(min((i + fraction) / len(maps), 1.0), text=f"Scoring {method}: {curve} curve…")
                live.update(fraction, curve, partial)

            report = memo.remember(key, curves.compute_report(model, image, item, s, progress))
        live.finish(report)
        reports.append(report)
    bar.empty()
    return FaithRun(name, image.sha256, s, maps, reports)


def step_viewer(name: str, model: Any, image: Any, result: FaithRun) -> float:
    """Method, curve and step widgets and the perturbed image; returns the step as a fraction (for the chart)."""
    st.subheader("Perturbed image at step k")
    s = result.settings
    c1, c2, c3 = st.columns([1, 1, 2])
    method = c1.selectbox("Map", [r.method for r in result.reports], key=state.FAITH_VIEW_METHOD)
    curve = c2.radio("Curve", ("insertion", "deletion"), key=state.FAITH_VIEW_CURVE, horizontal=True)
    k = c3.slider("Step k", 0, s["steps"], s["steps"] // 5, key=state.FAITH_VIEW_STEP)
    report = next(r for r in result.reports if r.method == method)
    shown, moved, n = curves.step_image(name, model, image, result.maps[method], s, curve, k)
    picture, info = st.columns([1, 2])
    verb = "inserted into the substrate" if curve == "insertion" else "replaced by the substrate"
    picture.image(shown, caption=f"{method}, {curve}, step {k}/{s['steps']}", width="stretch")
    info.markdown(
        f"**{moved} of {n}** {s['granularity']} features ({moved / n:.0%}) {verb} ({s['substrate']}), most relevant "
        f"first.\n\nTarget {s['output']} at this step: **{report.curves[curve][k]:.4g}** (unperturbed: "
        f"{report.curves['deletion'][0]:.4g})."
    )
    return k / s["steps"]


def main() -> None:
    st.title("Faithfulness")
    name, model = sidebar.current_model()
    image = st.session_state.get(state.IMAGE)
    if model is None or image is None:
        st.info("Choose a model that loads and a valid image in the sidebar.")
        return
    prepared = compute.prepare(name, image.sha256, model, image.image)
    target, label = prepared.top_k[0][0], prepared.top_k[0][1]
    catalog = {m["name"]: m for m in xai_core.methods.describe()}
    picture, settings = st.columns([1, 3], gap="medium")
    picture.image(prepared.display, caption=f"{image.name}: explaining class {target} · {label}", width="stretch")
    with settings:
        chosen = st.multiselect(
            "Methods", list(catalog), default=[m for m in DEFAULT_METHODS if m in catalog], key=state.FAITH_METHODS
        )
        with st.form(state.FAITH_FORM):
            s = curve_settings()
            specs = method_form.specs("faith", catalog, chosen)
            submitted = st.form_submit_button("Compute curves", type="primary", key=state.FAITH_SUBMIT)
    slot = st.empty()
    if submitted and not chosen:
        st.warning("Choose at least one method.")
    elif submitted:
        st.session_state[state.FAITH_RESULTS] = run(name, model, image, target, specs, slot, s)
    result: FaithRun | None = st.session_state.get(state.FAITH_RESULTS)
    if result is None or (result.model_name, result.image_sha256) != (name, image.sha256) or not result.reports:
        st.caption("Choose methods and settings and press **Compute curves**.")
        return
    rows = curves.table_rows(result.reports)
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        height=35 * (len(rows) + 1) + 3,  # every row visible: no inner scrolling
        column_config={"value": st.column_config.NumberColumn(format="%.4f")},
    )
    step = step_viewer(name, model, image, result)
    shown = [(r.method, r.curves) for r in result.reports]
    figure = charts.curves_figure(
        result.reports[0].fractions, shown, step_fraction=step, y_title=result.settings["output"]
    )
    slot.plotly_chart(figure, key=state.FAITH_CHART)


try:
    main()
except Exception as exc:  # the page boundary: a message for the user, the traceback for the log
    log.exception("faithfulness page failed")
    st.error(f"Something went wrong on this page: {exc}")

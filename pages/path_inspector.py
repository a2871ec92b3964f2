"""Path inspector: how one path method walks from the baseline x' to the image x.

f and the gradient norm at every path node, the change of f accumulated along the way, Split IG's saturation point
alpha*, the map and its completeness gap: the typed records ``Attribution.path`` and ``Attribution.completeness``.
The page offers the methods that declare they record a path (``records`` in ``xai_core.methods.describe()``).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages.components import charts, compute, fair, method_settings, page, runner, state, urlstate
from xai_core import viz

SCOPE = "path"
RUNNING_TOTAL_NOTE = (
    "The bottom panel is f(path(α)) − f(x′), the change of f since the baseline: the running total an exact "
    "(complete) attribution would have reached by α. The method's per-node contributions are not recorded, so it is "
    "not the method's own running sum; the star at α = 1 is the method's actual sum(attr), and its distance from "
    "the dotted line f(x) − f(x′) is the completeness gap."
)


def show(display: Any, result: compute.MapResult, labels: list[str]) -> None:
    st.subheader(f"{result.title} for class {result.target} · {labels[result.target]}")
    picture, chart = st.columns([1, 2.2], gap="medium")
    with picture:
        normalised = viz.normalize(result.map, signed=False, percentile=99.0)
        st.image(viz.overlay(display, normalised, alpha=0.55, cmap="inferno"), caption=result.title, width="stretch")
        when = "cached" if result.cached else "computed"
        st.caption(f"{runner.duration(result.runtime_ms / 1000)} ({when}) · " + ", ".join(
            f"{k}={v}" for k, v in result.params.items()))  # fmt: skip
        gap = result.completeness
        f_x = f_base = total = None
        if gap is not None:
            f_x, f_base, total, difference = (float(v[0]) for v in (gap.f_input, gap.f_baseline, gap.total, gap.gap))
            st.caption(gap.caption())
            a, b = st.columns(2)
            a.metric("f(x)", f"{f_x:.4g}")
            b.metric("f(x′)", f"{f_base:.4g}")
            a.metric("sum(attr)", f"{total:.4g}")
            b.metric("gap", f"{difference:+.3g}", help="sum(attr) − (f(x) − f(x′))")
        profile = None if result.path is None else result.path.row(0)
        if profile is not None and profile[3] is not None:
            st.caption(
                f"Split IG: f saturates at α* = {profile[3]:.3f}; the map integrates [0, α*] and the "
                "saturated part [α*, 1] is kept aside, so sum(attr) and the gap count both parts."
            )
    with chart:
        if profile is None:
            st.info(f"{result.method} recorded no path profile.")
            return
        figure = charts.path_figure(*profile[:3], f_x, f_base, total, profile[3])
        st.plotly_chart(figure, key=state.PATH_CHART)
        st.caption(RUNNING_TOTAL_NOTE)


subject = page.subject()
urlstate.restore(SCOPE, multiple=False)
st.title("Path inspector")
path_methods = method_settings.simplest([m for m, d in method_settings.catalog().items() if "path" in d["records"]])
picture, settings = st.columns([1, 2.2], gap="medium")
page.picture(subject, picture)
with settings:
    method = method_settings.pick(
        SCOPE, path_methods, multiple=False, options=path_methods, label="Path method",
        help="Methods that integrate gradients along a path and record it.",
    )[0]  # fmt: skip
    with st.form(state.PATH_FORM):
        target = st.selectbox(
            "Target class (type to search)", range(len(subject.labels)), index=subject.predicted,
            format_func=subject.label, key=state.path_target_key(subject.model_name, subject.image.sha256),
        )  # fmt: skip
        request = method_settings.one(SCOPE, method, bound=fair.bound)
        submitted = st.form_submit_button("Walk the path", type="primary", key=state.PATH_SUBMIT)
urlstate.publish(SCOPE, [request])
runner.stopped_note()
if submitted:
    found = runner.maps(subject, [request], int(target))[0]
    if isinstance(found, compute.Failure):
        st.error(found.message)
    st.session_state[state.PATH_RESULT] = (subject.model_name, subject.image.sha256, found)
stored = st.session_state.get(state.PATH_RESULT)
current = (subject.model_name, subject.image.sha256)
if stored is None or stored[:2] != current or not isinstance(stored[2], compute.MapResult):
    st.caption("Choose a path method and press **Walk the path**.")
    st.stop()
show(subject.prepared.display, stored[2], subject.labels)

"""Path inspector: how one path method walks from the baseline x' to the image x.

f and the gradient norm at every path node, the change of f accumulated along the way, Split IG's saturation point
alpha*, the map and its completeness gap: the typed records ``Attribution.path`` and ``Attribution.completeness``.
The page offers the methods that declare they record a path (``records`` in ``xai_core.methods.describe()``).
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

import xai_core
from pages.components import charts, compute, param_form, sidebar, state
from xai_core import viz

log = logging.getLogger(__name__)

DEFAULT_METHOD = "integrated_gradients"
RUNNING_TOTAL_NOTE = (
    "The bottom panel is f(path(α)) − f(x′), the change of f since the baseline: the running total an exact "
    "(complete) attribution would have reached by α. The method's per-node contributions are not recorded, so it is "
    "not the method's own running sum; the star at α = 1 is the method's actual sum(attr), and its distance from "
    "the dotted line f(x) − f(x′) is the completeness gap."
)


def walk(name: str, model: Any, image: Any, spec: xai_core.Request, target: int) -> compute.MapResult | None:
    bar = st.progress(0.0, text=f"Walking the path of {spec.method}…")
    try:
        return compute.compute_map(
            name, model, image, spec, target, progress=lambda f: bar.progress(min(max(f, 0.0), 1.0))
        )
    except xai_core.ParameterError as exc:
        st.error(str(exc))
    except Exception as exc:
        log.exception("path method %s failed", spec.method)
        st.error(f"{spec.method} failed: {exc}")
    finally:
        bar.empty()
    return None


def show(display: Any, result: compute.MapResult, labels: list[str]) -> None:
    st.subheader(f"{result.method} for class {result.target} · {labels[result.target]}")
    picture, chart = st.columns([1, 2.2], gap="medium")
    with picture:
        normalised = viz.normalize(result.map, signed=False, percentile=99.0)
        st.image(viz.overlay(display, normalised, alpha=0.55, cmap="inferno"), caption=result.method, width="stretch")
        st.caption(f"{result.runtime_ms:.0f} ms · " + ", ".join(f"{k}={v}" for k, v in result.params.items()))
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


def main() -> None:
    st.title("Path inspector")
    name, model = sidebar.current_model()
    image = st.session_state.get(state.IMAGE)
    if model is None or image is None:
        st.info("Choose a model that loads and a valid image in the sidebar.")
        return
    prepared = compute.prepare(name, image.sha256, model, image.image)
    labels = list(model.labels)
    catalog = {m["name"]: m for m in xai_core.methods.describe() if "path" in m["records"]}
    picture, settings = st.columns([1, 2.2], gap="medium")
    picture.image(prepared.display, caption=f"{image.name}, as the model sees it", width="stretch")
    with settings:
        methods = list(catalog)
        method = st.selectbox(
            "Path method",
            methods,
            index=methods.index(DEFAULT_METHOD) if DEFAULT_METHOD in methods else 0,
            key=state.PATH_METHOD,
            help="Methods that integrate gradients along a path and record it.",
        )
        meta = catalog[method]
        st.caption(f"{meta['summary']} [{meta['paper']}]({meta['url']})" if meta.get("url") else meta["summary"])
        with st.form(state.PATH_FORM):
            target = st.selectbox(
                "Target class (type to search)",
                range(len(labels)),
                index=prepared.top_k[0][0],
                format_func=lambda c: f"{c} · {labels[c]}",
                key=state.path_target_key(name, image.sha256),
            )
            params = param_form.render(meta["params"], lambda p: state.method_param_key("path", method, p), columns=2)
            submitted = st.form_submit_button("Walk the path", type="primary", key=state.PATH_SUBMIT)
    if submitted:
        try:
            request = xai_core.Request.create(method, params)
        except xai_core.ParameterError as exc:
            st.error(str(exc))
            request = None
        result = None if request is None else walk(name, model, image, request, int(target))
        st.session_state[state.PATH_RESULT] = None if result is None else (name, image.sha256, result)
    stored = st.session_state.get(state.PATH_RESULT)
    if stored is None or stored[:2] != (name, image.sha256):
        st.caption("Choose a path method and press **Walk the path**.")
        return
    show(prepared.display, stored[2], labels)


try:
    main()
except Exception as exc:  # the page boundary: a message for the user, the traceback for the log
    log.exception("path inspector failed")
    st.error(f"Something went wrong on this page: {exc}")

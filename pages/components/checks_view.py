"""The four sections of the Axioms & robustness page: axioms, max-sensitivity, fragility attack, parameter sweep.

Each section: method choice outside its form (the form's widgets depend on it), settings inside an ``st.form``,
the cached computation from ``checks_compute`` on submit, and the result kept in session state together with the
(model, image) it belongs to, so it is shown only for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import xai_core
from pages.components import checks_compute, fair, method_settings, state, sweep_chart
from pages.components.compute import Failure
from pages.components.widgets import kept
from xai_core import viz

log = logging.getLogger(__name__)

Context = tuple[str, Any, Any, np.ndarray]  # (model id, model wrapper, LoadedImage, display image uint8)
RESULT_LABELS = {True: "pass", False: "fail", None: "n.a."}  # plain text: emoji fonts are not everywhere


def requests(scope: str, methods: list[str], subject: Context, *, with_noise: bool = True,
             exclude: Sequence[str] = ()) -> list[xai_core.Request | Failure]:  # fmt: skip
    """The section's method settings (light defaults: each check runs the method several times); in its form."""
    layers = subject[1].cam_layers()
    found = method_settings.form(
        scope, methods, with_noise=with_noise, lighter=True, layers=layers, bound=fair.bound,
        exclude={m: exclude for m in methods},
    )  # fmt: skip
    for item in found:
        if isinstance(item, Failure):
            st.error(item.message)
    return found


def _valid(found: list[xai_core.Request | Failure]) -> list[xai_core.Request]:
    return [r for r in found if isinstance(r, xai_core.Request)]


def _run(label: str, compute: Callable[[], Any]) -> Any | None:
    """Run one computation; a failure becomes a message on the page, never a traceback."""
    try:
        return compute()
    except (xai_core.ParameterError, xai_core.HookError, ValueError) as exc:
        st.error(f"{label}: {exc}")
    except Exception as exc:
        log.exception("%s failed", label)
        st.error(f"{label} failed: {exc}")
    return None


def _current(key: str, ctx: Context) -> Any | None:
    stored = st.session_state.get(key)
    if stored is None or stored[:2] != (ctx[0], ctx[2].sha256):
        return None
    return stored[2]


def _overlay(image: np.ndarray, values: np.ndarray) -> np.ndarray:
    return viz.overlay(image, viz.normalize(values, signed=False, percentile=99.0), alpha=0.5, cmap="inferno")


# --- axioms -------------------------------------------------------------------------------------------------------


def axioms_section(ctx: Context, catalog: dict[str, dict[str, Any]]) -> None:
    name, model, image, _ = ctx
    st.markdown(
        "Completeness, dummy sensitivity, implementation invariance (batch norm folded into the conv), linearity "
        "and symmetry preservation, each as a relative error against a stated tolerance (see the Learn page); "
        "sensitivity (a) as the share of the score change credited to the one changed region (higher is better). "
        "**Time:** about 10 s for a one-pass method such as saliency, 30–60 s for integrated gradients at 16 steps."
    )
    chosen = method_settings.pick(state.AXIOMS_PARAMS, ("saliency",))
    with st.form(state.AXIOMS_FORM):
        with st.container(height=260):
            found = _valid(requests(state.AXIOMS_PARAMS, chosen, ctx))
        submitted = st.form_submit_button("Check axioms", type="primary", key=state.AXIOMS_SUBMIT)
    if submitted and found:
        rows, bar = [], st.progress(0.0)
        for i, request in enumerate(found):
            bar.progress(i / len(found), text=f"Checking {request.title} ({i + 1}/{len(found)})…")
            timed = _run(request.title, lambda r=request: checks_compute.axioms(
                name, image.sha256, r.key(), model, image.image, r))  # fmt: skip
            if timed is not None:
                rows += [_axiom_row(request.title, r, timed.seconds) for r in timed.value]
        bar.empty()
        st.session_state[state.AXIOMS_RESULTS] = (name, image.sha256, rows)
    rows = _current(state.AXIOMS_RESULTS, ctx)
    if rows:
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            width="stretch",
            height=35 * (len(rows) + 1) + 3,  # every row visible: no inner scrolling
            column_config={
                "value": st.column_config.NumberColumn("relative error", format="%.3g"),
                "tolerance": st.column_config.NumberColumn("tolerance", format="%.1e"),
                "seconds": st.column_config.NumberColumn("s (method)", format="%.1f"),
            },
        )
        st.caption(
            "Tolerances: implementation invariance, linearity and symmetry hold exactly for a method that has them, "
            "so they are checked on a float64 copy of the model against 1e-6. In float32 rounding alone moves a "
            "gradient map of the batch-norm-folded twin by up to 1.3e-2 (ReLU6 units at a kink switch), which a "
            "float32 tolerance of 1e-3 reported as failures; in float64 the same difference is 1e-15, while a "
            "method that really breaks an axiom is off by 1e-2 or more. Completeness is the method's own "
            "approximation (path steps) and keeps 1e-2."
        )


def _axiom_row(title: str, result: Any, seconds: float) -> dict[str, Any]:
    applicable = not np.isnan(result.value)
    return {
        "method": title,
        "axiom": result.axiom.replace("_", " "),
        "result": RESULT_LABELS[result.passed if applicable else None],
        "value": result.value if applicable else None,
        "tolerance": result.tolerance,
        "detail": result.detail,
        "seconds": seconds,
    }


# --- max-sensitivity ------------------------------------------------------------------------------------------------


def sensitivity_section(ctx: Context, catalog: dict[str, dict[str, Any]]) -> None:
    name, model, image, _ = ctx
    st.markdown(
        "How much does the map change under small random noise (L∞ radius in pixel units, the target fixed)? "
        "Max over the draws of ‖M(x+δ) − M(x)‖ / ‖M(x)‖; **lower is more stable** (Yeh et al. 2019). "
        "**Time:** well under a second per draw for one-pass methods."
    )
    chosen = method_settings.pick(state.SENS_PARAMS, ("saliency", "grad_cam"))
    with st.form(state.SENS_FORM):
        c1, c2, c3 = st.columns(3)
        radius = kept(c1.slider, "radius", state.SENS_RADIUS, 0.02, min_value=0.005, max_value=0.1, step=0.005,
                      help="in [0, 1] pixel units")  # fmt: skip
        samples = kept(c2.slider, "draws", state.SENS_SAMPLES, 4, min_value=1, max_value=32)
        seed = kept(c3.number_input, "seed", state.SENS_SEED, 0, min_value=0, max_value=2**31 - 1)
        with st.container(height=220):
            found = _valid(requests(state.SENS_PARAMS, chosen, ctx))
        submitted = st.form_submit_button("Measure max-sensitivity", type="primary", key=state.SENS_SUBMIT)
    if submitted and found:
        rows = []
        with st.spinner(f"Perturbing the image {samples} times per method…"):
            for request in found:
                timed = _run(request.title, lambda r=request: checks_compute.sensitivity(
                    name, image.sha256, r.key(), float(radius), int(samples), int(seed), model, image.image,
                    r))  # fmt: skip
                if timed is not None:
                    rows.append({"method": request.title, "max-sensitivity": timed.value, "seconds": timed.seconds})
        st.session_state[state.SENS_RESULTS] = (name, image.sha256, (rows, radius, samples))
    result = _current(state.SENS_RESULTS, ctx)
    if result and result[0]:
        rows, radius, samples = result
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            column_config={
                "max-sensitivity": st.column_config.NumberColumn(format="%.3f"),
                "seconds": st.column_config.NumberColumn(format="%.1f"),
            },
        )
        st.caption(f"radius {radius:g}, {samples} draws; 0 means the map did not move at all.")


# --- fragility attack -----------------------------------------------------------------------------------------------


def fragility_section(ctx: Context, catalog: dict[str, dict[str, Any]]) -> None:
    name, model, image, display = ctx
    st.markdown(
        "Ghorbani et al. (2019): small sign-gradient steps within an L∞ budget ε that keep the predicted class but "
        "push the map's mass away from its top-k pixels. Random ±ε noise of the same size is the control. "
        "**Time:** about 2 s per attack step for saliency on the CPU (5 steps: 10–20 s)."
    )
    method = method_settings.pick(state.FRAG_PARAMS, ("saliency",), multiple=False, label="Method", help=None)
    with st.form(state.FRAG_FORM):
        c1, c2, c3, c4 = st.columns(4)
        eps = kept(c1.slider, "ε (in 1/255)", state.FRAG_EPSILON, 8, min_value=1, max_value=16)
        steps = kept(c2.slider, "attack steps", state.FRAG_STEPS, 5, min_value=1, max_value=20)
        top_k = kept(c3.number_input, "top-k pixels", state.FRAG_TOP_K, 1000, min_value=10, max_value=50_000, step=100)
        seed = kept(c4.number_input, "seed", state.FRAG_SEED, 0, min_value=0, max_value=2**31 - 1)
        found = _valid(requests(state.FRAG_PARAMS, method, ctx))
        submitted = st.form_submit_button("Attack the explanation", type="primary", key=state.FRAG_SUBMIT)
    if submitted and found:
        request = found[0]
        with st.spinner(f"Attacking {request.title} for {steps} steps…"):
            result = _run(request.title, lambda: checks_compute.fragility(
                name, image.sha256, request.key(), eps / 255.0, int(steps), int(top_k), int(seed), model, image.image,
                request))  # fmt: skip
        if result is not None:
            st.session_state[state.FRAG_RESULTS] = (name, image.sha256, (request.title, result))
    stored = _current(state.FRAG_RESULTS, ctx)
    if stored:
        show_fragility(display, *stored)


def show_fragility(display: np.ndarray, method: str, r: checks_compute.Fragility) -> None:
    if r.moved == 0:
        st.info("Every attack step would have changed the predicted class, so the image was kept as it was (likely "
                "when the top two classes are close). Try a smaller ε, more steps (the step size is ε divided by a "
                "quarter of the steps) or an image the model is surer about, e.g. the coffee sample.")  # fmt: skip
    numbers = [
        (
            f"top-{r.top_k} intersection",
            f"{r.topk_intersection:.2f}",
            f"random noise: {r.random_topk_intersection:.2f}",
        ),
        ("rank correlation", f"{r.rank_correlation:.2f}", f"random noise: {r.random_rank_correlation:.2f}"),
        ("image moved (L∞)", f"{r.moved * 255:.1f}/255", f"budget {r.epsilon * 255:.0f}/255"),
        ("predicted class kept", "yes" if r.class_kept else "no", None),
    ]
    for column, (label, value, note) in zip(st.columns(4), numbers, strict=True):
        column.metric(label, value, note, delta_color="off", delta_arrow="off")
    pictures = [
        (display, "image"),
        (_overlay(display, r.original), f"{method}: original"),
        (_overlay(r.attacked_display, r.attacked), "after the attack"),
        (_overlay(display, r.random), "random ±ε noise (control)"),
    ]
    for column, (picture, caption) in zip(st.columns(4), pictures, strict=True):
        column.image(picture, caption=caption, width="stretch")
    st.caption(f"{r.seconds:.1f} s. Intersection and correlation: 1 means the map is unchanged; an attack that "
               "lowers them much more than random noise shows a fragile explanation.")  # fmt: skip


# --- hyperparameter sweep -------------------------------------------------------------------------------------------


def _default_values(spec: dict[str, Any]) -> str:
    """A quarter, a half and all of the parameter's (light) default: steps 4, 8, 16."""
    value, low = method_settings.light(spec), spec.get("low")
    if spec["type"] == "int":
        candidates = [max(low if low is not None else 1, value // 4), max(low or 0, value // 2), value]
        return ", ".join(str(v) for v in dict.fromkeys(candidates))
    return ", ".join(f"{v:g}" for v in dict.fromkeys([value / 4, value / 2, value]))


def parse_values(text: str, spec: dict[str, Any]) -> list[Any]:
    """Comma-separated numbers for an int or float parameter; a message naming the bad entry otherwise."""
    cast: Callable[[str], Any] = int if spec["type"] == "int" else float
    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            values.append(cast(part))
        except ValueError:
            kind = "whole numbers" if spec["type"] == "int" else "numbers"
            raise ValueError(f"values of '{spec['name']}' must be {kind}; got {part!r}") from None
    if not values:
        raise ValueError(f"enter at least one value of '{spec['name']}'")
    return list(dict.fromkeys(values))


def _values_widget(method: str, spec: dict[str, Any]) -> Callable[[], list[Any]]:
    key = state.sweep_values_key(method, spec["name"])
    if spec["type"] in ("choice", "bool"):
        options = list(spec["choices"]) if spec["type"] == "choice" else [False, True]
        picked = kept(st.multiselect, "values", key, options[:3], options=options)
        return lambda: list(picked) or parse_values("", spec)
    text = kept(st.text_input, "values (comma-separated)", key, _default_values(spec))
    return lambda: parse_values(text, spec)


def sweep_section(ctx: Context, catalog: dict[str, dict[str, Any]]) -> None:
    name, model, image, display = ctx
    st.markdown(
        "Run one method with one parameter at several values; each map is compared with the last value's by "
        "Spearman rank correlation (1: the same ranking of pixels). **Time:** integrated gradients at 4, 8, 16 "
        "steps about 5–10 s; the insertion/deletion AUCs add a few seconds."
    )
    sweepable = [m for m, meta in catalog.items() if any(p["type"] in ("int", "float") for p in meta["params"])]
    c1, c2 = st.columns(2)
    with c1:
        method = method_settings.pick(
            state.SWEEP_PARAMS, ("integrated_gradients",), multiple=False, options=sweepable, label="Method", help=None
        )[0]
    specs = {p["name"]: p for p in catalog[method]["params"]}
    names = list(specs)
    numeric = next(n for n in names if specs[n]["type"] in ("int", "float"))
    param = kept(c2.selectbox, "Parameter", state.sweep_param_key(method), numeric, options=names)
    with st.form(state.SWEEP_FORM):
        values = _values_widget(method, specs[param])
        faithfulness = kept(st.checkbox, "Also insertion/deletion AUC per value", state.SWEEP_FAITHFULNESS, False)
        found = _valid(requests(state.SWEEP_PARAMS, [method], ctx, with_noise=False, exclude=(param,)))
        submitted = st.form_submit_button("Run the sweep", type="primary", key=state.SWEEP_SUBMIT)
    if submitted and found:
        request = found[0]
        with st.spinner(f"Sweeping {param} of {request.title}…"):
            timed = _run(request.title, lambda: checks_compute.sweep(
                name, image.sha256, request.key(), param, checks_compute.freeze(values()), faithfulness, model,
                image.image, request))  # fmt: skip
        if timed is not None:
            st.session_state[state.SWEEP_RESULTS] = (name, image.sha256, timed)
    timed = _current(state.SWEEP_RESULTS, ctx)
    if timed:
        show_sweep(display, timed.value, timed.seconds)


def show_sweep(display: np.ndarray, result: Any, seconds: float) -> None:
    per_row = 5  # fixed, so that a short sweep does not blow the maps up to a third of the page
    for start in range(0, len(result.values), per_row):
        for column, i in zip(st.columns(per_row), range(start, min(start + per_row, len(result.values))), strict=False):
            caption = f"{result.param}={result.values[i]} · ρ={result.rank_correlation[i, 0]:.2f}"
            column.image(_overlay(display, result.maps[i, 0]), caption=caption, width="stretch")
    st.plotly_chart(sweep_chart.figure(result), width="stretch", key=state.SWEEP_CHART)
    st.caption(f"{seconds:.1f} s in all; ρ is measured against {result.param}={result.reference}.")


def sections() -> Sequence[tuple[str, Callable[[Context, dict[str, dict[str, Any]]], None]]]:
    return [
        ("Axioms", axioms_section),
        ("Max-sensitivity", sensitivity_section),
        ("Fragility attack", fragility_section),
        ("Hyperparameter sweep", sweep_section),
    ]

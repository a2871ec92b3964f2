"""The Sanity checks page's two tests: model randomization (form, run, gallery, curves) and data randomization.

Methods run with their default parameters and explain the trained model's prediction; runs report progress
through the engine's callback and are cached per method (``randomization``, ``data_randomization``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

import xai_core
from pages.components import charts, compute, fair, measures, method_settings, runner, state
from pages.components import data_randomization as data_rand
from pages.components import randomization as rand
from pages.components.widgets import kept

DEFAULT_METHODS = ("saliency", "guided_backprop")
DIGITS_SEED = 0
SLOW_PASSES = 20  # default settings needing more passes than this are marked slow in the pickers


def method_label(catalog: dict[str, dict[str, Any]]) -> Callable[[str], str]:
    """``Title (id)``, marked slow when its default settings take more than ``SLOW_PASSES`` passes per map."""
    cost = {m: xai_core.jobs.passes(xai_core.Request.create(m)) for m in catalog}
    return lambda m: f"{method_settings.title(m)} · slow" if cost[m] > SLOW_PASSES else method_settings.title(m)


def model_test(name: str, model: Any, image: Any, catalog: dict[str, dict[str, Any]]) -> None:
    top_down = rand.layer_names(model)
    with st.form(state.SANITY_FORM):
        methods = kept(
            st.multiselect, "Methods", state.SANITY_METHODS, [m for m in DEFAULT_METHODS if m in catalog],
            options=list(catalog), format_func=method_label(catalog),
            help="Each method runs with its default hyperparameters and explains the trained model's prediction.",
        )  # fmt: skip
        a, b, c, d, e = st.columns([1.1, 1.7, 0.7, 0.7, 0.7])
        mode = kept(a.radio, "Mode", state.SANITY_MODE, "cascading", options=["cascading", "independent"])
        choice = kept(
            b.radio, "Layers to randomize", state.SANITY_LAYER_CHOICE, rand.EVERY, options=list(rand.LAYER_CHOICES),
            format_func=lambda c: rand.LAYER_CHOICES[c],
            help="Every k-th: the logits layer, every k-th below it and the input layer; in cascading mode the "
            "layers in between keep their trained weights. First N: a true cascade through the top N layers.",
        )  # fmt: skip
        n = len(top_down)
        every = kept(c.number_input, "k", state.SANITY_EVERY, min(10, n), min_value=1, max_value=n)
        first = kept(d.number_input, "N", state.SANITY_FIRST, min(5, n), min_value=1, max_value=n)
        seed = kept(e.number_input, "Seed", state.SANITY_SEED, 0, min_value=0, max_value=2**31 - 1,
                    help="Seeds the re-initialisation.")  # fmt: skip
        per_map = rand.estimate_seconds([1], 0, fair.timer().per_pass(name))
        st.caption(
            f"This model has {n} parameter layers. Each randomized layer costs one map per method: about "
            f"{runner.duration(per_map)} for a gradient method on this server, times the passes of a path method "
            "(marked slow). A run stops when you change the sidebar or submit new settings; methods that "
            "finished stay cached."
        )
        submitted = st.form_submit_button("Run model randomization", type="primary", key=state.SANITY_SUBMIT)
    if submitted:
        layers = rand.plan(top_down, choice, int(every), int(first))
        eta = rand.estimate_seconds(
            [xai_core.jobs.passes(xai_core.Request.create(m)) for m in methods], len(layers),
            fair.timer().per_pass(name),
        )  # fmt: skip
        st.caption(f"{len(layers)} layers × {len(methods)} methods: roughly {runner.duration(eta)} on this server.")
        if methods:
            items = rand.run_all(name, model, image, methods, str(mode), layers, int(seed))
            st.session_state[state.SANITY_RESULTS] = (name, image.sha256, items)
        else:
            st.warning("Choose at least one method.")
    stored = st.session_state.get(state.SANITY_RESULTS)
    if stored is None or stored[:2] != (name, image.sha256):
        st.caption("Choose methods and layers, then press **Run model randomization**.")
        return
    show_model_test(name, model, image, stored[2])


def show_model_test(name: str, model: Any, image: Any, items: Sequence[rand.MethodRun | compute.Failure]) -> None:
    runs = [r for r in items if isinstance(r, rand.MethodRun)]
    display = compute.prepare(name, image.sha256, model, image.image).display
    labels = list(model.labels)
    a, b, c = st.columns([3, 1, 1])
    if runs:
        run = runs[0]
        a.markdown(f"**{run.mode.capitalize()}** randomization, explaining class {run.target} · {labels[run.target]}")
    on_image = b.toggle("Maps over the image", key=state.SANITY_ON_IMAGE)
    shared = c.toggle("One scale per row", key=state.SANITY_SHARED, help="Shows how the map's magnitude changes.")
    for item in items:
        if isinstance(item, compute.Failure):
            st.error(f"**{item.method}**: {item.message}")
            continue
        st.markdown(f"**{item.method}** · {item.seconds:.0f} s")
        rand.gallery(display, item, on_image=on_image, shared=shared)
    if runs:
        st.plotly_chart(rand.similarity_figure(runs), key=state.SANITY_CHART)


def data_test(catalog: dict[str, dict[str, Any]]) -> None:
    st.caption(
        "Two copies of a small CNN trained on scikit-learn's 8×8 digits (upsampled to 32 px): one with true labels, "
        "one with shuffled labels. The first run trains both (about 30–60 s on a CPU, then cached on disk)."
    )
    with st.form(state.SANITY_DATA_FORM):
        a, b = st.columns([3, 1])
        methods = kept(
            a.multiselect, "Methods", state.SANITY_DATA_METHODS, [m for m in DEFAULT_METHODS if m in catalog],
            options=list(catalog), format_func=method_label(catalog),
        )  # fmt: skip
        images = kept(b.number_input, "Test digits", state.SANITY_DATA_IMAGES, 6, min_value=1, max_value=16)
        submitted = st.form_submit_button("Run data randomization", type="primary", key=state.SANITY_DATA_SUBMIT)
    if submitted and methods:
        items = data_rand.run_all(methods, int(images), DIGITS_SEED)
        st.session_state[state.SANITY_DATA_RESULTS] = items
    elif submitted:
        st.warning("Choose at least one method.")
    show_data_test(st.session_state.get(state.SANITY_DATA_RESULTS) or [])


def show_data_test(items: Sequence[data_rand.DataRun | compute.Failure]) -> None:
    runs = [r for r in items if isinstance(r, data_rand.DataRun)]
    for item in items:
        if isinstance(item, compute.Failure):
            st.error(f"**{item.method}**: {item.message}")
    if not runs:
        return
    for column, (key, (label, help_text)) in zip(st.columns(4), data_rand.ACCURACY_LABELS.items(), strict=True):
        column.metric(label, f"{runs[0].accuracy[key]:.2f}", help=help_text)
    table = pd.DataFrame([{"method": r.method, **{rand.MEASURE_LABELS[k]: v for k, v in r.mean.items()}} for r in runs])
    numbers = {label: st.column_config.NumberColumn(label, format="%.2f") for label in rand.MEASURE_LABELS.values()}
    st.dataframe(table, hide_index=True, width="stretch", column_config=numbers)
    st.caption("Mean similarity of the two models' maps over the digits: low is passing.")
    data_rand.digits_row(runs[0])
    for run in runs:
        data_rand.maps_rows(run)


MEASURES_SCOPE = state.SANITY_MEASURES_SCOPE
SUPPLIED = ("model", "inputs", "maps", "explainer")


def measures_test(subject: Any) -> None:
    """Every registered randomization measure (random logit, smooth and efficient MPRT, ...) of the chosen methods,
    each explained with its own settings (post-processing included) on randomised copies of the model."""
    offered = measures.available("randomization", SUPPLIED)
    if not offered:
        st.info("No randomization measure is registered in this version of xai_core.")
        return
    st.caption(
        "Each measure explains the image again, with the method's own settings, for another class or on randomised "
        "copies of the model (never the model itself); the progress bar shows the time left."
    )
    chosen = method_settings.pick(MEASURES_SCOPE, DEFAULT_METHODS, describe=runner.labels(subject))
    names = measures.pick(MEASURES_SCOPE, offered, offered)
    with st.form(state.form_key(MEASURES_SCOPE)):
        with st.container(height=240):
            specs = method_settings.form(
                MEASURES_SCOPE, chosen, layers=subject.model.cam_layers(), bound=fair.bound, lighter=True
            )
        values = measures.settings_form(MEASURES_SCOPE, names)
        submitted = st.form_submit_button("Run the measures", type="primary", key=state.SANITY_MEASURES_SUBMIT)
    with st.expander(f"The {len(offered)} randomization measures: what they measure, their papers"):
        measures.about(offered, key=state.SANITY_MEASURES_ABOUT)
    result = measures.submit(
        MEASURES_SCOPE, subject, state.SANITY_MEASURES_RESULTS, submitted=submitted,
        requests=specs if chosen else [], names=names, values=values, target=subject.predicted,
    )  # fmt: skip
    if result is None:
        return
    measures.show_table(result)
    groups = measures.curves(result)
    if groups:
        figure = charts.measure_curves_figure(groups, x_title="share of the layers randomised (from the logits)")
        st.plotly_chart(figure, key=state.SANITY_MEASURES_CHART)

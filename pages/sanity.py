"""Sanity checks page: model and data randomization tests (Adebayo et al. 2018) and how to read them.

Settings sit in forms; runs report progress through the engine's callback and are cached per method
(``components/randomization.py``, ``components/data_randomization.py``). Changing any input while a run is going
reruns the page, which cancels the run; methods that already finished stay cached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

import xai_core
from pages.components import compute, sidebar, state
from pages.components import data_randomization as data_rand
from pages.components import randomization as rand

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("saliency", "guided_backprop")
PAPER = "https://arxiv.org/abs/1810.03292"
DIGITS_SEED = 0
GUIDE = f"""
**What the checks ask.** A saliency map should depend on what the model learned. If you destroy the model or the
data it learned from and the map hardly changes, the map was never telling you about the model.

**Model randomization.** The weights are re-initialised from the logits down: *cascading* keeps the layers above
randomised as it goes deeper, *independent* randomises one layer at a time with the rest trained. Each thumbnail's
ρ is the Spearman rank correlation of |map| with the trained model's map.
- *Passing*: the maps turn into noise or into something unrelated once the top layers are random, and the curves
  fall towards 0 and stay there.
- *Failing*: the maps keep the object's edges and the curves stay high even with most of the network random. The
  method is then mostly showing the image, not the model.

**Data randomization.** The same small CNN is trained on the digits with true labels and with shuffled labels,
which it can only memorise (high training accuracy, chance on the test set). *Passing*: the two models' maps differ
(low ρ). *Failing*: they look alike, so the map does not reflect what the labels taught the model.

**What the paper found.** Plain gradients and Grad-CAM pass both tests. Guided backprop and guided Grad-CAM stay
almost unchanged under randomization: they behave like edge detectors, and an edge detector applied to the image
gives similar pictures without any model. Methods that multiply by the input (input × gradient, integrated
gradients) keep some of the image's structure for the same reason, so their maps change less than the plain
gradient's. Similarity numbers are a guide, not a verdict: look at the maps too.

Adebayo et al., *Sanity Checks for Saliency Maps*, NeurIPS 2018: [{PAPER}]({PAPER})
"""


def method_label(catalog: dict[str, dict[str, Any]]) -> Callable[[str], str]:
    return lambda m: f"{m} (slow)" if catalog[m].get("family") == "integrated" else m


def model_test(name: str, model: Any, image: Any, catalog: dict[str, dict[str, Any]]) -> None:
    top_down = rand.layer_names(model)
    with st.form(state.SANITY_FORM):
        methods = st.multiselect(
            "Methods",
            list(catalog),
            default=[m for m in DEFAULT_METHODS if m in catalog],
            format_func=method_label(catalog),
            key=state.SANITY_METHODS,
            help="Each method runs with its default hyperparameters and explains the trained model's prediction.",
        )
        a, b, c, d, e = st.columns([1.1, 1.7, 0.7, 0.7, 0.7])
        mode = a.radio("Mode", ["cascading", "independent"], key=state.SANITY_MODE)
        choice = b.radio(
            "Layers to randomize",
            list(rand.LAYER_CHOICES),
            format_func=lambda c: rand.LAYER_CHOICES[c],
            key=state.SANITY_LAYER_CHOICE,
            help="Every k-th: the logits layer, every k-th below it and the input layer; in cascading mode the "
            "layers in between keep their trained weights. First N: a true cascade through the top N layers.",
        )
        every = c.number_input("k", 1, len(top_down), min(10, len(top_down)), key=state.SANITY_EVERY)
        first = d.number_input("N", 1, len(top_down), min(5, len(top_down)), key=state.SANITY_FIRST)
        seed = e.number_input("Seed", 0, 2**31 - 1, 0, key=state.SANITY_SEED, help="Seeds the re-initialisation.")
        st.caption(
            f"This model has {len(top_down)} parameter layers. Each randomized layer costs one map per method: on a "
            f"quiet 2-core CPU about {rand.SECONDS_PER_MAP['vanilla']:.0f} s for a gradient method on the bundled "
            "Lite0 (k = 10, two gradient methods: about 25 s; all layers: several minutes), 20–50× more for a path "
            "method (marked slow). A run stops when you change the sidebar or submit new settings; methods that "
            "finished stay cached."
        )
        submitted = st.form_submit_button("Run model randomization", type="primary", key=state.SANITY_SUBMIT)
    if submitted:
        layers = rand.plan(top_down, choice, int(every), int(first))
        eta = rand.estimate_seconds([catalog[m].get("family", "vanilla") for m in methods], len(layers))
        st.caption(f"{len(layers)} layers × {len(methods)} methods: roughly {eta:.0f} s on a quiet 2-core CPU.")
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
        methods = a.multiselect(
            "Methods",
            list(catalog),
            default=[m for m in DEFAULT_METHODS if m in catalog],
            format_func=method_label(catalog),
            key=state.SANITY_DATA_METHODS,
        )
        images = b.number_input("Test digits", 1, 16, 6, key=state.SANITY_DATA_IMAGES)
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


def main() -> None:
    st.title("Sanity checks")
    catalog = {m["name"]: m for m in xai_core.methods.describe()}
    model_tab, data_tab, guide_tab = st.tabs(["Model randomization", "Data randomization", "How to read this"])
    with model_tab:
        name, model = sidebar.current_model()
        image = st.session_state.get(state.IMAGE)
        if model is None:
            st.info("Choose a model that loads (see the message in the sidebar).")
        elif image is None:
            st.info("Choose a sample image or upload a valid image in the sidebar.")
        else:
            model_test(name, model, image, catalog)
    with data_tab:
        data_test(catalog)
    with guide_tab:
        st.markdown(GUIDE)


try:
    main()
except Exception as exc:  # the page boundary: a message for the user, the traceback for the log
    log.exception("sanity page failed")
    st.error(f"Something went wrong on this page: {exc}")

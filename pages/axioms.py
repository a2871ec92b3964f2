"""Axioms & robustness: does a method keep its promises on the current model and image?

Four checks from ``xai_core.checks`` (survey 2.1 and 4): the axioms (completeness, sensitivity, implementation
invariance, linearity, symmetry), max-sensitivity to small noise, the fragility attack on the map, and a sweep of
one hyperparameter. Each runs behind its own form button and is cached per (model, image, method, settings);
the defaults are light because every check runs the method several times on the CPU.
"""

from __future__ import annotations

import logging

import streamlit as st

import xai_core
from pages.components import checks_view, compute, sidebar, state

log = logging.getLogger(__name__)


def main() -> None:
    st.title("Axioms & robustness")
    name, model = sidebar.current_model()
    image = st.session_state.get(state.IMAGE)
    if model is None:
        st.info("Choose a model that loads (see the message in the sidebar).")
        return
    if image is None:
        st.info("Choose a sample image or upload a valid image in the sidebar.")
        return
    prepared = compute.prepare(name, image.sha256, model, image.image)
    label = prepared.top_k[0]
    picture, intro = st.columns([1, 5], gap="medium")
    picture.image(prepared.display, caption=f"{image.name}: {label[1]} ({label[2]:.0%})", width="stretch")
    intro.markdown(
        "Every check explains the model's **predicted class** on this image. The checks run the method many "
        "times, so the defaults are light (e.g. 16 path steps); the times quoted are for the bundled "
        "EfficientNet-Lite0 on a 2-core CPU, and each result shows the time it took. Results are cached: "
        "asking again with the same settings is instant."
    )
    catalog = {m["name"]: m for m in xai_core.methods.describe()}
    context = (name, model, image, prepared.display)
    for tab, (_, section) in zip(st.tabs([t for t, _ in checks_view.sections()]), checks_view.sections(), strict=True):
        with tab:
            section(context, catalog)


try:
    main()
except Exception as exc:  # the page boundary: a message for the user, the traceback for the log
    log.exception("axioms page failed")
    st.error(f"Something went wrong on this page: {exc}")

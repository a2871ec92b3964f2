"""Axioms & robustness: does a method keep its promises on the current model and image?

Four checks from ``xai_core.checks`` (survey 2.1 and 4): the axioms (completeness, sensitivity, implementation
invariance, linearity, symmetry), max-sensitivity to small noise, the fragility attack on the map, and a sweep of
one hyperparameter. Each runs behind its own form button and is cached per (model, image, request, settings); the
defaults are light because every check runs the method several times on the CPU. "Send to Axioms" on the Explain
page fills the first section's form with the explained requests.
"""

from __future__ import annotations

import streamlit as st

from pages.components import checks_view, method_settings, page, state, urlstate

subject = page.subject()
urlstate.restore(state.AXIOMS_PARAMS)
st.title("Axioms & robustness")
label = subject.prepared.top_k[0]
picture, intro = st.columns([1, 5], gap="medium")
page.picture(subject, picture, f"{subject.image.name}: {label[1]} ({label[2]:.0%})")
intro.markdown(
    "Every check explains the model's **predicted class** on this image. The checks run the method many times, so "
    "the defaults are light (e.g. 16 path steps); each result shows the time it took. Results are cached: asking "
    "again with the same settings is instant."
)
context = (subject.model_name, subject.model, subject.image, subject.prepared.display)
sections = checks_view.sections()
for tab, (_, section) in zip(st.tabs([t for t, _ in sections]), sections, strict=True):
    with tab:
        section(context, method_settings.catalog())

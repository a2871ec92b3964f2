"""Sanity checks page: model and data randomization tests (Adebayo et al. 2018), every registered randomization
measure (random logit, smooth/efficient MPRT, ...) and how to read them.

Settings sit in forms; runs report progress through the engine's callback and are cached per method
(``components/sanity_view.py``). Changing any input while a run is going reruns the page, which cancels the run;
methods that already finished stay cached.
"""

from __future__ import annotations

import streamlit as st

from pages.components import method_settings, page, sanity_view
from xai_core import teaching

st.title("Sanity checks")
catalog = method_settings.catalog()
model_tab, measures_tab, data_tab, guide_tab = st.tabs(
    ["Model randomization", "Randomization measures", "Data randomization", "How to read this"]
)
with model_tab:
    subject = page.current()
    if subject is not None:
        sanity_view.model_test(subject.model_name, subject.model, subject.image, catalog)
with measures_tab:
    if subject is not None:
        sanity_view.measures_test(subject)
with data_tab:
    sanity_view.data_test(catalog)
with guide_tab:
    st.markdown(teaching.SANITY_GUIDE)

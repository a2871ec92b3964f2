"""Presentation (classroom) mode: hide Streamlit's chrome and the sidebar, enlarge text and formulas.

The choice lives in a plain session-state key (``state.PRESENTATION``), not only in the toggle's widget key:
Streamlit drops a widget's state when a page without that widget runs, so the toggle is re-seeded from the plain
key on every run and writes back to it when flipped. Switching pages and coming back keeps the mode.
"""

from __future__ import annotations

import streamlit as st

from pages.components import state

# Selectors are Streamlit's stable data-testid attributes.
CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stExpandSidebarButton"] {
    display: none !important;
}
[data-testid="stMainBlockContainer"] { padding-top: 1.5rem; max-width: 100%; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.3rem !important; }
[data-testid="stCaptionContainer"] p, [data-testid="stCaptionContainer"] { font-size: 1.1rem !important; }
[data-testid="stWidgetLabel"] p, [data-baseweb="select"] div { font-size: 1.15rem !important; }
.katex { font-size: 1.45em; }
[data-testid="stMetricValue"] { font-size: 2.6rem; }
[data-testid="stTab"] p { font-size: 1.25rem !important; }
</style>
"""


def _remember() -> None:
    st.session_state[state.PRESENTATION] = bool(st.session_state[state.PRESENTATION_TOGGLE])


def toggle() -> bool:
    """The presentation toggle; injects the CSS when it is on. Returns whether it is on."""
    st.session_state.setdefault(state.PRESENTATION, False)
    st.session_state[state.PRESENTATION_TOGGLE] = st.session_state[state.PRESENTATION]
    on = st.toggle(
        "Presentation mode",
        key=state.PRESENTATION_TOGGLE,
        on_change=_remember,
        help="Full screen for a projector: hides the sidebar and the menu, enlarges text. Switch off to leave.",
    )
    if on:
        st.markdown(CSS, unsafe_allow_html=True)
    return bool(on)

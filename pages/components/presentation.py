"""Presentation (classroom) mode for the whole app: larger text on every page, navigation still there.

The toggle sits in the sidebar (``toggle``), the choice in a plain session-state key (``state.PRESENTATION``, not
only the toggle's widget key, which Streamlit drops on pages without it), and ``apply`` (app.py, every run) injects
the CSS. Sizes are for a 1280x720 projector seen from the back of a room: body text 20 px, captions and widget
labels 18 px, the values inside select boxes and multiselects 18 px (Streamlit draws them at 14 px), HTML tables 19
px (the ReLU rules' outputs), and the canvas-drawn editable grids scaled by ``zoom`` (their 13 px cells become about
18 px); tests/e2e/test_browser_frame.py measures the computed sizes in Chromium. The sidebar stays, narrower, so
the navigation is still one click away; Streamlit's header and toolbar are hidden.
"""

from __future__ import annotations

import streamlit as st

from pages.components import state

BODY_PX, LABEL_PX, SELECT_PX, TABLE_PX, GRID_ZOOM = 20, 18, 18, 19, 1.4
# Always: Streamlit's 6rem of empty space above every page's title, and a settings form growing with each method
# (3,700 px with six open), pushed the maps off a 1280x720 screen. The form box scrolls within 30% of the height.
FORM_BOX_CSS = ".st-key-explain-form-box { max-height: 30vh; overflow-y: auto; }"
# Selectors are Streamlit's stable data-testid attributes and the ARIA roles of its (react-aria) select lists.
CSS = f"""
<style>
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"] {{ display: none !important; }}
[data-testid="stMainBlockContainer"] {{ padding-top: 1rem; max-width: 100%; }}
[data-testid="stSidebar"] {{ min-width: 220px !important; max-width: 240px !important; }}
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li {{ font-size: {BODY_PX}px !important; }}
[data-testid="stCaptionContainer"] p, [data-testid="stCaptionContainer"] {{ font-size: {LABEL_PX}px !important; }}
[data-testid="stWidgetLabel"] p {{ font-size: {LABEL_PX}px !important; }}
[data-testid="stSelectbox"] input, [data-testid="stMultiSelect"] input, [data-testid="stMultiSelectTagsContainer"] span,
[role="listbox"] [role="option"] {{ font-size: {SELECT_PX}px !important; }}
[data-testid="stTable"] td, [data-testid="stTable"] th {{ font-size: {TABLE_PX}px !important; }}
[data-testid="stDataFrame"] {{ zoom: {GRID_ZOOM}; }}
[data-testid="stSidebarNav"] a span {{ font-size: {LABEL_PX}px !important; }}
.katex {{ font-size: 1.45em; }}
[data-testid="stMetricValue"] {{ font-size: 2.6rem; }}
[data-testid="stTab"] p {{ font-size: {LABEL_PX}px !important; }}
{FORM_BOX_CSS}
</style>
"""


def _remember() -> None:
    st.session_state[state.PRESENTATION] = bool(st.session_state[state.PRESENTATION_TOGGLE])


def on() -> bool:
    """Whether presentation mode is on in this session."""
    return bool(st.session_state.get(state.PRESENTATION, False))


def toggle() -> bool:
    """The presentation toggle in the sidebar (re-seeded from the plain key on every run). Returns whether it is on."""
    st.session_state[state.PRESENTATION_TOGGLE] = on()
    return bool(
        st.sidebar.toggle(
            "Presentation mode",
            key=state.PRESENTATION_TOGGLE,
            on_change=_remember,
            help="For a projector: larger text and tables on every page, the menu hidden; the navigation stays.",
        )
    )


FRAME_CSS = f"<style>[data-testid='stMainBlockContainer'] {{ padding-top: 2.5rem; }} {FORM_BOX_CSS}</style>"


def apply() -> None:
    """Inject the frame's CSS, and presentation mode's when it is on (app.py calls this on every run)."""
    st.markdown(CSS if on() else FRAME_CSS, unsafe_allow_html=True)

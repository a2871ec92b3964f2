"""Saliency Studio: router and frame only (page config, navigation, the shared sidebar, the error boundary).

Run with ``streamlit run serve.py`` (``make run``: this script plus the study server's sign-in page and headers) or
``streamlit run app.py``. The sidebar (model and image pickers) is rendered here so that its choices survive page
switches; each page reads them from session state (keys in ``pages/components/state.py``). This file is the app's
only error boundary: a page raises, the user reads a message with an error id, the log gets the traceback. Logging
is configured here once per process (level ``XAI_LOG_LEVEL``); the server refuses clients' clear-cache messages
(``cache_guard``); a shared link's settings are applied before the pages run (``urlstate``).

Who sees what: a participant's link (``?study=``) shows the study alone; with ``$XAI_STUDY_ONLY=1`` (a
participant-facing server) every visitor who is not a signed-in study admin sees only the study page, so removing
``?study=`` from a link does not open the studio; a signed-in admin also gets the design and results pages.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

import xai_core
from pages.components import cache_guard, incident, presentation, sidebar, study_access, urlstate


def configure_logging() -> None:
    """One stderr handler for the app's and the engine's loggers, once per process (reruns do not add more)."""
    root = logging.getLogger()
    if any(getattr(h, "saliency_studio", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.saliency_studio = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    for name in ("saliency_studio", "xai_core", "pages"):
        logging.getLogger(name).setLevel(xai_core.settings.log_level())


def page(path: str, title: str, icon: str, section: str, *, default: bool = False) -> st.Page:
    """An ``st.Page`` whose URL is ``<section>-<file stem>``.

    The URL deliberately differs from the file stem: Streamlit still treats ``pages/*.py`` as legacy (v1) pages
    until ``st.navigation`` has run once in the process, and a request whose page hash equals a v1 page's (the
    hash of its stem) would run that file directly, without ``app.py`` and its sidebar. That happens on the first
    run after a server start and on every ``AppTest`` rerun; a distinct URL always routes through this file.
    """
    url_path = f"{section.lower()}-{Path(path).stem}"
    return st.Page(path, title=title, icon=icon, url_path=url_path, default=default)


def studio_pages() -> dict[str, list[st.Page]]:
    """Every page of the studio; the study admin pages only for a session signed in with the admin token."""
    study_pages = [page("pages/study_take_part.py", "Take part", ":material/how_to_reg:", "Study")]
    if study_access.is_admin():
        study_pages += [
            page("pages/study_design.py", "Study design", ":material/edit_note:", "Study"),
            page("pages/study_results.py", "Study results", ":material/analytics:", "Study"),
        ]
    return {
        "Explore": [
            page("pages/explain.py", "Explain", ":material/image_search:", "Explore", default=True),
            page("pages/path_inspector.py", "Path inspector", ":material/timeline:", "Explore"),
        ],
        "Evaluate": [
            page("pages/faithfulness.py", "Faithfulness", ":material/show_chart:", "Evaluate"),
            page("pages/localization.py", "Localization", ":material/center_focus_strong:", "Evaluate"),
            page("pages/robustness.py", "Robustness & complexity", ":material/blur_on:", "Evaluate"),
            page("pages/sanity.py", "Sanity checks", ":material/shuffle:", "Evaluate"),
            page("pages/axioms.py", "Axioms & robustness", ":material/rule:", "Evaluate"),
            page("pages/benchmark.py", "Benchmark", ":material/leaderboard:", "Evaluate"),
        ],
        "Learn": [
            page("pages/learn.py", "Learn (classroom mode)", ":material/school:", "Learn"),
        ],
        "Study": study_pages,
    }


configure_logging()
cache_guard.install()
# An emoji icon becomes a data: URL; a ":material/...:" one is fetched from fonts.gstatic.com by every browser.
st.set_page_config(page_title="Saliency Studio", page_icon="🔍", layout="wide")

# A participant's study link shows the study alone: no sidebar, no other page, nothing of the admin's. On a
# study-only server, so does every other URL for anyone but a signed-in admin.
participant = study_access.participant_link_open() or (study_access.study_only() and not study_access.is_admin())
if participant:
    take_part = page("pages/study_take_part.py", "Study", ":material/how_to_reg:", "Study", default=True)
    navigation = st.navigation([take_part], position="hidden")
else:
    navigation = st.navigation(studio_pages())
try:
    if not participant:
        urlstate.apply()
        presentation.apply()
        sidebar.render()
        study_access.sign_in_box()
    elif study_access.study_only() and not study_access.participant_link_open():
        study_access.sign_in_box()  # the study lead signs in here too; the sidebar holds nothing else
    navigation.run()
except Exception:  # the app boundary: never a traceback, nor an exception's text, in the browser
    error_id = incident.report(f"page {navigation.title} failed")
    st.error(f"Something went wrong (error id {error_id}). The details are in the server log.")

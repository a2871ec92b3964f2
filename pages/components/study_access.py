"""Study storage and the admin gate, as the app uses them.

The database is opened once per server process (``st.cache_resource``) from ``$XAI_STUDY_DB_URL`` or the Streamlit
secret of that name, else the SQLite file ``studies/studies.db``. The admin secret comes from
``$XAI_STUDY_ADMIN_TOKEN`` or the secret of that name; without one the study admin area is off. A browser session
that signs in with the secret gets the design and results pages registered in its navigation; nobody else has
them (``app.py``), and each admin page checks ``is_admin()`` again before it reads anything.

A participant's link is ``?study=<code>`` (plus ``&pid=<recruiter id>`` when a recruiter hands out ids); once the
participant starts, ``&session=<token>`` is added, so a reload or a lost connection resumes from the database.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st

from pages.components import state
from xai_core import study

log = logging.getLogger(__name__)

STUDY_PARAM = "study"  # query parameter: the study's join code
PARTICIPANT_PARAM = "pid"  # query parameter: a recruiter's participant id (optional)
SESSION_PARAM = "session"  # query parameter: the participant's session token, added when they start
FAILED_SIGN_IN_DELAY_S = 1.0  # slows guessing; the comparison itself is constant-time (study.require_admin)


def _secret(name: str) -> str | None:
    """``$name`` or the Streamlit secret ``name`` (no secrets file is fine: that is the default)."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    try:
        found: Any = st.secrets.get(name)
    except Exception:  # no secrets.toml, or one that does not parse: the environment is the only source then
        return None
    return (str(found).strip() or None) if found else None


@st.cache_resource(show_spinner="Opening the study database…", max_entries=4)
def _open(url: str | None) -> study.Database:
    return study.open_database(url)


def database() -> study.Database:
    """The study database shared by every browser session of this server (migrated to the newest schema)."""
    return _open(_secret(study.ENV_URL))


def open_or_explain() -> study.Database | None:
    """``database()``, or ``None`` with an error on the page naming what is wrong (bad URL, server down...)."""
    try:
        return database()
    except study.StudyError as exc:
        st.error(f"The study database cannot be used: {exc}")
    except Exception as exc:  # a database server that refuses or is unreachable
        log.exception("opening the study database failed")
        st.error(f"The study database cannot be opened ({type(exc).__name__}: {exc}). Check {study.ENV_URL}.")
    return None


def admin_configured() -> bool:
    return _secret(study.ENV_ADMIN_TOKEN) is not None


def is_admin() -> bool:
    """This browser session signed in with the admin token."""
    return bool(st.session_state.get(state.STUDY_ADMIN))


def require_admin_page() -> None:
    """First line of every admin page: stop with a message unless this session is signed in."""
    if not is_admin():
        st.error("This page is for the study admin: sign in with the admin token in the sidebar.")
        st.stop()


def sign_in_box() -> None:
    """The sidebar's admin sign-in (or sign-out); a successful sign-in reruns so the admin pages appear."""
    if is_admin():
        st.sidebar.caption("Signed in as study admin.")
        if st.sidebar.button("Sign out of study admin", key=state.STUDY_SIGN_OUT):
            st.session_state[state.STUDY_ADMIN] = False
            st.rerun()
        return
    with st.sidebar.expander("Study admin"):
        if not admin_configured():
            st.caption(f"Off: set {study.ENV_ADMIN_TOKEN} (or the Streamlit secret of that name) to enable it.")
            return
        with st.form(state.STUDY_ADMIN_FORM, clear_on_submit=True, border=False):
            token = st.text_input("Admin token", type="password", key=state.STUDY_ADMIN_TOKEN)
            submitted = st.form_submit_button("Sign in", key=state.STUDY_ADMIN_SUBMIT)
        if submitted:
            try:
                study.require_admin(token, _secret(study.ENV_ADMIN_TOKEN))
            except study.AdminError as exc:
                time.sleep(FAILED_SIGN_IN_DELAY_S)
                st.session_state[state.STUDY_ADMIN_ERROR] = f"Not signed in: {exc}."
            else:
                st.session_state[state.STUDY_ADMIN] = True
                st.session_state[state.STUDY_ADMIN_ERROR] = None
                st.rerun()
        if st.session_state.get(state.STUDY_ADMIN_ERROR):
            st.error(st.session_state[state.STUDY_ADMIN_ERROR])


def participant_link_open() -> bool:
    """The URL is a participant's study link: the app then shows the study alone, without the other pages."""
    return bool(st.query_params.get(STUDY_PARAM))


def share_link(code: str) -> str:
    """The link participants open: this server's address (as the admin's browser reached it) with ``?study=``."""
    query = urlencode({STUDY_PARAM: code})
    try:
        parts = urlsplit(str(st.context.url or ""))
    except Exception:  # a test runner without a browser URL
        return f"?{query}"
    if not parts.netloc:
        return f"?{query}"
    base_path = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{parts.scheme}://{parts.netloc}/{base_path + '/' if base_path else ''}?{query}"

"""Study storage, the admin session and the participant's link, as the app uses them.

The database is opened once per server process (``st.cache_resource``) from ``$XAI_STUDY_DB_URL`` or the Streamlit
secret of that name, else the SQLite file ``studies/studies.db``. The admin secret comes from
``$XAI_STUDY_ADMIN_TOKEN`` or the secret of that name (16 characters or more; ``serve.py`` refuses to start with a
shorter one). An admin signs in on the sign-in page (``study_routes``), which sets an HttpOnly cookie naming a
server-side session; ``is_admin`` checks that session on every run, so a reload keeps the admin signed in until the
session expires or is signed out, and the design and results pages exist only for such a session (``app.py``).
Each admin page, each close and each export checks it again when it happens.

A participant's link is ``?study=<code>`` (plus ``&pid=<recruiter id>`` when a recruiter hands out ids); once the
participant starts, ``&session=<token>`` is added. The browser's device key (an HttpOnly cookie) lets the same
browser resume from the plain link. ``$XAI_STUDY_ONLY=1`` makes a participant-facing server show nothing but the
study pages to anyone who is not a signed-in admin.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st

import xai_core
from pages.components import incident, state, study_routes
from xai_core import study

log = logging.getLogger(__name__)

STUDY_PARAM = "study"  # query parameter: the study's join code
PARTICIPANT_PARAM = "pid"  # query parameter: a recruiter's participant id (optional)
SESSION_PARAM = "session"  # query parameter: the participant's session token, added when they start
ENV_STUDY_ONLY = "XAI_STUDY_ONLY"
MIN_ANSWER_MS = study.MIN_ANSWER_MS  # a module attribute, so a test can shorten it


def setting(name: str) -> str | None:
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
    return _open(setting(study.ENV_URL))


def open_or_explain() -> study.Database | None:
    """``database()``, or ``None`` with a message on the page and the details (URL, driver text) in the log only."""
    try:
        return database()
    except Exception:  # a bad URL, a database server that refuses or is unreachable
        error_id = incident.report("opening the study database failed")
        st.error(f"The study database cannot be opened (error id {error_id}). The details are in the server log.")
    return None


def study_only() -> bool:
    """``$XAI_STUDY_ONLY`` is set: a participant-facing server that shows anonymous visitors the study pages only."""
    return xai_core.settings.raw(ENV_STUDY_ONLY).lower() in ("1", "true", "yes", "on")


def _cookie(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no browser connection (a bare script run)
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


def admin_session_id() -> str | None:
    """The admin session id this browser holds (the HttpOnly cookie set by the sign-in page), if any."""
    return _cookie(study_routes.ADMIN_COOKIE)


def device_key() -> str | None:
    """This browser's device key (an HttpOnly cookie set with the first page load), if any."""
    return _cookie(study_routes.DEVICE_COOKIE)


def admin_unavailable() -> str | None:
    """Why nobody can sign in as study admin on this server, or None when the sign-in page works."""
    try:
        study.check_secret(setting(study.ENV_ADMIN_TOKEN))
    except study.AdminError as exc:
        return f"Off: {exc}."
    if not study_routes.installed():
        return "Off: the sign-in page needs the server started with `streamlit run serve.py` (make run)."
    return None


def is_admin() -> bool:
    """This browser holds a valid, unexpired admin session (checked against the server, every time)."""
    return admin_unavailable() is None and study.ADMIN_SESSIONS.valid(admin_session_id())


def require_admin_page() -> None:
    """First line of every admin page: stop with a message unless this browser is signed in."""
    if not is_admin():
        st.error("This page is for the study admin: sign in under Study admin in the sidebar.")
        st.stop()


def admin_check(session_id: str | None) -> None:
    """For deferred work (an export built when its button is clicked): the session must still be valid then."""
    if not study.ADMIN_SESSIONS.valid(session_id):
        raise study.AdminError("the admin session has expired or was signed out: sign in again")


def sign_in_box() -> None:
    """The sidebar's admin sign-in link (the sign-in page sets the cookie), or the session and a sign-out."""
    if is_admin():
        left = study.ADMIN_SESSIONS.remaining_s(admin_session_id())
        st.sidebar.caption(f"Signed in as study admin (for {int(left // 3600)} h {int(left % 3600 // 60)} min).")
        if st.sidebar.button("Sign out of study admin", key=state.STUDY_SIGN_OUT):
            study.ADMIN_SESSIONS.revoke(admin_session_id())
            st.rerun()
        return
    with st.sidebar.expander("Study admin"):
        problem = admin_unavailable()
        if problem:
            st.caption(problem)
            return
        st.link_button("Sign in as study admin", study_routes.SIGN_IN_PATH)
        st.caption("Opens the sign-in page; the studio then shows the study design and results pages.")


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

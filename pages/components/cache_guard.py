"""Keep the shared caches out of reach of Streamlit's clear-cache message.

Any browser can send the ``clear_cache`` BackMsg over its websocket (the developer menu's "Clear cache" does; a
script can too). Streamlit 1.67's ``AppSession._handle_clear_cache_request`` then empties ``st.cache_data`` and
``st.cache_resource`` for the whole process (every session's maps, the study database's engine) and the sender's
session state; on a shared server page loads went from 0.9 s to 2.8-5.0 s after one such message. ``install`` wraps
that handler: unless ``XAI_ALLOW_CLEAR_CACHE`` is set (development), the message only clears the sender's own
session state and is logged as refused. Models are kept outside Streamlit's caches anyway (``compute.get_model``).
"""

from __future__ import annotations

import logging
from typing import Any

from streamlit.runtime.app_session import AppSession

import xai_core

log = logging.getLogger(__name__)
_MARK = "_saliency_studio_guarded"


def _refuse(session: Any) -> None:
    """The guarded handler: log, and clear nothing shared."""
    if xai_core.settings.allow_clear_cache():
        _ORIGINAL(session)
        return
    log.warning("refused a clear-cache message from session %s (set XAI_ALLOW_CLEAR_CACHE=1 to allow)", session.id)
    session._session_state.clear()  # what the message does to the sender alone stays allowed


_ORIGINAL = AppSession._handle_clear_cache_request


def install() -> None:
    """Wrap the server's clear-cache handler once per process (idempotent)."""
    if getattr(AppSession._handle_clear_cache_request, _MARK, False):
        return
    setattr(_refuse, _MARK, True)
    AppSession._handle_clear_cache_request = _refuse  # type: ignore[method-assign]

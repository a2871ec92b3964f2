"""Unexpected failures: a short error id for the page, the details (exception and traceback) for the server log.

The browser never sees an exception's text: it can name hosts, ports, file paths or SQL (``showErrorDetails =
"none"`` in ``.streamlit/config.toml`` keeps Streamlit's own messages generic as well).
"""

from __future__ import annotations

import logging
import secrets

log = logging.getLogger("saliency_studio")


def report(what: str) -> str:
    """Log the exception being handled (call from an ``except`` block) under a new id, and return the id."""
    error_id = secrets.token_hex(4)
    log.exception("[error %s] %s", error_id, what)
    return error_id

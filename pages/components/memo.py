"""``st.cache_data`` for results computed with live progress: look up first, compute outside, then store.

A cached function replays the ``st.*`` calls made inside it, and a call on a placeholder created outside cannot be
replayed, so work that updates a chart or a progress bar as it goes cannot run inside ``st.cache_data``. Here the
cached function only stores: ``lookup(key)`` answers from the cache or ``None`` (a miss raises inside, and raised
exceptions are never cached), the page computes with its progress callbacks, then ``remember(key, value)`` puts the
value in the same cache (``_value`` is not hashed: the key alone identifies the entry).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import streamlit as st

T = TypeVar("T")


class _Miss(LookupError):
    pass


@st.cache_data(show_spinner=False, max_entries=256)
def _entry(key: str, _value: Any = None) -> Any:
    if _value is None:
        raise _Miss(key)
    return _value


def key(*parts: Any) -> str:
    """A cache key from plain data (dicts in key order, so equal settings give equal keys)."""
    return json.dumps(parts, sort_keys=True, default=str)


def lookup(cache_key: str) -> Any | None:
    """The value stored under ``cache_key``, or ``None``."""
    try:
        return _entry(cache_key)
    except _Miss:
        return None


def remember(cache_key: str, value: T) -> T:
    """Store ``value`` under ``cache_key`` (an existing entry wins) and return what the cache holds."""
    stored: T = _entry(cache_key, value)
    return stored

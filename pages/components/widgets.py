"""Widgets whose values survive page switches and reloads, and the widget of a parameter schema entry.

Streamlit forgets a widget's value when a page without that widget runs. Every setting widget of the app is made
here with ``keep(key, default)`` first: the value lives in a plain dict (``state.STORE``, not a widget key) and
seeds the widget's key when the widget comes back; after the widget ran, the store takes its value (``remember``).
The URL (``urlstate``) and "Send to ..." write into the same store. Widgets are created without ``value=`` (the
seeded key is their value), so Streamlit never sees two sources for one widget.

``param(spec, key)`` renders one parameter of a ``Param.describe()`` schema by its type through ``WIDGETS`` (a dict,
not an if/elif chain): int -> slider (small bounded range) or number input, float -> number input, choice ->
selectbox, bool -> checkbox, text -> text input. The engine validates again, so a value a widget lets through ends
in a ``ParameterError`` message, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from pages.components import state

SLIDER_MAX_STEPS = 100  # bounded int ranges up to this many steps get a slider


def store() -> dict[str, Any]:
    """The persistent values of every setting widget (``state.STORE``), by widget key."""
    found: dict[str, Any] = st.session_state.setdefault(state.STORE, {})
    return found


def keep(key: str, default: Any, valid: Callable[[Any], bool] = lambda _v: True) -> None:
    """Seed widget ``key`` before it is created: from the store when it holds a ``valid`` value, else ``default``."""
    if key in st.session_state:
        return
    kept = store().get(key, default)
    st.session_state[key] = kept if valid(kept) else default


def remember(key: str, value: Any) -> Any:
    """Record a widget's value in the store (call after the widget); returns ``value``."""
    store()[key] = value
    return value


def put(values: Mapping[str, Any]) -> None:
    """Write values into the store and into live widget keys (a URL, "Send to ..."): they show on the next run.

    Must run before those widgets are created in this run (at the top of a page or in a callback)."""
    store().update(values)
    for key, value in values.items():
        st.session_state[key] = value


def forget(keys: Sequence[str]) -> None:
    """Drop kept values (their widgets start from their defaults again)."""
    for key in keys:
        store().pop(key, None)
        st.session_state.pop(key, None)


def _label(spec: Mapping[str, Any]) -> str:
    return str(spec["name"]).replace("_", " ")


def _in_range(spec: Mapping[str, Any], value: Any) -> bool:
    low, high = spec.get("low"), spec.get("high")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if spec["type"] == "int" and int(value) != value:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def valid(spec: Mapping[str, Any]) -> Callable[[Any], bool]:
    """Whether a stored value fits the widget of ``spec`` (a value from an old schema or a URL may not)."""
    checks: dict[str, Callable[[Any], bool]] = {
        "bool": lambda v: isinstance(v, bool),
        "choice": lambda v: v in spec.get("choices", ()),
        "int": lambda v: _in_range(spec, v),
        "float": lambda v: _in_range(spec, v),
        "text": lambda v: isinstance(v, str),
    }
    return checks.get(spec["type"], lambda _v: False)


def _bool(spec: Mapping[str, Any], key: str, help_text: str | None) -> Any:
    return st.checkbox(_label(spec), help=help_text, key=key)


def _choice(spec: Mapping[str, Any], key: str, help_text: str | None) -> Any:
    return st.selectbox(_label(spec), list(spec["choices"]), help=help_text, key=key)


def _int(spec: Mapping[str, Any], key: str, help_text: str | None) -> Any:
    low, high = spec.get("low"), spec.get("high")
    if low is not None and high is not None and high - low <= SLIDER_MAX_STEPS:
        return st.slider(_label(spec), int(low), int(high), step=1, help=help_text, key=key)
    return st.number_input(
        _label(spec),
        min_value=None if low is None else int(low),
        max_value=None if high is None else int(high),
        step=1,
        help=help_text,
        key=key,
    )


def _float(spec: Mapping[str, Any], key: str, help_text: str | None) -> Any:
    low, high = spec.get("low"), spec.get("high")
    if low is not None and high is not None and high > low:
        step = float(high - low) / 100.0
    else:
        step = max(abs(float(spec["default"])) / 10.0, 0.01)
    return st.number_input(
        _label(spec),
        min_value=None if low is None else float(low),
        max_value=None if high is None else float(high),
        step=step,
        format="%.4g" if step < 0.01 else None,
        help=help_text,
        key=key,
    )


def _text(spec: Mapping[str, Any], key: str, help_text: str | None) -> Any:
    return st.text_input(_label(spec), help=help_text, key=key)


WIDGETS: dict[str, Callable[[Mapping[str, Any], str, str | None], Any]] = {
    "bool": _bool,
    "choice": _choice,
    "int": _int,
    "float": _float,
    "text": _text,
}


def param(spec: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """One widget for a parameter described by ``Param.describe()``, kept across pages; returns its value.

    ``default`` overrides the schema's default (a lighter one, or a limit's clamp); ``spec`` may carry a lowered
    ``high`` (the fair-use limit), so a stored value above it falls back to the default.
    """
    kind = spec["type"]
    if kind not in WIDGETS:
        raise ValueError(f"parameter {spec['name']!r}: unknown type {kind!r}; known: {sorted(WIDGETS)}")
    keep(key, spec["default"] if default is None else default, valid(spec))
    value = WIDGETS[kind](spec, key, spec.get("help") or None)
    return remember(key, value)


def kept(widget: Callable[..., Any], label: str, key: str, default: Any, **kwargs: Any) -> Any:
    """Any Streamlit widget (``st.multiselect``, ``st.radio``, a column's ``selectbox``) kept across pages:
    ``kept(st.slider, "Steps", key, 50, min_value=1, max_value=200)``. ``options=`` values not offered any more are
    dropped from a kept choice."""
    options = kwargs.get("options")

    def fits(value: Any) -> bool:
        if options is None:
            return True
        offered = list(options)
        return all(v in offered for v in value) if isinstance(value, list) else value in offered

    keep(key, default, fits)
    return remember(key, widget(label, key=key, **kwargs))

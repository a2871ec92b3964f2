"""Widgets generated from a parameter schema (``xai_core.methods.describe()[i]["params"]``), one per parameter.

int -> slider when the range is small and bounded, number_input otherwise; float -> number_input with range and
step; choice -> selectbox; bool -> checkbox. Works inside or outside an ``st.form``. The engine validates again, so
a widget that lets a bad value through ends in a ``ParameterError`` message, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

_SLIDER_MAX_STEPS = 100  # bounded int ranges up to this many steps get a slider


def _label(spec: dict[str, Any]) -> str:
    return str(spec["name"]).replace("_", " ")


def _float_step(low: float | None, high: float | None, default: float) -> float:
    if low is not None and high is not None and high > low:
        return float(high - low) / 100.0
    return max(abs(float(default)) / 10.0, 0.01)


def widget(spec: dict[str, Any], key: str) -> Any:
    """Render one widget for a parameter described by ``Param.describe()``; return its value."""
    kind, label, help_text, default = spec["type"], _label(spec), spec.get("help") or None, spec["default"]
    if kind == "bool":
        return st.checkbox(label, value=bool(default), help=help_text, key=key)
    if kind == "choice":
        choices = list(spec["choices"])
        index = choices.index(default) if default in choices else 0
        return st.selectbox(label, choices, index=index, help=help_text, key=key)
    low, high = spec.get("low"), spec.get("high")
    if kind == "int":
        if low is not None and high is not None and high - low <= _SLIDER_MAX_STEPS:
            return st.slider(label, int(low), int(high), int(default), step=1, help=help_text, key=key)
        return st.number_input(
            label,
            min_value=None if low is None else int(low),
            max_value=None if high is None else int(high),
            value=int(default),
            step=1,
            help=help_text,
            key=key,
        )
    if kind == "float":
        step = _float_step(low, high, default)
        return st.number_input(
            label,
            min_value=None if low is None else float(low),
            max_value=None if high is None else float(high),
            value=float(default),
            step=step,
            format="%.4g" if step < 0.01 else None,
            help=help_text,
            key=key,
        )
    raise ValueError(f"parameter {spec['name']!r}: unknown type {kind!r}")


def render(schema: Sequence[dict[str, Any]], key: Callable[[str], str], *, columns: int = 1) -> dict[str, Any]:
    """Render widgets for every parameter in ``schema``; ``key(name)`` gives each widget's namespaced key.

    Args:
        schema: parameter descriptions (``Param.describe()``).
        key: the widget key of a parameter name (see ``state.param_key``).
        columns: lay the widgets out side by side, this many per row.

    Returns:
        ``{parameter name: value}``, ready for ``xai_core.attribute(**params)``.
    """
    values: dict[str, Any] = {}
    for start in range(0, len(schema), columns):
        row = schema[start : start + columns]
        slots = st.columns(columns) if columns > 1 else [st.container()]
        for slot, spec in zip(slots, row, strict=False):
            with slot:
                values[spec["name"]] = widget(spec, key(spec["name"]))
    return values

"""Typed hyperparameter declarations and their validation.

A method declares its hyperparameters once, as a tuple of these records. The app renders its form from
them, the registry exposes them through ``xai_core.methods.describe()``, and ``validate`` turns user input into the
resolved parameters (defaults filled in, types coerced, ranges checked) or raises ``ParameterError`` naming the
parameter, the expected and the actual value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class ParameterError(ValueError):
    """A hyperparameter is unknown, of the wrong type, or out of range."""


@dataclass(frozen=True)
class Param:
    """Base of every declaration: a name, a default and a one-line help text."""

    name: str
    default: Any
    help: str = ""

    @property
    def kind(self) -> str:
        raise NotImplementedError

    def coerce(self, value: Any, method: str) -> Any:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Plain-data form for the UI, docs and ``xai_core.methods.describe()``."""
        return {"name": self.name, "type": self.kind, "default": self.default, "help": self.help}

    def _fail(self, method: str, expected: str, value: Any) -> ParameterError:
        return ParameterError(f"{method}: parameter '{self.name}' must be {expected}; got {value!r}")


def _is_number(value: Any) -> bool:
    """A real number (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _range(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return ""
    return f" in [{'-inf' if low is None else low}, {'inf' if high is None else high}]"


@dataclass(frozen=True)
class IntParam(Param):
    low: int | None = None
    high: int | None = None

    @property
    def kind(self) -> str:
        return "int"

    def coerce(self, value: Any, method: str) -> int:
        expected = f"an integer{_range(self.low, self.high)}"
        if not _is_number(value) or not math.isfinite(value) or int(value) != value:
            raise self._fail(method, expected, value)
        value = int(value)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise self._fail(method, expected, value)
        return value

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "low": self.low, "high": self.high}


@dataclass(frozen=True)
class FloatParam(Param):
    low: float | None = None
    high: float | None = None

    @property
    def kind(self) -> str:
        return "float"

    def coerce(self, value: Any, method: str) -> float:
        expected = f"a finite number{_range(self.low, self.high)}"
        if not _is_number(value) or not math.isfinite(value):
            raise self._fail(method, expected, value)
        value = float(value)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise self._fail(method, expected, value)
        return value

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "low": self.low, "high": self.high}


@dataclass(frozen=True)
class ChoiceParam(Param):
    choices: tuple[str, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> str:
        return "choice"

    def coerce(self, value: Any, method: str) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise self._fail(method, f"one of {list(self.choices)}", value)
        return str(value)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "choices": list(self.choices)}


@dataclass(frozen=True)
class BoolParam(Param):
    @property
    def kind(self) -> str:
        return "bool"

    def coerce(self, value: Any, method: str) -> bool:
        if not isinstance(value, bool):
            raise self._fail(method, "True or False", value)
        return value


def validate(schema: Sequence[Param], given: Mapping[str, Any], method: str) -> dict[str, Any]:
    """Resolve ``given`` against ``schema``: fill defaults, coerce types, check ranges, refuse unknown names."""
    known = {p.name: p for p in schema}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ParameterError(
            f"{method}: unknown parameter(s) {unknown}; this method takes {sorted(known) or 'no parameters'}"
        )
    return {p.name: p.coerce(given[p.name], method) if p.name in given else p.default for p in schema}

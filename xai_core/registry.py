"""The one place that knows every method: ``@register`` adds a class, ``get`` and ``all_methods`` look up."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, TypeVar

from xai_core.params import ParameterError

if TYPE_CHECKING:
    from xai_core.methods.base import Method

M = TypeVar("M", bound="type[Method]")

_METHODS: dict[str, type[Method]] = {}
FAMILIES = ("vanilla", "integrated", "bias", "postprocess")


def register(cls: M) -> M:
    """Class decorator: add a method to the registry under ``cls.name``."""
    name = cls.name
    if not name or name in _METHODS:
        raise ValueError(f"method name {name!r} is empty or registered twice")
    if cls.family not in FAMILIES:
        raise ValueError(f"method {name!r}: family must be one of {FAMILIES}; got {cls.family!r}")
    _METHODS[name] = cls
    return cls


class UnknownMethodError(ParameterError, KeyError):
    """A method id that is not registered (a ``ParameterError``, and a ``KeyError`` for lookups)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _load_builtin_methods() -> None:
    """Import ``xai_core.methods``, whose modules register themselves: a lookup never sees a partial registry,
    whichever module imported the registry first (``import xai_core`` loads its public API lazily)."""
    importlib.import_module("xai_core.methods")


def get(name: str) -> type[Method]:
    """The method class registered as ``name``; an ``UnknownMethodError`` listing the known names otherwise."""
    _load_builtin_methods()
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise UnknownMethodError(f"unknown method {name!r}; known methods: {sorted(_METHODS)}") from None


def all_methods() -> dict[str, type[Method]]:
    """Every registered method, in registration order."""
    _load_builtin_methods()
    return dict(_METHODS)

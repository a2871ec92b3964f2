"""``Request``: what a user asked for, as one typed, validated record from the form to the engine.

A request is a method id, that method's parameters (validated by its schema, every default filled in), an optional
noise setting (``noise.Noise``: SmoothGrad / SmoothGrad squared / VarGrad, validated by its own schema), the
explained output (logit or probability) and, for CAM methods, a layer by dotted name. The same record is what the
app's forms build, what ``attribute`` runs, the app's cache key (``key``), the JSON download (``to_dict``) and the
parameter hash of a dataset evaluation's rows (``params_hash``). Nothing downstream merges dictionaries or routes a
keyword by its name.

The target class is not part of a request: it belongs to the image being explained (the predicted class, or a
label), and one request is applied to many images.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import Tensor

from xai_core import registry
from xai_core.noise import Noise
from xai_core.params import ParameterError, validate
from xai_core.targets import OUTPUTS


def _frozen(params: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(params))


def _canonical(value: Any) -> Any:
    """Plain JSON data for hashing: tensors by content digest, shape and dtype; objects by their ``canonical()``."""
    if callable(getattr(value, "canonical", None)):  # a reference set of images (methods/_references.py)
        return value.canonical()
    if isinstance(value, Tensor):
        data = value.detach().cpu().contiguous()
        digest = hashlib.sha256(data.numpy().tobytes()).hexdigest()[:32]
        return {"tensor": digest, "shape": list(data.shape), "dtype": str(data.dtype)}
    return value


@dataclass(frozen=True, eq=False)
class Request:
    """One method with its resolved parameters and an optional noise wrapper; build it with ``Request.create``.

    Attributes:
        method: a registry id (``xai_core.methods.describe()``).
        params: every parameter of the method's schema, validated, defaults filled in (read-only).
        noise: SmoothGrad / SmoothGrad squared / VarGrad over the method, or None.
        output: ``"logit"`` or ``"probability"``: the scalar that is explained.
        layer: CAM methods only: a dotted module name (``"blocks.6"``); None uses the model's default layer.
    """

    method: str
    params: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    noise: Noise | None = None
    output: str = "logit"
    layer: str | None = None

    @classmethod
    def create(
        cls,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        noise: Noise | Mapping[str, Any] | str | None = None,
        output: str = "logit",
        layer: str | None = None,
    ) -> Request:
        """Validate everything once: an unknown method, parameter or setting is a ``ParameterError`` naming it.

        ``noise`` may be a ``Noise``, its ``to_dict()`` form, or a mode name (``"smoothgrad"``) for its defaults.
        """
        if not isinstance(method, str):
            raise ParameterError(f"method must be a registry id (a string); got {type(method).__name__}")
        cls_ = registry.get(method)
        resolved = validate(cls_.params, dict(params or {}), method)
        if isinstance(noise, str):
            noise = Noise(noise)
        elif isinstance(noise, Mapping):
            noise = Noise.from_dict(noise)
        elif noise is not None and not isinstance(noise, Noise):
            raise ParameterError(f"noise must be a Noise, a mode name or None; got {type(noise).__name__}")
        if output not in OUTPUTS:
            raise ParameterError(f"output must be one of {list(OUTPUTS)}; got {output!r}")
        if layer is not None and not isinstance(layer, str):
            raise ParameterError(f"layer must be a dotted module name or None; got {type(layer).__name__}")
        if layer is not None and not cls_.needs_layer:
            raise ParameterError(f"{method} explains the input, not a layer: layer must be None; got {layer!r}")
        return cls(method, _frozen(resolved), noise, output, layer)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Request:
        """The inverse of ``to_dict`` (the app's JSON download, a CLI spec); validated again."""
        unknown = sorted(set(data) - {"method", "params", "noise", "output", "layer"})
        if unknown:
            raise ParameterError(f"request: unknown field(s) {unknown}")
        if "method" not in data:
            raise ParameterError("request: 'method' is missing")
        return cls.create(
            data["method"],
            data.get("params") or {},
            noise=data.get("noise"),
            output=data.get("output", "logit"),
            layer=data.get("layer"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data that ``from_dict`` turns back into an equal request.

        A tensor parameter (a custom baseline, reference tensor or image set) cannot be written out: a
        ``ParameterError`` names it.
        """
        tensors = sorted(name for name, value in self.params.items() if _canonical(value) is not value)
        if tensors:
            raise ParameterError(f"{self.method}: tensor parameter(s) {tensors} cannot be written as JSON")
        return {
            "method": self.method,
            "params": dict(self.params),
            "noise": None if self.noise is None else self.noise.to_dict(),
            "output": self.output,
            "layer": self.layer,
        }

    def canonical(self) -> dict[str, Any]:
        """``to_dict`` with tensors replaced by a content digest: the input of ``key``."""
        return {
            "method": self.method,
            "params": {name: _canonical(value) for name, value in sorted(self.params.items())},
            "noise": None if self.noise is None else self.noise.to_dict(),
            "output": self.output,
            "layer": self.layer,
        }

    def key(self) -> str:
        """A stable digest of everything that determines the map (cache keys, result rows), 16 hex characters."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    params_hash = key  # a dataset evaluation's rows record it under this name

    def replace(self, **changes: Any) -> Request:
        """A validated copy with some fields changed (``params=`` merges into the current parameters)."""
        method = changes.pop("method", self.method)
        params = {**self.params, **changes.pop("params", {})} if method == self.method else changes.pop("params", {})
        fields = {"noise": self.noise, "output": self.output, "layer": self.layer, **changes}
        return Request.create(method, params, **fields)

    @property
    def title(self) -> str:
        """A short human-readable name: ``integrated_gradients + SmoothGrad (25 x 0.15)``."""
        return self.method if self.noise is None else f"{self.method} + {self.noise.title}"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:  # picklable (the app's cache), params read-only again
        return (_restore, (self.method, dict(self.params), self.noise, self.output, self.layer))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Request) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())


def _restore(method: str, params: dict[str, Any], noise: Noise | None, output: str, layer: str | None) -> Request:
    return Request(method, _frozen(params), noise, output, layer)

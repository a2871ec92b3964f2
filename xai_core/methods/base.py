"""The ``Method`` base class and the context every method computes in.

One inheritance level: concrete methods subclass ``Method`` directly and share behaviour through functions
(``gradients.py``, ``hooks.py``, ``batching.py``), not intermediate classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from xai_core.params import Param
from xai_core.paths import PixelSpace
from xai_core.targets import Target

MapKind = Literal["pixel", "cam"]
# How a [B, C, H, W] map becomes a 2-D picture (viz.reduce): the convention of each method's paper.
Reduction = Literal["max_abs", "abs_sum", "sum", "none"]


@dataclass
class Context:
    """What a method computes with, resolved by ``attribute``: never the raw user input."""

    model: nn.Module
    target: Target
    layer: nn.Module | None = None
    generator: torch.Generator | None = None
    chunk_size: int = 8
    progress: Callable[[float], None] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    space: PixelSpace = field(default_factory=lambda: PixelSpace.of(None))
    wrapper: Any = None  # the load_model wrapper when one was given (reference images, labels)
    # Under SmoothGrad/VarGrad: the noise-free inputs laid out like the noisy ``inputs`` a method is given (so
    # Expected Gradients can still leave the explained image out of its references); None otherwise.
    clean_inputs: Tensor | None = None

    def report(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(min(1.0, max(0.0, fraction)))

    def for_batch(
        self,
        target: Target,
        *,
        extras: dict[str, Any] | None = None,
        progress: Callable[[float], None] | None = None,
        clean_inputs: Tensor | None = None,
    ) -> Context:
        """The same context for an expanded or sliced batch (noise samples, path points).

        ``extras`` gives the batch its own record (SmoothGrad keeps every noise chunk's); by default it is shared.
        ``progress`` receives the batch's own fraction done (SmoothGrad maps it into its share of the whole, so a
        long inner method still reports, and can be cancelled, between its chunks). ``clean_inputs``: the noise-free
        inputs of a batch of noisy copies.
        """
        return Context(
            self.model,
            target,
            self.layer,
            self.generator,
            self.chunk_size,
            progress,
            self.extras if extras is None else extras,
            self.space,
            self.wrapper,
            clean_inputs,
        )


class Method:
    """A registered attribution method. Subclasses set the class attributes and implement ``compute``."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""  # human-readable name ("Integrated Gradients"), shown next to the id
    family: ClassVar[str] = "vanilla"
    paper: ClassVar[str] = ""  # "Authors, Title, Venue Year"
    url: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    kind: ClassVar[MapKind] = "pixel"
    reduction: ClassVar[Reduction] = "max_abs"
    needs_layer: ClassVar[bool] = False
    summary: ClassVar[str] = ""  # one line for the README table and the app
    # Typed records kept beside the map (``xai_core.extras``: "completeness", "path", "interactions"); the app
    # offers the path inspector for methods that record a path. A contract test checks each method keeps its word.
    records: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def passes(cls, params: Mapping[str, Any]) -> int:
        """Forward+backward passes per image that ``params`` imply (1 for a single-gradient method): what the app's
        time estimate multiplies by a measured per-pass time and what a fair-use cap counts."""
        return 1

    def compute(self, inputs: Tensor, ctx: Context, **params: Any) -> Tensor:
        """Return the map for ``inputs`` ``[B, C, H, W]``: same shape (pixel) or ``[B, 1, H, W]`` (cam)."""
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "title": cls.title or cls.name,
            "family": cls.family,
            "paper": cls.paper,
            "url": cls.url,
            "summary": cls.summary,
            "kind": cls.kind,
            "reduction": cls.reduction,
            "needs_layer": cls.needs_layer,
            "records": list(cls.records),
            "params": [p.describe() for p in cls.params],
        }

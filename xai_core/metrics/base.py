"""The ``Metric`` base class and the context every metric computes from.

A metric declares itself once, as a method does: its id, family, paper, one-line summary, which way is better,
what it needs (``needs``) and a schema of its settings (``params``, the same ``Param`` types methods use). The
registry (``registry.py``) validates settings with that schema, the app renders its forms from it, the CLI parses
``--set name=value`` with it, and the README's metric table is generated from it.

One inheritance level: concrete metrics subclass ``Metric`` and share work through functions. Metrics that share
expensive work (the perturbation curves, PIC's blurred images) name a *suite*: one function that computes any subset
of its members in one pass (``registry.register_suite``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from torch import Tensor

from xai_core.metrics.records import CurveResult, ScoreResult
from xai_core.params import Param

FAMILIES = ("faithfulness", "localization", "robustness", "complexity", "randomization", "axiom")
# What a metric can need from its caller (``MetricContext`` fields).
NEEDS = ("model", "inputs", "maps", "boxes", "masks", "explainer", "model_factory")

MetricResult = CurveResult | ScoreResult
# progress(fraction in [0, 1], partial): ``partial`` is a curve's scores so far (NaN where not yet scored) for curve
# metrics, None for the others.
Progress = Callable[[float, Any], None]
# explain(inputs [B, C, H, W], target [B] long tensor of classes, model=None) -> explanations [B, ...] (maps
# [B, H, W] or attributions shaped like the inputs; tensor or array), where ``model=None`` means the model being
# evaluated. Robustness measures (max/average sensitivity, local Lipschitz, relative stability) re-explain
# perturbed inputs with it; randomization measures pass randomised copies of the model as ``model``.
Explainer = Callable[..., Any]
# model_factory(seed) -> a fresh model (e.g. retrained on permuted labels, or re-initialised), for randomization
# measures that compare explanations across models.
ModelFactory = Callable[[int], Any]


def scaled_progress(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    """A progress callback reporting ``[0, 1]`` of one part as ``[lo, hi]`` of the whole."""
    if progress is None:
        return None
    report = progress
    return lambda fraction, partial: report(lo + (hi - lo) * fraction, partial)


class MetricNotApplicable(ValueError):
    """The inputs do not meet a metric's precondition (e.g. Average Drop on non-positive scores).

    ``evaluate`` raises it; ``evaluate_many`` leaves that metric out of its result and computes the others.
    """


@dataclass(frozen=True)
class MetricContext:
    """What a metric computes from, gathered by ``registry.evaluate``: the data, never the settings.

    Attributes:
        model: a wrapper from ``load_model`` or an ``nn.Module`` (``[B, C, H, W]`` -> ``[B, K]``).
        inputs: float tensor ``[B, C, H, W]`` in the model's input space.
        maps: saliency maps ``[B, H, W]`` (tensor or array) or an ``Attribution`` (reduced by its method's
            convention, explaining its own target).
        boxes: annotated boxes, one entry per image (see ``localization``).
        masks: segmentation masks ``[B, H, W]`` (bool or 0/1).
        explainer: ``explain(inputs, target, model=None) -> explanations`` (see ``Explainer``); e.g.
            ``lambda x, t, model=None: xai_core.attribute(model or m, x, "saliency", target=t).attributions``.
        model_factory: ``model_factory(seed) -> model`` (see ``ModelFactory``).
        target: class per image; ``None``: the ``Attribution``'s target, else the predicted class.
        chunk_size: images per forward; automatic from a memory budget when None (results do not depend on it).
        progress: ``progress(fraction, partial)`` (see ``Progress``).
    """

    model: Any = None
    inputs: Tensor | None = None
    maps: Any = None
    boxes: Any = None
    masks: Any = None
    explainer: Explainer | None = None
    model_factory: ModelFactory | None = None
    target: int | Sequence[int] | Tensor | np.ndarray | None = None
    chunk_size: int | None = None
    progress: Progress | None = None

    def require(self, metric: str, needs: Sequence[str]) -> None:
        """Raise ``ValueError`` naming what ``metric`` needs and what is missing."""
        missing = [need for need in needs if getattr(self, need) is None]
        if missing:
            raise ValueError(f"{metric} needs {', '.join(needs)}; missing: {', '.join(missing)}")

    def report(self, fraction: float, partial: Any = None) -> None:
        if self.progress is not None:
            self.progress(min(1.0, max(0.0, fraction)), partial)


class Metric:
    """A registered metric. Subclasses set the class attributes and implement ``compute`` (or name a ``suite``).

    Attributes:
        name: the id (``"insertion"``); records carry it as their ``name``.
        title: a short human-readable name for tables and forms (``"Insertion AUC"``).
        family: one of ``FAMILIES``.
        paper: ``"Authors. Title. Venue Year"``; url: its link.
        summary: one line for the README table and the app.
        higher_is_better: how to read the result's ``value`` (records declare it too).
        needs: the ``MetricContext`` fields it cannot do without, from ``NEEDS``.
        params: the settings schema; every setting is declared here once.
        suite: the shared-work suite computing it with its siblings (``registry.register_suite``), or ``""``.
        unit: ``"%"`` for percentages, ``""`` otherwise.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    family: ClassVar[str] = "faithfulness"
    paper: ClassVar[str] = ""
    url: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    needs: ClassVar[tuple[str, ...]] = ()
    params: ClassVar[tuple[Param, ...]] = ()
    suite: ClassVar[str] = ""
    unit: ClassVar[str] = ""

    def compute(self, ctx: MetricContext, **settings: Any) -> MetricResult:
        """The result for ``ctx`` with ``settings`` already validated against ``params`` (defaults filled in).

        Metrics that belong to a suite need not override this: ``registry.evaluate`` runs their suite.
        """
        raise NotImplementedError(f"metric {self.name!r} implements neither compute nor a suite")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Plain data for the UI, docs and ``metrics.describe()``."""
        return {
            "name": cls.name,
            "title": cls.title,
            "family": cls.family,
            "paper": cls.paper,
            "url": cls.url,
            "summary": cls.summary,
            "higher_is_better": cls.higher_is_better,
            "needs": list(cls.needs),
            "suite": cls.suite,
            "unit": cls.unit,
            "params": [p.describe() for p in cls.params],
        }

"""Faithfulness of cached maps: one ``xai_core.metrics.faithfulness_report`` per map, cached, drawn while it runs.

The curve settings are the engine's (``SCHEMA``: declared once in ``xai_core.metrics``, with defaults, ranges and
help); the page renders its form from them and passes them through as a resolved ``dict``. A report is kept as plain
data (``Report``) under a key of the map's settings (model, image hash, method, params, target) and the curve
settings; see ``memo`` for why the cache is filled outside ``st.cache_data``'s function. ``LiveCurves`` redraws the
insertion/deletion chart as each batch of perturbed images is scored. The step viewer shows the engine's own
perturbed images (``metrics.perturbation_plan``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from pages.components import charts, memo, state
from pages.components.compute import MapResult
from xai_core import metrics

CURVES = ("insertion", "deletion", "deletion_lerf")  # faithfulness_report's order, one third of its progress each
SCHEMA = [p.describe() for p in metrics.get("insertion").params]  # every curve's settings, as the form renders them
REDRAW_SECONDS = 0.25


def resolve(values: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values validated by the curves' schema (``ParameterError`` naming a bad one), defaults filled in."""
    return metrics.resolve("insertion", values)


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    unit: str
    higher_is_better: bool


@dataclass(frozen=True)
class Report:
    """One map's curves (``[steps + 1]`` each, by ``CURVES`` name) and every scalar metric."""

    method: str
    fractions: np.ndarray
    curves: dict[str, np.ndarray]
    metrics: list[Metric]


def report_key(model_name: str, image_sha256: str, item: MapResult, settings: Mapping[str, Any]) -> str:
    map_settings = (item.request.key(), item.target)
    return memo.key("faithfulness", model_name, image_sha256, map_settings, dict(settings))


def compute_report(
    model: Any,
    image: Any,
    item: MapResult,
    settings: Mapping[str, Any],
    progress: Callable[[float, str, np.ndarray], None],
) -> Report:
    """Run ``faithfulness_report`` on ``item``'s map; ``progress(fraction, curve name, partial scores)``."""

    def relay(fraction: float, partial: np.ndarray) -> None:
        part = min(len(CURVES), max(1, math.ceil(fraction * len(CURVES) - 1e-9))) - 1
        progress(fraction, CURVES[part], partial[0])

    x = model.preprocess(image.image)
    found = metrics.faithfulness_report(model, x, item.map, target=item.target, progress=relay, **settings)
    curves: dict[str, np.ndarray] = {}
    scalars = []
    for name, record in found.items():
        if isinstance(record, metrics.CurveResult):
            curves[name] = np.asarray(record.scores[0])
            scalars.append(Metric(name, float(record.auc[0]), "", record.higher_is_better))
        else:
            scalars.append(Metric(name, record.value, record.unit, record.higher_is_better))
            for curve in record.curves:  # the LeRF deletion curve lives only inside AOPC (LeRF) and ABPC
                curves.setdefault(curve.name, np.asarray(curve.scores[0]))
    fractions = np.linspace(0.0, 1.0, settings["steps"] + 1)
    return Report(item.title, fractions, curves, scalars)


class LiveCurves:
    """The insertion/deletion chart in a placeholder, redrawn (at most every ``REDRAW_SECONDS``) while scoring."""

    def __init__(self, placeholder: Any, settings: Mapping[str, Any]) -> None:
        self.placeholder = placeholder
        self.settings = settings
        self.done: list[tuple[str, dict[str, np.ndarray]]] = []
        self.current: tuple[str, dict[str, np.ndarray]] | None = None
        self.drawn_at = 0.0
        self.draws = 0

    def start(self, method: str) -> None:
        self.current = (method, {})

    def update(self, fraction: float, curve: str, partial: np.ndarray) -> None:
        if self.current is not None and curve in ("insertion", "deletion"):
            self.current[1][curve] = partial
            if time.monotonic() - self.drawn_at >= REDRAW_SECONDS:
                self.draw()

    def finish(self, report: Report) -> None:
        self.current = None
        self.done.append((report.method, report.curves))
        self.draw()

    def draw(self) -> None:
        shown = self.done + ([self.current] if self.current else [])
        fractions = np.linspace(0.0, 1.0, self.settings["steps"] + 1)
        figure = charts.curves_figure(fractions, shown, y_title=self.settings["output"])
        self.placeholder.plotly_chart(figure, key=state.live_chart_key(self.draws))
        self.draws += 1
        self.drawn_at = time.monotonic()


def table_rows(reports: list[Report]) -> list[dict[str, Any]]:
    """One row per (metric, method), ranked within each metric (1 = best by the metric's direction)."""
    rows = []
    for name in metrics.REPORT:
        label = metrics.get(name).title
        found = [(r.method, m) for r in reports for m in r.metrics if m.name == name]
        ordered = sorted(found, key=lambda pair: -pair[1].value if pair[1].higher_is_better else pair[1].value)
        for rank, (method, metric) in enumerate(ordered, start=1):
            rows.append(
                {
                    "metric": label,
                    "method": method,
                    "value": metric.value,
                    "better": "↑ higher" if metric.higher_is_better else "↓ lower",
                    "rank": rank,
                }
            )
    return rows


@st.cache_data(show_spinner=False, max_entries=16)
def _plan(cache_key: str, _model: Any, _image: Any, _map: np.ndarray, _settings: Any) -> metrics.PerturbationPlan:
    return metrics.perturbation_plan(_model, _model.preprocess(_image.image), _map, **_settings)


def step_image(
    model_name: str, model: Any, image: Any, item: MapResult, settings: Mapping[str, Any], curve: str, k: int
) -> tuple[np.ndarray, int, int]:
    """The image scored at step ``k`` of ``curve`` for ``item``'s map (uint8 ``[H, W, 3]``), features moved, ``N``."""
    plan = _plan(report_key(model_name, image.sha256, item, settings), model, image, item.map, dict(settings))
    shown = np.asarray(model.to_display(plan.images(curve, k)))
    return shown[0], int(plan.counts[0, k]), int(plan.n[0])

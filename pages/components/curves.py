"""Faithfulness of cached maps: one ``xai_core.metrics.faithfulness_report`` per map, cached, drawn while it runs.

A report is kept as plain data (``Report``) under a key of the map's settings (model, image hash, method, params,
target) and the curve settings (``CurveSettings``); see ``memo`` for why the cache is filled outside
``st.cache_data``'s function. ``LiveCurves`` redraws the insertion/deletion chart as each batch of perturbed
images is scored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import streamlit as st

from pages.components import charts, memo, perturb, state
from pages.components.compute import MapResult
from xai_core import metrics

CURVES = ("insertion", "deletion", "deletion_lerf")  # faithfulness_report's order, one third of its progress each
LABELS = {
    "insertion": "Insertion AUC",
    "deletion": "Deletion AUC",
    "aopc_morf": "AOPC (MoRF)",
    "aopc_lerf": "AOPC (LeRF)",
    "abpc": "ABPC",
    "average_drop": "Average Drop (AD, %)",
    "average_drop_in_deletion": "Average Drop in Deletion (ADD, %)",
    "increase_in_confidence": "Increase in Confidence (IC, %)",
}
REDRAW_SECONDS = 0.25


@dataclass(frozen=True)
class CurveSettings:
    """The perturbation settings shared by every curve of a run (``metrics.insertion``'s keywords)."""

    steps: int = 50
    substrate: str = "blur"
    granularity: str = "pixel"
    patch_size: int = 16
    n_segments: int = 100
    sigma: float = 5.0
    output: str = "probability"


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


def report_key(model_name: str, image_sha256: str, item: MapResult, settings: CurveSettings) -> str:
    map_settings = (item.request.key(), item.target)
    return memo.key("faithfulness", model_name, image_sha256, map_settings, asdict(settings))


def compute_report(
    model: Any,
    image: Any,
    item: MapResult,
    settings: CurveSettings,
    progress: Callable[[float, str, np.ndarray], None],
) -> Report:
    """Run ``faithfulness_report`` on ``item``'s map; ``progress(fraction, curve name, partial scores)``."""

    def relay(fraction: float, partial: np.ndarray) -> None:
        part = min(len(CURVES), max(1, math.ceil(fraction * len(CURVES) - 1e-9))) - 1
        progress(fraction, CURVES[part], partial[0])

    x = model.preprocess(image.image)
    found = metrics.faithfulness_report(
        model, x, item.map, target=item.target, progress=relay, seed=0, **asdict(settings)
    )
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
    fractions = np.linspace(0.0, 1.0, settings.steps + 1)
    return Report(item.method, fractions, curves, scalars)


class LiveCurves:
    """The insertion/deletion chart in a placeholder, redrawn (at most every ``REDRAW_SECONDS``) while scoring."""

    def __init__(self, placeholder: Any, settings: CurveSettings) -> None:
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
        fractions = np.linspace(0.0, 1.0, self.settings.steps + 1)
        figure = charts.curves_figure(fractions, shown, y_title=self.settings.output)
        self.placeholder.plotly_chart(figure, key=state.live_chart_key(self.draws))
        self.draws += 1
        self.drawn_at = time.monotonic()


def table_rows(reports: list[Report]) -> list[dict[str, Any]]:
    """One row per (metric, method), ranked within each metric (1 = best by the metric's direction)."""
    rows = []
    for name, label in LABELS.items():
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


@st.cache_data(show_spinner=False, max_entries=32)
def _ranking(
    cache_key: str, _model: Any, _image: Any, _map: np.ndarray, granularity: str, patch_size: int, n_segments: int
) -> tuple[np.ndarray, int]:
    x = _model.preprocess(_image.image)
    return perturb.ranking(_model, x, _map, granularity, patch_size, n_segments)


def step_image(
    model_name: str, model: Any, image: Any, item: MapResult, settings: CurveSettings, curve: str, k: int
) -> tuple[np.ndarray, int, int]:
    """The image scored at step ``k`` of ``curve`` for ``item``'s map (uint8 ``[H, W, 3]``), features moved, ``N``."""
    s = settings
    cache_key = report_key(model_name, image.sha256, item, s)
    rank, n = _ranking(cache_key, model, image, item.map, s.granularity, s.patch_size, s.n_segments)
    x = model.preprocess(image.image)
    fill = perturb.substrate(model, x, s.substrate, s.sigma, seed=0)
    shown = np.asarray(model.to_display(perturb.perturbed(x, fill, rank, n, s.steps, k, curve)))
    return shown[0], perturb.count(n, s.steps, k), n

"""The Robustness & complexity page's worst cases: for a robustness measure, the perturbed copy of the image that
gave each method its worst value, next to the image's map and the copy's map.

A robustness record carries ``worst_inputs`` (the copy, in the model's input space), ``worst`` (its index) and
``draws`` (the value of every copy); ``measures.score`` kept the explanation the measure computed for that copy
(``Scored.worst_maps``). Nothing here names a measure: any record with ``worst_inputs`` is shown.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages.components import charts, measures, state
from pages.components.measures import Run
from xai_core import viz

AMPLIFY = 10  # the perturbation is a few 1/255 per pixel: shown ten times larger around mid-grey


def measures_with_worst(run: Run) -> list[str]:
    return [n for n in dict.fromkeys(n for s in run.scored for n in s.results)
            if any(getattr(s.results.get(n), "worst_inputs", None) is not None for s in run.scored)]  # fmt: skip


def to_display(model: Any, inputs: np.ndarray) -> np.ndarray:
    """Model-space ``[3, H, W]`` to uint8 ``[H, W, 3]`` (the wrapper's mean and std, as ``to_display`` does)."""
    mean, std = (np.asarray(v, dtype=np.float64).reshape(3, 1, 1) for v in (model.mean, model.std))
    pixels = np.clip(np.asarray(inputs, dtype=np.float64) * std + mean, 0.0, 1.0)
    return np.round(pixels * 255.0).astype(np.uint8).transpose(1, 2, 0)


def _overlay(display: np.ndarray, values: np.ndarray) -> np.ndarray:
    return viz.overlay(display, viz.normalize(values, percentile=99.0), alpha=0.5, cmap="inferno")


def draws_figure(run: Run, name: str) -> go.Figure:
    """The measure's value for every perturbed copy, one line per method, the worst copy marked."""
    fig = go.Figure()
    for index, scored in enumerate(run.scored):
        record = scored.results.get(name)
        if record is None or getattr(record, "draws", None) is None:
            continue
        values = np.asarray(record.draws)[:, 0]
        fig.add_trace(go.Scatter(y=values, name=scored.item.title, mode="lines+markers",
                                 line={"color": charts.colour(index)}))  # fmt: skip
        worst = int(np.asarray(record.worst)[0])
        if worst >= 0:
            fig.add_trace(go.Scatter(x=[worst], y=[values[worst]], mode="markers", showlegend=False,
                                     marker={"size": 14, "symbol": "star", "color": charts.colour(index)}))  # fmt: skip
    fig.update_xaxes(title_text="perturbed copy")
    fig.update_yaxes(title_text=measures.label(name))
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": 1.2})
    return fig


def show(subject: Any, run: Run) -> None:
    """A measure picker, then per method: the map, the worst copy, its map and the perturbation; the draws chart."""
    names = measures_with_worst(run)
    if not names:
        return
    st.subheader("Worst cases")
    name = st.selectbox("Measure", names, format_func=measures.label, key=state.ROBUST_WORST,
                        help="The perturbed copy of the image that gave each method its worst value.")  # fmt: skip
    display = subject.prepared.display
    for scored in run.scored:
        record = scored.results.get(name)
        if record is None:
            continue
        worst = int(np.asarray(record.worst)[0])
        copy = to_display(subject.model, np.asarray(record.worst_inputs)[0])
        moved = np.abs(copy.astype(np.int16) - display.astype(np.int16)).max()
        difference = np.clip(128 + AMPLIFY * (copy.astype(np.int16) - display), 0, 255).astype(np.uint8)
        value = float(np.asarray(record.per_image)[0])
        pictures = [(_overlay(display, scored.item.map), f"{scored.item.title}: the image's map")]
        if worst < 0:
            pictures.append((display, "no perturbed copy counts (each changed the prediction)"))
        else:
            pictures.append((copy, f"worst copy #{worst}: {value:.4g}"))
            found = scored.worst_maps.get(name)
            if found is not None:
                pictures.append((_overlay(copy, found[0]), "the worst copy's map"))
            pictures.append((difference, f"perturbation ×{AMPLIFY} (largest {moved}/255)"))
        for column, (picture, caption) in zip(st.columns(4), pictures, strict=False):
            column.image(picture, caption=caption, width="stretch")
    st.plotly_chart(draws_figure(run, name), key=state.ROBUST_CHART)

"""Display controls and the grid of overlays for computed maps (viz over cached numpy maps: no recomputation)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from pages.components import state
from pages.components.compute import Failure, MapResult
from xai_core import viz

GRID_COLUMNS = 3
AUTO_CMAP = "auto"


@dataclass(frozen=True)
class Display:
    cmap: str
    alpha: float
    percentile: float
    signed: bool
    shared: bool
    split: float = 1.0  # comparison slider: the overlay up to this fraction of the width, the original after


def controls() -> Display:
    """Colour map, opacity, clipping, signed/absolute, shared scale: widgets outside the form, so no recompute."""
    c1, c2, c3, c4 = st.columns([1.2, 1.2, 1.2, 1.4])
    cmap = c1.selectbox(
        "Colour map",
        [AUTO_CMAP, *viz.COLORMAPS],
        key=state.EXPLAIN_CMAP,
        help="auto: inferno for absolute maps, blue-white-red for signed maps",
    )
    alpha = c2.slider("Map opacity", 0.0, 1.0, 0.5, 0.05, key=state.EXPLAIN_ALPHA)
    percentile = c3.slider(
        "Clip at percentile",
        90.0,
        100.0,
        99.0,
        0.5,
        key=state.EXPLAIN_PERCENTILE,
        help="Values above this percentile of |map| are shown at full strength.",
    )
    signed = c4.toggle("Signed (keep +/−)", key=state.EXPLAIN_SIGNED, help="Blue: negative, red: positive evidence.")
    shared = c4.toggle("One scale for all maps", key=state.EXPLAIN_SHARED, help="Compare magnitudes across methods.")
    split = st.slider(
        "Compare with the original: overlay | original",
        0,
        100,
        100,
        5,
        key=state.EXPLAIN_SPLIT,
        format="%d%%",
        help="Drag to wipe between the overlay (left of the line) and the original image (right of it).",
    )
    if cmap == AUTO_CMAP:
        cmap = viz.DIVERGING if signed else "inferno"
    return Display(cmap=cmap, alpha=alpha, percentile=percentile, signed=signed, shared=shared, split=split / 100.0)


def _normalised(results: Sequence[MapResult], display: Display) -> list[np.ndarray]:
    maps = [r.map for r in results]
    if display.shared and maps and len({m.shape for m in maps}) == 1:
        return list(viz.normalize(np.stack(maps), signed=display.signed, percentile=display.percentile, shared=True))
    return [viz.normalize(m, signed=display.signed, percentile=display.percentile) for m in maps]


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"


def settings_json(item: MapResult, provenance: dict[str, Any], display: Display) -> str:
    """The exact settings that reproduce ``item``: model, image, method, parameters, target, seed, and the look.

    ``xai_core.attribute(load_model(model), preprocess(image), Request.from_dict(request), target=target)`` with the
    record's ``request`` and ``target`` gives the same map.
    """
    look = {"cmap": display.cmap, "alpha": display.alpha, "percentile": display.percentile, "signed": display.signed}
    record = {**provenance, **item.settings, "runtime_ms": round(item.runtime_ms, 1), "display": look}
    return json.dumps(record, indent=2, sort_keys=True, default=str)


def grid(image: np.ndarray, items: Sequence[MapResult | Failure], display: Display, provenance: dict[str, Any]) -> None:
    """Overlays side by side (``GRID_COLUMNS`` per row), each with its settings, runtime and downloads.

    ``provenance`` (model id, image name and hash) goes into each map's JSON settings download.
    """
    results = [r for r in items if isinstance(r, MapResult)]
    normalised = dict(zip((id(r) for r in results), _normalised(results, display), strict=True))
    for row_start in range(0, len(items), GRID_COLUMNS):
        columns = st.columns(GRID_COLUMNS)
        for offset, item in enumerate(items[row_start : row_start + GRID_COLUMNS]):
            with columns[offset]:
                if isinstance(item, Failure):
                    st.markdown(f"**{item.method}**")
                    st.error(item.message)
                else:
                    _cell(image, item, normalised[id(item)], display, row_start + offset, provenance)


def _interaction_panel(image: np.ndarray, interactions: Any, display: Display, index: int) -> None:
    st.caption("Strongest interacting region pairs (Gamma_ij; a pair's whole interaction is 2 Gamma_ij)")
    st.dataframe(
        [{"region i": i, "region j": j, "Gamma_ij": round(value, 5)} for i, j, value in interactions.top_pairs[0]],
        hide_index=True,
    )
    region = st.selectbox(
        "Interaction map of region",
        list(range(interactions.matrices[0].shape[0])),
        index=interactions.top_pairs[0][0][0] if interactions.top_pairs[0] else 0,
        key=state.interaction_region_key(index),
    )
    spread = viz.normalize(interactions.region_map(0, region)[None], signed=True, percentile=display.percentile)[0]
    st.image(viz.overlay(image, spread, alpha=display.alpha, signed=True), caption=f"interactions with region {region}")


def _cell(
    image: np.ndarray, item: MapResult, normalised: np.ndarray, display: Display, index: int, provenance: dict[str, Any]
) -> None:
    picture = viz.overlay(image, normalised, alpha=display.alpha, cmap=display.cmap, signed=display.signed)
    title = item.title
    shown = viz.wipe(picture, image, display.split) if display.split < 1.0 else picture
    st.image(shown, caption=title, width="stretch")
    st.caption(f"{item.runtime_ms:.0f} ms · {_describe(item.params)}")
    if item.completeness is not None:
        st.caption(item.completeness.caption())
    if item.interactions is not None and item.request.noise is None:  # integrated_hessians: pairs, a region's map
        _interaction_panel(image, item.interactions, display, index)
    elif item.interactions is not None:  # one set of regions and pairs per noise draw: nothing single to show
        st.caption("Region pairs are listed for the plain method, without post-processing.")
    stem = f"{item.method}{'_' + item.request.noise.mode if item.request.noise else ''}_class{item.target}"
    downloads = (  # (kind, data, MIME type, help)
        ("png", viz.to_png_bytes(picture), "image/png", "The overlay as shown."),
        ("npy", viz.to_npy_bytes(item.map), "application/octet-stream",
         "The raw map before normalisation: float32 [H, W], numpy.load() reads it."),
        ("json", settings_json(item, provenance, display), "application/json",
         "The exact settings that reproduce this map (model, image hash, method, parameters, target, seed)."),
    )  # fmt: skip
    for column, (kind, data, mime, help_text) in zip(st.columns(len(downloads)), downloads, strict=True):
        column.download_button(
            kind.upper(),
            data,
            f"{stem}.{kind}",
            mime,
            key=state.download_key(kind, index, item.method),
            on_click="ignore",
            icon=":material/download:",
            width="stretch",
            help=help_text,
        )

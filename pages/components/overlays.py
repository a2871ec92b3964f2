"""Display controls and the grid of overlays for computed maps (viz over cached numpy maps: no recomputation).

Every overlay has a colour bar with the value its end stands for. "One scale for all maps" shares a scale only
among maps in comparable units (the same map kind and reduction: pixel gradients are not IG attributions, which
are not CAM activations) and warns when one map's scale would blank the others (below ``BLANK_RATIO`` of the
shared scale), instead of silently showing five black maps next to FullGrad.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from pages.components import method_settings, runner, state
from pages.components.compute import Failure, MapResult
from xai_core import viz

GRID_COLUMNS = 3
AUTO_CMAP = "auto"
BLANK_RATIO = 0.05  # a map whose own scale is below 5% of the shared one shows (almost) nothing on it


@dataclass(frozen=True)
class Display:
    cmap: str
    alpha: float
    percentile: float
    signed: bool
    shared: bool
    split: float = 1.0  # comparison slider: the overlay up to this fraction of the width, the original after


def controls() -> Display:
    """Colour map, opacity, clipping, signed/absolute, shared scale: widgets outside the form, so no recompute; in a
    collapsed expander, so the maps start on the first screen of a 1280x720 display."""
    with st.expander("Display: colour map, opacity, clipping, sign, shared scale, comparison", icon=":material/tune:"):
        return _controls()


def _controls() -> Display:
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


def units(item: MapResult) -> tuple[str, str]:
    """Maps in the same units share a scale: same kind (pixel/cam) and the same reduction to 2-D."""
    return (item.kind, item.reduction)


def normalised(results: Sequence[MapResult], display: Display) -> tuple[list[np.ndarray], list[float], list[str]]:
    """Each map scaled for display, the value its colour bar's end stands for, and warnings about blanked maps."""
    own = [float(s) for s in viz.scales(np.stack([r.map for r in results]), display.percentile)] if results else []
    shown_scale, warnings = list(own), []
    if display.shared:
        groups: dict[tuple[str, str], list[int]] = {}
        for i, r in enumerate(results):
            groups.setdefault(units(r), []).append(i)
        for members in groups.values():
            top = max(own[i] for i in members)
            faint = [results[i].title for i in members if top > 0 and own[i] < BLANK_RATIO * top]
            if faint:
                warnings.append(
                    f"On the shared scale {', '.join(faint)} would be (nearly) blank: their values are below "
                    f"{BLANK_RATIO:.0%} of the largest map's. They keep their own scale; compare the colour bars."
                )
            shared = max((own[i] for i in members if own[i] >= BLANK_RATIO * top), default=top)
            for i in members:
                if own[i] >= BLANK_RATIO * top:
                    shown_scale[i] = shared
        if len(groups) > 1:
            warnings.append("Maps in different units (pixel gradients, CAM activations) are scaled in separate groups.")
    pictures = []
    for r, scale in zip(results, shown_scale, strict=True):
        m = np.nan_to_num(r.map.astype(np.float32))
        safe = scale if scale > 0 else 1.0
        pictures.append(np.clip(m / safe, -1, 1) if display.signed else np.clip(np.abs(m) / safe, 0, 1))
    return pictures, shown_scale, warnings


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
    """Overlays side by side (``GRID_COLUMNS`` per row), each with a colour bar, settings, runtime and downloads.

    ``provenance`` (model id, image name and hash) goes into each map's JSON settings download.
    """
    results = [r for r in items if isinstance(r, MapResult)]
    pictures, scales, warnings = normalised(results, display)
    for warning in warnings:
        st.warning(warning, icon=":material/contrast:")
    shown = {id(r): (p, s) for r, p, s in zip(results, pictures, scales, strict=True)}
    for row_start in range(0, len(items), GRID_COLUMNS):
        columns = st.columns(GRID_COLUMNS)
        for offset, item in enumerate(items[row_start : row_start + GRID_COLUMNS]):
            with columns[offset]:
                if isinstance(item, Failure):
                    st.markdown(f"**{method_settings.title(item.method)}**")
                    st.error(item.message)
                else:
                    picture, scale = shown[id(item)]
                    _cell(image, item, picture, scale, display, row_start + offset, provenance)


def colour_bar(display: Display, scale: float) -> None:
    """The colour bar of an overlay with the values its ends stand for (values beyond are clipped)."""
    st.image(viz.colorbar(display.cmap, signed=display.signed), width="stretch")
    low = f"{-scale:.3g}" if display.signed else "0"
    st.caption(f"{low} … {scale:.3g} (|values| above {scale:.3g}, the {display.percentile:g}th percentile, clipped)")


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
    image: np.ndarray,
    item: MapResult,
    normalised: np.ndarray,
    scale: float,
    display: Display,
    index: int,
    provenance: dict[str, Any],
) -> None:
    picture = viz.overlay(image, normalised, alpha=display.alpha, cmap=display.cmap, signed=display.signed)
    shown = viz.wipe(picture, image, display.split) if display.split < 1.0 else picture
    st.image(shown, caption=item.title, width="stretch")
    colour_bar(display, scale)
    when = "cached" if item.cached else "computed"
    st.caption(
        f"{method_settings.title(item.method)} · {runner.duration(item.runtime_ms / 1000)} ({when}) · "
        f"{_describe(item.params)}{f' · layer {item.request.layer}' if item.request.layer else ''}"
    )
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

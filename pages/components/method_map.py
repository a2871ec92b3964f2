"""The survey's taxonomy as a map and as cards: families (vanilla, integrated, bias, post-processing), every method,
and every evaluation measure, each with its paper, all read from the registries (``methods.describe()``,
``noise.describe()``, ``metrics.describe()``); the lesson texts come from ``xai_core.teaching``.

Each family has a card that runs a method of the family on the sidebar's photo (post-processing runs over the
plain gradient); the method a card shows first is the family's first in lesson order (the plain gradient, IG,
FullGrad, SmoothGrad): the simplest.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

import xai_core
from pages.components import compute, runner, state
from pages.components.widgets import kept
from xai_core import metrics, noise, teaching, viz

ROOT = "Gradient-based attribution"
FAMILY_COLOURS = {"vanilla": "#4C78A8", "integrated": "#F58518", "bias": "#54A24B", "postprocess": "#B279A2"}
BASE_OF_NOISE = "saliency"  # what a post-processing card smooths: the plain gradient (its lesson's first method)


def catalog() -> list[dict[str, Any]]:
    """Registered methods and noise modes, in lesson order (``teaching.NOTES``), then any without a note."""
    rows = [*xai_core.methods.describe(), *noise.describe()]
    order = {name: i for i, name in enumerate(teaching.NOTES)}
    return sorted(rows, key=lambda r: order.get(r["name"], len(order)))


def sunburst(rows: list[dict[str, Any]], height: int = 520, font_size: int = 12) -> go.Figure:
    """Root -> family -> method; hovering a method shows its one-line summary."""
    families = [f for f in teaching.FAMILY_TITLES if any(r["family"] == f for r in rows)]
    ids = [ROOT] + families + [r["name"] for r in rows]
    labels = [ROOT] + [teaching.FAMILY_TITLES[f] for f in families] + [r["title"] for r in rows]
    parents = [""] + [ROOT] * len(families) + [r["family"] for r in rows]
    hover = ["The survey's four families"] + [teaching.FAMILY_IDEAS[f] for f in families]
    hover += [r["summary"] for r in rows]
    colours = ["#ffffff"] + [FAMILY_COLOURS[f] for f in families] + [FAMILY_COLOURS[r["family"]] for r in rows]
    fig = go.Figure(
        go.Sunburst(
            ids=ids, labels=labels, parents=parents, hovertext=hover, hoverinfo="label+text",
            marker={"colors": colours, "line": {"color": "white", "width": 1}}, insidetextorientation="radial",
        )
    )  # fmt: skip
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 0, "b": 0}, font={"size": font_size})
    return fig


def display_formula(formula: str) -> str:
    """Equations side by side (separated by ``\\qquad``) stacked instead: a half-width column cannot fit them."""
    parts = [p.strip() for p in formula.split(r"\qquad")]
    parts = [p[:-1] if p.endswith(",") and not p.endswith(r"\,") else p for p in parts]
    return parts[0] if len(parts) == 1 else r"\begin{gathered}" + r" \\ ".join(parts) + r"\end{gathered}"


def method_card(row: dict[str, Any]) -> None:
    """Idea, formula (our words and notation) and the paper link of one method."""
    note = teaching.NOTES.get(row["name"])
    st.markdown(f"**{row['title']}** (`{row['name']}`): {row['summary']}")
    if note is None:
        st.caption("No teaching note yet for this method.")
    else:
        st.markdown(note.idea)
        st.latex(display_formula(note.formula))
        if note.symbols:
            st.caption(note.symbols)
    if row.get("url"):
        st.markdown(f"Paper: [{row['paper'] or row['url']}]({row['url']})")


def request_of(row: dict[str, Any]) -> xai_core.Request:
    """The card's request: the method at its defaults, or the plain gradient under the noise mode."""
    if row["family"] == "postprocess":
        return xai_core.Request.create(BASE_OF_NOISE, noise=row["name"])
    return xai_core.Request.create(row["name"])


def run_on_photo(row: dict[str, Any], subject: Any | None) -> None:
    """A button that computes the card's method on the sidebar's photo, and the overlay once it is there."""
    if subject is None:
        st.caption("Choose a model and an image in the sidebar to run it on a photo.")
        return
    request = request_of(row)
    found = compute.cached_map(subject.model_name, subject.image, request, subject.predicted)
    if found is None and st.button(f"Run on {subject.image.name}", key=state.learn_run_key(row["name"]),
                                   icon=":material/play_arrow:"):  # fmt: skip
        found = runner.maps(subject, [request], subject.predicted)[0]
    if isinstance(found, compute.Failure):
        st.error(found.message)
    elif found is not None:
        signed = found.kind == "pixel" and found.reduction == "sum"
        shown = viz.normalize(found.map, signed=signed, percentile=99.0)
        picture = viz.overlay(subject.prepared.display, shown, alpha=0.55, signed=signed)
        st.image(picture, caption=f"{found.title} · class {subject.label(found.target)}", width="stretch")


def family_cards(rows: list[dict[str, Any]], subject: Any | None) -> None:
    """One tab per family: a method picker (the simplest first), its card and its map on the photo."""
    families = [f for f in teaching.FAMILY_TITLES if any(r["family"] == f for r in rows)]
    for tab, family in zip(st.tabs([teaching.FAMILY_TITLES[f] for f in families]), families, strict=True):
        with tab:
            members = {r["name"]: r for r in rows if r["family"] == family}
            st.caption(teaching.FAMILY_IDEAS[family])
            name = kept(st.selectbox, "Method", state.learn_family_key(family), next(iter(members)),
                        options=list(members), format_func=lambda n, m=members: m[n]["title"])  # fmt: skip
            text, photo = st.columns([1.4, 1], gap="medium")
            with text:
                method_card(members[name])
            with photo:
                run_on_photo(members[name], subject)


def measures() -> None:
    """Every registered evaluation measure with its family, direction and paper (``metrics.describe()``)."""
    by_family: dict[str, list[dict[str, Any]]] = {}
    for row in metrics.describe():
        by_family.setdefault(row["family"], []).append(row)
    for family, rows in by_family.items():
        st.markdown(f"**{family.capitalize()}**")
        for row in rows:
            better = "higher is better" if row["higher_is_better"] else "lower is better"
            st.markdown(f"- **{row['title']}** (`{row['name']}`, {better}): {row['summary']} "
                        f"[{row['paper']}]({row['url']})")  # fmt: skip


def render(subject: Any | None, presenting: bool) -> None:
    """The sunburst beside the family cards, then every method grouped by family and every measure."""
    rows = catalog()
    chart, cards = st.columns([0.9, 1.5], gap="large")
    with chart:
        st.plotly_chart(sunburst(rows, 560, 16) if presenting else sunburst(rows, 460), width="stretch",
                        key=state.LEARN_MAP_CHART)  # fmt: skip
        st.caption("Click a family to zoom in, the centre to zoom out; hover a method for its summary.")
    with cards:
        family_cards(rows, subject)
    with st.expander(f"All {len(rows)} methods with their papers"):
        for family, title in teaching.FAMILY_TITLES.items():
            members = [r for r in rows if r["family"] == family]
            st.markdown(f"#### {title}")
            for row in members:
                st.markdown(f"- **{row['title']}** (`{row['name']}`): {row['summary']} [{row['paper']}]({row['url']})")
    with st.expander(f"All {len(metrics.describe())} evaluation measures with their papers"):
        measures()

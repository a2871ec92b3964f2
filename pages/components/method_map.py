"""The survey's taxonomy as a map: families (vanilla, integrated, bias, post-processing) and every method.

Methods come from ``xai_core.methods.describe()`` (the registry), so a newly registered method appears here by itself;
the post-processing wrappers come from ``learn_content.POSTPROCESSORS``.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from pages.components import learn_content, state

ROOT = "Gradient-based attribution"
FAMILY_COLOURS = {"vanilla": "#4C78A8", "integrated": "#F58518", "bias": "#54A24B", "postprocess": "#B279A2"}


def catalog(methods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registered methods plus the post-processing wrappers, each with name, family, summary, paper, url."""
    rows = [{k: m.get(k, "") for k in ("name", "family", "summary", "paper", "url")} for m in methods]
    rows += [{"name": name, "family": "postprocess", **meta} for name, meta in learn_content.POSTPROCESSORS.items()]
    return rows


def sunburst(rows: list[dict[str, Any]], height: int = 520, font_size: int = 12) -> go.Figure:
    """Root -> family -> method; hovering a method shows its one-line summary."""
    families = [f for f in learn_content.FAMILY_TITLES if any(r["family"] == f for r in rows)]
    ids = [ROOT] + families + [r["name"] for r in rows]
    labels = [ROOT] + [learn_content.FAMILY_TITLES[f] for f in families] + [r["name"] for r in rows]
    parents = [""] + [ROOT] * len(families) + [r["family"] for r in rows]
    hover = ["The survey's four families"] + [learn_content.FAMILY_IDEAS[f] for f in families]
    hover += [r["summary"] for r in rows]
    colours = ["#ffffff"] + [FAMILY_COLOURS[f] for f in families] + [FAMILY_COLOURS[r["family"]] for r in rows]
    fig = go.Figure(
        go.Sunburst(
            ids=ids,
            labels=labels,
            parents=parents,
            hovertext=hover,
            hoverinfo="label+text",
            marker={"colors": colours, "line": {"color": "white", "width": 1}},
            insidetextorientation="radial",
        )
    )
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 0, "b": 0}, font={"size": font_size})
    return fig


def display_formula(formula: str) -> str:
    """Equations side by side (separated by ``\\qquad``) stacked instead: a half-width column cannot fit them."""
    parts = [p.strip() for p in formula.split(r"\qquad")]
    parts = [p[:-1] if p.endswith(",") and not p.endswith(r"\,") else p for p in parts]
    return parts[0] if len(parts) == 1 else r"\begin{gathered}" + r" \\ ".join(parts) + r"\end{gathered}"


def method_card(row: dict[str, Any]) -> None:
    """Idea, formula (our words and notation) and the paper link of one method."""
    note = learn_content.NOTES.get(row["name"])
    st.markdown(f"**{row['name']}**: {row['summary']}")
    if note is None:
        st.caption("No teaching note yet for this method.")
    else:
        st.markdown(note.idea)
        st.latex(display_formula(note.formula))
        if note.symbols:
            st.caption(note.symbols)
    if row.get("url"):
        st.markdown(f"Paper: [{row['paper'] or row['url']}]({row['url']})")


def render(methods: list[dict[str, Any]], presenting: bool) -> None:
    """The sunburst beside a focused method card, then every method in expanders grouped by family."""
    rows = catalog(methods)
    by_name = {r["name"]: r for r in rows}
    chart, focus = st.columns([1.1, 1], gap="large")
    with chart:
        figure = sunburst(rows, 640, 16) if presenting else sunburst(rows)
        st.plotly_chart(figure, width="stretch", key=state.LEARN_MAP_CHART)
        st.caption("Click a family to zoom in, the centre to zoom out; hover a method for its summary.")
    with focus:
        name = st.selectbox(
            "Method",
            list(by_name),
            format_func=lambda n: f"{n} ({learn_content.FAMILY_TITLES[by_name[n]['family']]})",
            key=state.LEARN_FOCUS,
        )
        method_card(by_name[name])
    for family, title in learn_content.FAMILY_TITLES.items():
        members = [r for r in rows if r["family"] == family]
        if not members:
            continue
        st.markdown(f"#### {title}")
        st.caption(learn_content.FAMILY_IDEAS[family])
        for row in members:
            with st.expander(f"{row['name']}: {row['summary']}"):
                method_card(row)

"""Study results (admin only): responses so far and what they say, with CSV and JSON exports.

Everything is recomputed from the database on each visit (``study.summarize_study``), so the page shows answers
the moment participants give them. Attention checks are reported apart and never enter the method statistics.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from pages.components import state, study_access
from xai_core import study


def table(records: Sequence[Any], caption: str, empty: str) -> None:
    """A dataframe of frozen records (Rate, Mean, Strength, Timing), or a note when there are none."""
    if not records:
        st.caption(empty)
        return
    st.dataframe(pd.DataFrame([dataclasses.asdict(r) for r in records]), hide_index=True, width="stretch")
    st.caption(caption)


def number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def overview(summary: study.StudySummary) -> None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Participants", summary.participants)
    c2.metric("Finished", summary.finished_participants)
    c3.metric("Responses", summary.responses)
    c4.metric("Attention checks passed", f"{summary.attention_passed}/{summary.attention_checks}")
    if summary.failed_attention:
        st.warning(f"Failed an attention check: {', '.join(summary.failed_attention)}")


def statistics(summary: study.StudySummary) -> None:
    level = f"{summary.confidence:.0%}"
    st.subheader("Forced choice")
    table(summary.win_rates, f"Win rate of each method over its comparisons, {level} Wilson interval.", "No answers.")
    table(summary.bradley_terry, "Bradley-Terry strengths (higher is preferred), rank 1 first.", "")
    st.caption(f"Agreement between participants (Fleiss' kappa): {number(summary.choice_kappa)}")
    st.subheader("Likert ratings")
    table(summary.likert, f"Mean rating (1-5) per method, {level} t interval.", "No answers.")
    st.caption(f"Agreement between participants (Krippendorff's alpha, ordinal): {number(summary.likert_alpha)}")
    st.subheader("Forward simulation")
    table(summary.simulation, f"Share of correct predictions of the model per method, {level} interval.", "No answers.")
    st.subheader("Time per trial")
    table(summary.time, "Server-measured milliseconds from showing a trial to its answer.", "No answers.")


def downloads(code: str, records: list[study.ResponseRecord], summary: study.StudySummary) -> None:
    files = {
        "responses.csv": (study.responses_to_csv(records), "text/csv"),
        "responses.json": (study.responses_to_json(records), "application/json"),
        "summary.csv": (study.summary_to_csv(summary), "text/csv"),
        "summary.json": (study.summary_to_json(summary), "application/json"),
    }
    for column, (name, (text, mime)) in zip(st.columns(len(files)), files.items(), strict=True):
        column.download_button(
            name, text, file_name=f"study-{code}-{name}", mime=mime, key=state.study_download_key(code, name)
        )


study_access.require_admin_page()
st.title("Study results")
db = study_access.open_or_explain()
if db is None:
    st.stop()
found = study.list_studies(db)
if not found:
    st.info("No studies yet: design one on the Study design page.")
else:
    titles = {s.code: f"{s.title} ({s.code}, {s.status})" for s in found}
    code = st.selectbox("Study", list(titles), format_func=titles.get, index=len(found) - 1, key=state.RESULTS_STUDY)
    c1, c2 = st.columns(2)
    exclude = c1.toggle("Leave out participants who failed an attention check", key=state.RESULTS_EXCLUDE)
    confidence = c2.select_slider("Interval level", [0.8, 0.9, 0.95, 0.99], 0.95, key=state.RESULTS_CONFIDENCE)
    records = study.responses(db, code)
    summary = study.summarize(records, confidence=confidence, exclude_failed_attention=exclude)
    overview(summary)
    statistics(summary)
    st.subheader("Responses")
    st.dataframe(pd.DataFrame([dataclasses.asdict(r) for r in records]), hide_index=True, width="stretch")
    downloads(code, records, summary)

"""Study results (admin only): responses so far and what they say, with CSV and JSON exports.

Everything is recomputed from the database on each visit (``study.summarize_study``), so the page shows answers
the moment participants give them. Attention checks are reported apart and never enter the method statistics.
Participant ids and labels are shown as text; the exports are built when their button is clicked, and only while
the admin session that rendered them is still valid. The app measures no client-side time, so that column is left
out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from pages.components import safe_text, state, study_access
from xai_core import study

HIDDEN_COLUMNS = ("client_ms", "client_median_ms")  # the app never measures client time: always empty


def frame(records: Sequence[Any]) -> pd.DataFrame:
    rows = pd.DataFrame([dataclasses.asdict(r) for r in records])
    return rows.drop(columns=[c for c in HIDDEN_COLUMNS if c in rows.columns])


def table(records: Sequence[Any], caption: str, empty: str) -> None:
    """A dataframe of frozen records (Rate, Mean, Strength, Timing), or a note when there are none."""
    if not records:
        st.caption(empty)
        return
    st.dataframe(frame(records), hide_index=True, width="stretch")
    st.caption(caption)


def number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def overview(summary: study.StudySummary) -> None:
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Participants", summary.participants)
    c2.metric("Finished", summary.finished_participants)
    c3.metric("Responses", summary.responses)
    c4.metric("Attention checks passed", f"{summary.attention_passed}/{summary.attention_checks}")
    c5.metric("Participants excluded", len(summary.excluded_participants))
    if summary.failed_attention:
        st.warning(f"Failed an attention check: {safe_text.text(', '.join(summary.failed_attention), limit=2000)}")


def statistics(summary: study.StudySummary) -> None:
    level = f"{summary.confidence:.0%}"
    st.subheader("Forced choice")
    table(summary.win_rates, f"Win rate of each method over its comparisons, {level} Wilson interval.", "No answers.")
    table(summary.bradley_terry, "Bradley-Terry strengths (higher is preferred), rank 1 first.", "")
    st.caption(f"Agreement between participants (Fleiss' kappa): {number(summary.choice_kappa)}")
    st.subheader("Likert ratings")
    table(summary.likert, f"Mean rating (1-5) per method, {level} t interval clipped to the scale.", "No answers.")
    st.caption(f"Agreement between participants (Krippendorff's alpha, interval): {number(summary.likert_alpha)}")
    st.subheader("Forward simulation")
    table(summary.simulation, f"Share of correct predictions of the model per method, {level} interval.", "No answers.")
    st.subheader("Time per trial")
    table(summary.time, "Server-measured milliseconds from showing a trial to its answer.", "No answers.")


def export(build: Callable[[], str], session_id: str | None) -> Callable[[], str]:
    """A download built when clicked, and only while the admin session that rendered the button is still valid."""

    def checked() -> str:
        study_access.admin_check(session_id)
        return build()

    return checked


def downloads(db: study.Database, code: str, summary: study.StudySummary) -> None:
    session_id = study_access.admin_session_id()
    files: dict[str, tuple[Callable[[], str], str]] = {
        "responses.csv": (lambda: study.responses_to_csv(study.responses(db, code)), "text/csv"),
        "responses.json": (lambda: study.responses_to_json(study.responses(db, code)), "application/json"),
        "summary.csv": (lambda: study.summary_to_csv(summary), "text/csv"),
        "summary.json": (lambda: study.summary_to_json(summary), "application/json"),
    }
    for column, (name, (build, mime)) in zip(st.columns(len(files)), files.items(), strict=True):
        column.download_button(
            name,
            export(build, session_id),
            file_name=f"study-{code}-{name}",
            mime=mime,
            key=state.study_download_key(code, name),
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
    if records:
        st.dataframe(frame(records), hide_index=True, width="stretch")
    downloads(db, code, summary)

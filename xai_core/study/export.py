"""CSV and JSON exports of raw responses and of the summary, and the readers that take them back.

Raw responses: one row per answer, the columns of ``ResponseRecord`` in order; empty cells are missing values.
Summary: JSON mirrors ``StudySummary.to_dict()`` (nan as null); CSV is long-form, one statistic per row:
``section, name, statistic, value, low, high, n``. Floats are written with ``repr`` so they read back exactly.

Text cells are neutralised against spreadsheet formulas (OWASP's CSV injection rule): a cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a leading apostrophe, which spreadsheets
show as text and never evaluate. A text cell that already starts with apostrophes before such a character gets one
more, so ``responses_from_csv`` strips exactly one and reads every value back as it was. Numbers are not text
cells: a negative number stays a number. JSON exports carry values as they are (JSON is data, not a formula).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import typing
from collections.abc import Sequence
from typing import Any

from xai_core.study.analysis import Mean, Rate, ResponseRecord, Strength, StudySummary, Timing

RESPONSE_COLUMNS = tuple(f.name for f in dataclasses.fields(ResponseRecord))
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SUMMARY_COLUMNS = ("section", "name", "statistic", "value", "low", "high", "n")
_HINTS = typing.get_type_hints(ResponseRecord)


def neutralise(text: str) -> str:
    """``text`` safe to open in a spreadsheet: an apostrophe before a leading formula character (see the module)."""
    if text.lstrip("'")[:1] in FORMULA_PREFIXES:
        return "'" + text
    return text


def unneutralise(text: str) -> str:
    """The inverse of ``neutralise``."""
    if text.startswith("'") and text.lstrip("'")[:1] in FORMULA_PREFIXES:
        return text[1:]
    return text


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return neutralise(value)
    return repr(value) if isinstance(value, float) else str(value)


def _parse(name: str, text: str) -> Any:
    hint = _HINTS[name]
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    if text == "" and hint is not str:
        return None
    if base is bool:
        if text not in ("True", "False"):
            raise ValueError(f"column {name} must be True or False; got {text!r}")
        return text == "True"
    return unneutralise(text) if base is str else base(text)


def responses_to_csv(records: Sequence[ResponseRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; also quotes cells holding a CR
    writer.writerow(RESPONSE_COLUMNS)
    for record in records:
        writer.writerow([_cell(getattr(record, c)) for c in RESPONSE_COLUMNS])
    return out.getvalue()


def responses_from_csv(text: str) -> list[ResponseRecord]:
    """Read ``responses_to_csv`` output back; the header must list the ``ResponseRecord`` columns."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != RESPONSE_COLUMNS:
        raise ValueError(f"CSV header must be {list(RESPONSE_COLUMNS)}; got {reader.fieldnames}")
    return [ResponseRecord(**{c: _parse(c, row[c]) for c in RESPONSE_COLUMNS}) for row in reader]


def responses_to_json(records: Sequence[ResponseRecord]) -> str:
    return json.dumps([dataclasses.asdict(r) for r in records], indent=1, allow_nan=False)


def responses_from_json(text: str) -> list[ResponseRecord]:
    return [ResponseRecord(**row) for row in json.loads(text)]


def summary_to_json(summary: StudySummary) -> str:
    return json.dumps(summary.to_dict(), indent=2, allow_nan=False)


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def summary_from_json(text: str) -> StudySummary:
    """Rebuild a ``StudySummary`` from ``summary_to_json`` output (nulls become nan)."""
    data = json.loads(text)
    records = {"win_rates": Rate, "bradley_terry": Strength, "likert": Mean, "simulation": Rate, "time": Timing}
    values: dict[str, Any] = {}
    for field in dataclasses.fields(StudySummary):
        raw = data[field.name]
        if field.name in records:
            cls = records[field.name]
            hints = typing.get_type_hints(cls)
            values[field.name] = tuple(
                cls(**{k: _float(v) if hints[k] is float else v for k, v in item.items()}) for item in raw
            )
        elif isinstance(raw, list):
            values[field.name] = tuple(raw)
        else:
            hint = typing.get_type_hints(StudySummary)[field.name]
            values[field.name] = _float(raw) if hint is float else raw
    return StudySummary(**values)


def summary_rows(summary: StudySummary) -> list[tuple[str, str, str, Any, Any, Any, Any]]:
    """The long-form rows of the summary CSV, as Python values (None where a column does not apply)."""
    rows: list[tuple[str, str, str, Any, Any, Any, Any]] = [
        ("overview", "", stat, getattr(summary, stat), None, None, None)
        for stat in ("participants", "finished_participants", "responses", "attention_checks", "attention_passed")
    ]
    rows += [("win_rate", r.method, "rate", r.rate, r.low, r.high, r.n) for r in summary.win_rates]
    rows += [("bradley_terry", s.method, "strength", s.strength, None, None, s.rank) for s in summary.bradley_terry]
    rows.append(("agreement", "forced_choice", "fleiss_kappa", summary.choice_kappa, None, None, None))
    rows += [("likert", m.method, "mean", m.mean, m.low, m.high, m.n) for m in summary.likert]
    rows.append(("agreement", "likert", "krippendorff_alpha_interval", summary.likert_alpha, None, None, None))
    rows += [("forward_simulation", r.method, "accuracy", r.rate, r.low, r.high, r.n) for r in summary.simulation]
    for t in summary.time:
        rows.append(("time_ms", t.task, "median", t.median_ms, t.q1_ms, t.q3_ms, t.n))
        if not math.isnan(t.client_median_ms):  # the app measures no client time: the row would always be empty
            rows.append(("time_ms", t.task, "client_median", t.client_median_ms, None, None, t.n))
    return rows


def summary_to_csv(summary: StudySummary) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; also quotes cells holding a CR
    writer.writerow(SUMMARY_COLUMNS)
    writer.writerows([[_cell(v) for v in row] for row in summary_rows(summary)])
    return out.getvalue()

"""Responses so far and what they say: per-method win rates, a Bradley-Terry ranking, Likert means, forward-
simulation accuracy, agreement between participants, and time on trial (see ``stats`` for the methods).

``responses(db, code)`` returns one flat ``ResponseRecord`` per answer; ``summarize`` works on those records only,
so it can be re-run on an exported CSV (``export.responses_from_csv``) as well as on the live database.
Attention checks are reported on their own and never enter the method statistics.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from xai_core.study import schema as orm
from xai_core.study import stats
from xai_core.study.design import find_study
from xai_core.study.storage import Database
from xai_core.study.tasks import FORCED_CHOICE, FORWARD_SIMULATION, LIKERT, LIKERT_SCALE, TASKS


@dataclass(frozen=True)
class ResponseRecord:
    """One answer with everything needed to analyse it. Times are ISO 8601 in UTC; ``position`` counts from 1.

    ``method_left`` is the only method of a one-map trial; ``chosen_method`` is set for forced choice.
    """

    study: str
    participant: str
    session_id: int
    session_total: int
    trial_id: int
    position: int
    task: str
    attention: bool
    item_id: int
    image_hash: str
    target_label: str
    method_left: str
    method_right: str | None
    choice: str | None
    chosen_method: str | None
    rating: int | None
    option: int | None
    option_label: str | None
    correct: bool | None
    client_ms: int | None
    server_ms: int | None
    shown_at: str | None
    answered_at: str


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def responses(db: Database, study_code: str) -> list[ResponseRecord]:
    """Every response of the study, ordered by session and trial position."""
    left, right, chosen = aliased(orm.Stimulus), aliased(orm.Stimulus), aliased(orm.Stimulus)
    query = (
        select(orm.Response, orm.Trial, orm.Item, orm.Session.total, orm.Participant.code, left)
        .add_columns(right.method, chosen.method)
        .join(orm.Trial, orm.Trial.id == orm.Response.trial_id)
        .join(orm.Item, orm.Item.id == orm.Trial.item_id)
        .join(orm.Session, orm.Session.id == orm.Response.session_id)
        .join(orm.Participant, orm.Participant.id == orm.Session.participant_id)
        .join(left, left.id == orm.Trial.left_stimulus_id)
        .outerjoin(right, right.id == orm.Trial.right_stimulus_id)
        .outerjoin(chosen, chosen.id == orm.Response.chosen_stimulus_id)
        .order_by(orm.Response.session_id, orm.Trial.position)
    )
    with db.read() as session:
        study = find_study(session, study_code)
        rows = session.execute(query.where(orm.Session.study_id == study.id)).all()
        return [
            ResponseRecord(
                study=study.code,
                participant=code,
                session_id=response.session_id,
                session_total=total,
                trial_id=trial.id,
                position=trial.position + 1,
                task=item.task,
                attention=item.is_attention,
                item_id=item.id,
                image_hash=stim.image_hash,
                target_label=stim.target_label,
                method_left=stim.method,
                method_right=right_method,
                choice=response.choice,
                chosen_method=chosen_method,
                rating=response.rating,
                option=response.option,
                option_label=str(item.options[response.option]) if response.option is not None else None,
                correct=response.correct,
                client_ms=response.client_ms,
                server_ms=response.server_ms,
                shown_at=_iso(trial.shown_at),
                answered_at=_iso(response.created_at) or "",
            )
            for response, trial, item, total, code, stim, right_method, chosen_method in rows
        ]


@dataclass(frozen=True)
class Rate:
    """A proportion with its Wilson interval (win rate, or forward-simulation accuracy)."""

    method: str
    successes: int
    n: int
    rate: float
    low: float
    high: float


@dataclass(frozen=True)
class Mean:
    """A mean Likert rating with its t interval, clipped to the rating scale (a mean cannot leave it)."""

    method: str
    n: int
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Strength:
    """A Bradley-Terry log-strength (mean 0 over methods) and its rank (1 = best)."""

    method: str
    strength: float
    rank: int


@dataclass(frozen=True)
class Timing:
    """Time on trial in ms: server-measured median and quartiles, and the client's median."""

    task: str
    n: int
    median_ms: float
    q1_ms: float
    q3_ms: float
    iqr_ms: float
    client_median_ms: float


@dataclass(frozen=True)
class StudySummary:
    """Everything ``summarize`` reports. ``to_dict()`` gives plain JSON-ready data (nan as None)."""

    study: str
    confidence: float
    participants: int  # with at least one response
    finished_participants: int
    responses: int
    excluded_participants: tuple[str, ...]
    attention_checks: int
    attention_passed: int
    failed_attention: tuple[str, ...]
    win_rates: tuple[Rate, ...]
    bradley_terry: tuple[Strength, ...]
    choice_kappa: float
    likert: tuple[Mean, ...]
    likert_alpha: float
    simulation: tuple[Rate, ...]
    time: tuple[Timing, ...]

    def to_dict(self) -> dict[str, Any]:
        return _clean(dataclasses.asdict(self))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # nan -> None: JSON has no NaN
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _rates(outcomes: Iterable[tuple[str, bool]], confidence: float) -> tuple[Rate, ...]:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for method, success in outcomes:
        tally[method][0] += int(success)
        tally[method][1] += 1
    out = []
    for method in sorted(tally):
        k, n = tally[method]
        low, high = stats.wilson_interval(k, n, confidence)
        out.append(Rate(method, k, n, k / n, low, high))
    return tuple(out)


def _forced_choice(records: Sequence[ResponseRecord], confidence: float) -> tuple[tuple[Rate, ...], tuple, float]:
    answered = [r for r in records if r.task == FORCED_CHOICE and r.method_right and r.chosen_method]
    outcomes = [(m, r.chosen_method == m) for r in answered for m in (r.method_left, r.method_right or "")]
    pairs = [
        (r.chosen_method or "", r.method_right if r.chosen_method == r.method_left else r.method_left) for r in answered
    ]
    ranking = stats.bradley_terry([(w, str(loser)) for w, loser in pairs])
    strengths = tuple(Strength(m, s, rank) for rank, (m, s) in enumerate(ranking.items(), start=1))
    per_item: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in answered:  # category 0: the alphabetically first method of the pair, whatever side it was shown on
        first = min(r.method_left, r.method_right or "")
        per_item[r.item_id][0 if r.chosen_method == first else 1] += 1
    return _rates(outcomes, confidence), strengths, stats.fleiss_kappa(list(per_item.values()) or [[0, 0]])


def _likert(records: Sequence[ResponseRecord], confidence: float) -> tuple[tuple[Mean, ...], float]:
    rated = [r for r in records if r.task == LIKERT and r.rating is not None]
    by_method: dict[str, list[int]] = defaultdict(list)
    by_item: dict[int, list[int]] = defaultdict(list)
    for r in rated:
        by_method[r.method_left].append(int(r.rating or 0))
        by_item[r.item_id].append(int(r.rating or 0))
    means = tuple(Mean(m, len(v), *_on_scale(*stats.t_interval(v, confidence))) for m, v in sorted(by_method.items()))
    return means, stats.krippendorff_alpha(list(by_item.values()), "interval")


def _on_scale(mean: float, low: float, high: float) -> tuple[float, float, float]:
    """A t interval clipped to ``LIKERT_SCALE`` (nan stays nan: one rating has no interval)."""
    first, last = LIKERT_SCALE[0], LIKERT_SCALE[-1]
    return mean, low if math.isnan(low) else max(low, first), high if math.isnan(high) else min(high, last)


def _timing(records: Sequence[ResponseRecord]) -> tuple[Timing, ...]:
    groups = {task: [r for r in records if r.task == task] for task in TASKS}
    groups["all"] = list(records)
    out = []
    for task, group in groups.items():
        if not group:
            continue
        median, q1, q3 = stats.quartiles([r.server_ms for r in group if r.server_ms is not None])
        client, _, _ = stats.quartiles([r.client_ms for r in group if r.client_ms is not None])
        out.append(Timing(task, len(group), median, q1, q3, q3 - q1, client))
    return tuple(out)


def summarize(
    records: Sequence[ResponseRecord], *, confidence: float = 0.95, exclude_failed_attention: bool = False
) -> StudySummary:
    """The study's statistics from its response records (``responses(db, code)`` or an exported file).

    Args:
        records: the responses of one study.
        confidence: level of every interval.
        exclude_failed_attention: leave out every participant who failed at least one attention check.
    """
    studies = {r.study for r in records}
    if len(studies) > 1:
        raise ValueError(f"records must come from one study; got {sorted(studies)}")
    checks = [r for r in records if r.attention]
    failed = tuple(sorted({r.participant for r in checks if not r.correct}))
    excluded = failed if exclude_failed_attention else ()
    kept = [r for r in records if not r.attention and r.participant not in excluded]
    win_rates, strengths, kappa = _forced_choice(kept, confidence)
    likert, alpha = _likert(kept, confidence)
    simulated = [(r.method_left, bool(r.correct)) for r in kept if r.task == FORWARD_SIMULATION]
    answered: dict[int, int] = defaultdict(int)
    for r in records:
        answered[r.session_id] += 1
    finished = {r.participant for r in records if answered[r.session_id] >= r.session_total}
    return StudySummary(
        study=next(iter(studies), ""),
        confidence=confidence,
        participants=len({r.participant for r in records}),
        finished_participants=len(finished),
        responses=len(records),
        excluded_participants=excluded,
        attention_checks=len(checks),
        attention_passed=sum(1 for r in checks if r.correct),
        failed_attention=failed,
        win_rates=win_rates,
        bradley_terry=strengths,
        choice_kappa=kappa,
        likert=likert,
        likert_alpha=alpha,
        simulation=_rates(simulated, confidence),
        time=_timing(kept),
    )


def summarize_study(db: Database, study_code: str, **options: Any) -> StudySummary:
    """``summarize(responses(db, study_code), **options)``: the live summary of a study."""
    return summarize(responses(db, study_code), **options)

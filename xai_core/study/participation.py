"""Taking part: fetch ``next_trial``, ``answer`` it, read ``progress`` (``joining`` starts and resumes sessions).

A participant holds one secret, the session token (``secrets.token_urlsafe(32)``: 256 random bits). Only its SHA-256
is stored, so reading the database does not let anyone act as a participant. Every call finds the session by that
token and touches only that session's trials: an answer naming a trial of another session is refused (and the
database refuses it too, through the composite foreign key ``responses(trial_id, session_id)``).

Progress lives in the database: ``next_trial`` returns the first planned trial without a response, stamping its
``shown_at`` (database clock) the first time it is shown, so a reload or a new browser resumes where the
participant left off. ``answer`` writes one response in one transaction; a second submission for the same trial is
recorded once (unique ``(session_id, trial_id)``, with the constraint's ``IntegrityError`` caught for races) and
reported as ``recorded=False``.

An answer that arrives sooner than ``min_ms`` after its trial was first shown is refused (``TooSoonError``, nothing
recorded): the app passes ``MIN_ANSWER_MS``, because a second click 0.8-1.5 s after the first otherwise answered
the next question before its maps were on screen. Every call runs its transaction through
``storage.with_retries``: a transient database fault is retried with backoff, then reported as
``DatabaseUnavailableError``, never with the driver's message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from xai_core.study import schema as orm
from xai_core.study.errors import AccessDeniedError, NotFoundError, StudyError, TooSoonError
from xai_core.study.storage import Database, with_retries
from xai_core.study.tasks import FORCED_CHOICE, FORWARD_SIMULATION, LIKERT, LIKERT_SCALE, SIDES

MAX_CLIENT_MS = 24 * 3600 * 1000
MIN_ANSWER_MS = 1500  # the app's minimum time on a trial: the reported late double clicks came 0.8-1.5 s apart


@dataclass(frozen=True)
class SessionInfo:
    """What ``join`` hands back; keep ``token`` secret (it is the participant's only credential)."""

    token: str
    participant: str
    study_code: str
    total: int
    answered: int
    resumed: bool


@dataclass(frozen=True)
class TrialView:
    """One trial as a participant sees it: no method names, no correct answers.

    ``images`` holds the map overlays as PNG bytes in display order (left, right for forced choice; one otherwise);
    ``image`` the plain image if the stimulus has one. ``options`` are the labels to show; the answer is
    ``"left"``/``"right"`` (forced choice), a rating 1-5 (Likert) or the index of an option (forward simulation).
    """

    trial_id: int
    position: int
    total: int
    task: str
    prompt: str
    images: tuple[bytes, ...]
    options: tuple[str, ...]
    image: bytes | None = None


@dataclass(frozen=True)
class Receipt:
    """``recorded`` is False when this trial had already been answered (the first answer stands)."""

    trial_id: int
    recorded: bool
    answered: int
    total: int

    @property
    def finished(self) -> bool:
        return self.answered >= self.total


@dataclass(frozen=True)
class Progress:
    answered: int
    total: int
    finished: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _session(session: DbSession, token: str) -> orm.Session:
    found = None
    if isinstance(token, str) and 0 < len(token) <= 200:
        found = session.scalar(select(orm.Session).where(orm.Session.token_hash == hash_token(token)))
    if found is None:
        raise NotFoundError("unknown session token: join the study again")
    return found


def answered_count(session: DbSession, session_id: int) -> int:
    return session.scalar(select(func.count()).where(orm.Response.session_id == session_id)) or 0


def _png(stimulus: orm.Stimulus) -> bytes:
    if stimulus.png is not None:
        return bytes(stimulus.png)
    try:
        return Path(stimulus.path or "").read_bytes()
    except OSError as exc:
        raise StudyError(f"stimulus {stimulus.id}: cannot read its image file {stimulus.path!r}: {exc}") from None


def next_trial(db: Database, session_token: str) -> TrialView | None:
    """The first unanswered trial of the session (None when all are answered); stamps ``shown_at`` once."""
    return with_retries(lambda: _next_trial(db, session_token), "reading the next question")


def _next_trial(db: Database, session_token: str) -> TrialView | None:
    with db.write() as session:
        run = _session(session, session_token)
        answered = exists().where(orm.Response.trial_id == orm.Trial.id, orm.Response.session_id == run.id)
        query = select(orm.Trial).where(orm.Trial.session_id == run.id, ~answered).order_by(orm.Trial.position)
        trial = session.scalars(query.limit(1)).first()
        if trial is None:
            return None
        if trial.shown_at is None:  # conditional, so two tabs showing the trial at once keep the first time
            first_shown = orm.Trial.shown_at.is_(None)
            session.execute(update(orm.Trial).where(orm.Trial.id == trial.id, first_shown).values(shown_at=orm.DbNow()))
        item = session.get_one(orm.Item, trial.item_id)
        ids = [i for i in (trial.left_stimulus_id, trial.right_stimulus_id) if i is not None]
        stimuli = [session.get_one(orm.Stimulus, i) for i in ids]
        return TrialView(
            trial_id=trial.id,
            position=trial.position + 1,
            total=run.total,
            task=item.task,
            prompt=item.prompt,
            images=tuple(_png(s) for s in stimuli),
            options=tuple(str(o) for o in item.options),
            image=bytes(stimuli[0].image_png) if stimuli[0].image_png is not None else None,
        )


def _parse(item: orm.Item, trial: orm.Trial, response: Any) -> dict[str, Any]:
    """The typed response columns for ``response``, or a StudyError naming the expected values."""
    if item.task == FORCED_CHOICE:
        if response not in SIDES:
            raise StudyError(f"a forced-choice answer must be 'left' or 'right'; got {response!r}")
        chosen = trial.left_stimulus_id if response == "left" else trial.right_stimulus_id
        correct = (response == item.correct) if item.is_attention else None
        return {"choice": response, "chosen_stimulus_id": chosen, "correct": correct}
    valid_int = isinstance(response, int) and not isinstance(response, bool)
    if item.task == LIKERT:
        if not valid_int or response not in LIKERT_SCALE:
            raise StudyError(f"a Likert answer must be an integer rating in {list(LIKERT_SCALE)}; got {response!r}")
        return {"rating": response, "correct": (response == item.correct) if item.is_attention else None}
    if item.task == FORWARD_SIMULATION:
        if not valid_int or not 0 <= response < len(item.options):
            raise StudyError(
                f"a forward-simulation answer must be an option index 0-{len(item.options) - 1}; got {response!r}"
            )
        return {"option": response, "correct": response == item.correct}
    raise StudyError(f"item {item.id} has unknown task {item.task!r}")  # pragma: no cover - guarded at publish


def _check_answer_args(trial_id: Any, client_ms: Any) -> None:
    if isinstance(trial_id, bool) or not isinstance(trial_id, int):
        raise StudyError(f"trial_id must be an integer; got {trial_id!r}")
    if client_ms is not None and (
        isinstance(client_ms, bool) or not isinstance(client_ms, int) or not 0 <= client_ms <= MAX_CLIENT_MS
    ):
        raise StudyError(f"client_ms must be None or an integer in [0, {MAX_CLIENT_MS}]; got {client_ms!r}")


def _elapsed_ms(start: Any, end: Any) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


def answer(
    db: Database,
    session_token: str,
    trial_id: int,
    response: str | int,
    client_ms: int | None = None,
    *,
    min_ms: int = 0,
) -> Receipt:
    """Record the answer to one of the session's trials, once.

    Args:
        session_token: from ``join``.
        trial_id: ``TrialView.trial_id``; a trial of another session is refused.
        response: ``"left"``/``"right"``, a rating 1-5, or an option index (see ``TrialView``).
        client_ms: time on trial measured by the browser, if any; the server's own measure (from the first
            ``shown_at`` to the response's database timestamp) is stored beside it.
        min_ms: refuse (``TooSoonError``) an answer that comes sooner than this after the trial was first shown.

    Raises:
        NotFoundError: unknown token.
        AccessDeniedError: the trial is not this session's.
        TooSoonError: sooner than ``min_ms``.
        StudyError: the trial was never shown, or the response does not fit its task.
        DatabaseUnavailableError: the database did not answer, also after retries (the answer may be given again:
            a repeated answer is recorded once).
    """
    _check_answer_args(trial_id, client_ms)
    return with_retries(lambda: _answer(db, session_token, trial_id, response, client_ms, min_ms), "saving the answer")


def _answer(
    db: Database, session_token: str, trial_id: int, response: str | int, client_ms: int | None, min_ms: int
) -> Receipt:
    try:
        with db.write() as session:
            run = _session(session, session_token)
            trial = session.get(orm.Trial, trial_id)
            if trial is None or trial.session_id != run.id:
                raise AccessDeniedError(f"trial {trial_id} is not part of this session")
            duplicate = select(orm.Response.id).where(
                orm.Response.session_id == run.id, orm.Response.trial_id == trial.id
            )
            if session.scalar(duplicate) is not None:
                return Receipt(trial.id, False, answered_count(session, run.id), run.total)
            if trial.shown_at is None:
                raise StudyError(f"trial {trial_id} has not been shown yet: call next_trial first")
            fields = _parse(session.get_one(orm.Item, trial.item_id), trial, response)
            row = orm.Response(session_id=run.id, trial_id=trial.id, value=response, client_ms=client_ms, **fields)
            session.add(row)
            session.flush()  # INSERT ... RETURNING created_at (eager_defaults)
            row.server_ms = _elapsed_ms(trial.shown_at, row.created_at)
            if row.server_ms is not None and row.server_ms < min_ms:  # raising rolls the insert back
                raise TooSoonError(
                    f"trial {trial_id} was answered {row.server_ms} ms after it was shown, sooner than {min_ms} ms: "
                    "taken for a click meant for the previous question; nothing was recorded"
                )
            done = answered_count(session, run.id)
            if done >= run.total and run.finished_at is None:
                run.finished_at = orm.DbNow()
            session.flush()
            return Receipt(trial.id, True, done, run.total)
    except IntegrityError:
        # Two submissions of the same trial raced: the unique constraint let exactly one in.
        with db.read() as session:
            run = _session(session, session_token)
            stored = select(orm.Response.id).where(orm.Response.session_id == run.id, orm.Response.trial_id == trial_id)
            if session.scalar(stored) is None:
                raise
            return Receipt(trial_id, False, answered_count(session, run.id), run.total)


def progress(db: Database, session_token: str) -> Progress:
    """Answered and planned trials of the session."""

    def read() -> Progress:
        with db.read() as session:
            run = _session(session, session_token)
            done = answered_count(session, run.id)
            return Progress(done, run.total, done >= run.total)

    return with_retries(read, "reading progress")

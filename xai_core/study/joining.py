"""Starting and resuming a participant's session: ``join`` and ``resume``.

A session is reached with its token (in the participant's link) or, from the browser that started it, with that
browser's device key (the app keeps a random key in an HttpOnly cookie; the database stores only its SHA-256).
A recruiter's participant id is never enough on its own: ``join`` with an id that already has a session resumes it
only for the same device key and refuses everyone else (``AccessDeniedError``), so knowing or guessing an id does
not let anyone answer for that participant or cut them off. Ids are limited to ``PARTICIPANT_ID_PATTERN`` (what
Prolific, MTurk and SONA hand out), which also keeps them inert wherever they are shown or exported. Without an
id, the participant code is a random ``secrets.token_urlsafe(16)``.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from xai_core.study import schema as orm
from xai_core.study.design import find_study
from xai_core.study.errors import AccessDeniedError, StudyError
from xai_core.study.ordering import PoolItem, plan_trials
from xai_core.study.participation import SessionInfo, answered_count, hash_token
from xai_core.study.storage import Database, with_retries

SESSION_TOKEN_BYTES = 32
PARTICIPANT_TOKEN_BYTES = 16
PARTICIPANT_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
DEVICE_KEY_LENGTHS = (16, 200)


def check_participant_id(participant_id: str | None) -> None:
    """``None``, or 1-64 letters, digits, ``-``, ``_`` and ``.``; a StudyError shows at most 40 characters of it."""
    if participant_id is None:
        return
    if not isinstance(participant_id, str) or not PARTICIPANT_ID_PATTERN.fullmatch(participant_id):
        shown = repr(participant_id)[:40] + ("..." if len(repr(participant_id)) > 40 else "")
        raise StudyError(
            f"participant_id must be 1-64 letters, digits, '-', '_' or '.'; got {shown} "
            f"({len(participant_id) if isinstance(participant_id, str) else type(participant_id).__name__})"
        )


def _device_hash(device: str | None) -> str | None:
    if device is None:
        return None
    low, high = DEVICE_KEY_LENGTHS
    if not isinstance(device, str) or not low <= len(device) <= high:
        raise StudyError(f"device must be None or a random key of {low}-{high} characters")
    return hash_token(device)


def _plan(session: DbSession, study: orm.Study, participant: orm.Participant, token_hash: str) -> orm.Session:
    rows = session.execute(
        select(orm.Item.id, orm.Item.task, orm.Item.is_attention, orm.Item.stimulus_a_id, orm.Item.stimulus_b_id).where(
            orm.Item.study_id == study.id
        )
    ).all()
    pool = [PoolItem(r.id, r.task, r.is_attention) for r in rows]
    stimuli = {r.id: (r.stimulus_a_id, r.stimulus_b_id) for r in rows}
    plan = plan_trials(
        study.seed, participant.code, pool, study.tasks, study.trials_per_participant, study.attention_checks
    )
    run = orm.Session(study_id=study.id, participant_id=participant.id, token_hash=token_hash, total=len(plan))
    session.add(run)
    session.flush()
    for planned in plan:
        a, b = stimuli[planned.item_id]
        left, right = (b, a) if planned.swapped and b is not None else (a, b)
        session.add(
            orm.Trial(
                session_id=run.id,
                item_id=planned.item_id,
                position=planned.position,
                left_stimulus_id=left,
                right_stimulus_id=right,
            )
        )
    return run


def _reopen(session: DbSession, study: orm.Study, run: orm.Session, code: str) -> SessionInfo:
    """A fresh token for ``run`` (the previous one stops working: one live link per session)."""
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    run.token_hash = hash_token(token)
    session.flush()
    return SessionInfo(token, code, study.code, run.total, answered_count(session, run.id), True)


def join(
    db: Database,
    study_code: str,
    participant_id: str | None = None,
    *,
    consented: bool = False,
    device: str | None = None,
) -> SessionInfo:
    """Start a participant's session in a published study, or resume it from the browser that started it.

    Args:
        study_code: the study's join code.
        participant_id: a recruiter's participant id (``PARTICIPANT_ID_PATTERN``); ``None`` draws an unguessable one.
        consented: the participant agreed to the study's consent text (required when the study has one).
        device: the browser's secret device key; stored hashed with a new session, and required to resume one.

    Raises:
        NotFoundError: no such study. AccessDeniedError: ``participant_id`` already has a session started with
        another device key (or none). StudyError: the study is not open, consent is missing, or a bad argument.
        DatabaseUnavailableError: the database did not answer, also after retries.
    """
    check_participant_id(participant_id)
    device_hash = _device_hash(device)
    code = participant_id or secrets.token_urlsafe(PARTICIPANT_TOKEN_BYTES)
    for attempt in range(2):  # a concurrent join with the same participant_id loses the insert race at most once
        try:
            return with_retries(lambda: _join_once(db, study_code, code, consented, device_hash), "joining the study")
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _join_once(db: Database, study_code: str, code: str, consented: bool, device_hash: str | None) -> SessionInfo:
    with db.write() as session:
        study = find_study(session, study_code)
        participant = session.scalar(
            select(orm.Participant).where(orm.Participant.study_id == study.id, orm.Participant.code == code)
        )
        if participant is not None:
            latest = select(orm.Session).where(orm.Session.participant_id == participant.id)
            run = session.scalars(latest.order_by(orm.Session.id.desc())).first()
            if run is not None:
                if device_hash is None or run.device_hash != device_hash:
                    raise AccessDeniedError(
                        f"participant id {code!r} has already started this study in another browser; it can be "
                        "continued only there (or from its session link). If that was not you, tell the study lead."
                    )
                return _reopen(session, study, run, code)
        if study.status != "published":  # closed: no newcomers (sessions already started may finish)
            raise StudyError(f"study {study_code!r} is not accepting participants (status: {study.status})")
        if study.consent and not consented:
            raise StudyError(
                "this study needs the participant's consent: show its consent text, then join(consented=True)"
            )
        if participant is None:
            participant = orm.Participant(study_id=study.id, code=code)
            session.add(participant)
            session.flush()
        token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
        run = _plan(session, study, participant, hash_token(token))
        run.device_hash = device_hash
        if consented:
            run.consented_at = orm.DbNow()
        session.flush()
        return SessionInfo(token, code, study.code, run.total, 0, False)


def resume(db: Database, study_code: str, device: str, participant_id: str | None = None) -> SessionInfo | None:
    """The session this device started in the study, with a fresh token; ``None`` when there is none to resume.

    Without ``participant_id``: the device's latest unfinished session (a finished one is not resumed, so the
    next person at a shared computer starts their own). With it: that participant's session, finished or not,
    if this device started it.
    """
    check_participant_id(participant_id)
    device_hash = _device_hash(device)

    def find() -> SessionInfo | None:
        with db.write() as session:
            study = find_study(session, study_code)
            query = (
                select(orm.Session, orm.Participant.code)
                .join(orm.Participant, orm.Participant.id == orm.Session.participant_id)
                .where(orm.Session.study_id == study.id, orm.Session.device_hash == device_hash)
            )
            if participant_id is not None:
                query = query.where(orm.Participant.code == participant_id)
            else:
                query = query.where(orm.Session.finished_at.is_(None))
            found = session.execute(query.order_by(orm.Session.id.desc()).limit(1)).first()
            return None if found is None else _reopen(session, study, found[0], found[1])

    return with_retries(find, "resuming the study")

"""Designing a study: what is asked (``StudySpec``), what is shown (``Stimulus``), and freezing both (``publish``).

Three task types, plus attention checks that may take the form of any of them:

- ``forced_choice``: two methods' maps for the same image and target side by side; "which map better explains why
  the model predicted <class>?" Every pair of methods over each (image, target) becomes one item.
- ``likert``: one map, rated 1 (not at all) to 5 (completely) for how well it explains the prediction.
- ``forward_simulation``: the image with one map; the participant guesses the model's class among
  ``simulation_options`` labels, one of them correct (Hase & Bansal 2020, https://arxiv.org/abs/2005.01831).
- attention checks (``AttentionCheck``): a trial of one of those forms with a known correct answer.

``publish`` stores the stimuli (PNG bytes or a file path, with the settings that reproduce each map), builds the
item pool and marks the study published; after that nothing about the study changes, and participant flows read
only stored images: they never call a model.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from xai_core.study import schema as orm
from xai_core.study.errors import NotFoundError, StudyError
from xai_core.study.items import attention_item, check_capacity, regular_items
from xai_core.study.spec import AttentionCheck, Stimulus, StudySpec
from xai_core.study.storage import Database
from xai_core.study.tasks import DEFAULT_PROMPTS


@dataclass(frozen=True)
class StudyInfo:
    """A study as stored; ``code`` is what participants join with. ``participants`` counts everyone who joined,
    ``finished`` the sessions with every trial answered."""

    code: str
    title: str
    instructions: str
    consent: str | None
    tasks: tuple[str, ...]
    trials_per_participant: int
    attention_checks: int
    seed: int
    status: str
    created_at: datetime
    published_at: datetime | None
    stimuli: int
    items: int
    participants: int
    finished: int


def _count(session: DbSession, table: Any, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(table).where(*where)) or 0


def _info(session: DbSession, study: orm.Study) -> StudyInfo:
    finished = orm.Session.finished_at.is_not(None)
    return StudyInfo(
        study.code,
        study.title,
        study.instructions,
        study.consent,
        tuple(study.tasks),
        study.trials_per_participant,
        study.attention_checks,
        study.seed,
        study.status,
        study.created_at,
        study.published_at,
        stimuli=_count(session, orm.Stimulus, orm.Stimulus.study_id == study.id),
        items=_count(session, orm.Item, orm.Item.study_id == study.id),
        participants=_count(session, orm.Participant, orm.Participant.study_id == study.id),
        finished=_count(session, orm.Session, orm.Session.study_id == study.id, finished),
    )


def find_study(session: DbSession, code: str) -> orm.Study:
    """The study with ``code``, or ``NotFoundError``."""
    study = session.scalar(select(orm.Study).where(orm.Study.code == code)) if isinstance(code, str) else None
    if study is None:
        raise NotFoundError(f"no study with code {code!r}")
    return study


def create_study(db: Database, spec: StudySpec) -> StudyInfo:
    """Store a draft study and return it with its new join code."""
    with db.write() as session:
        study = orm.Study(
            code=secrets.token_urlsafe(9),
            title=spec.title.strip(),
            instructions=spec.instructions,
            consent=spec.consent,
            tasks=list(spec.tasks),
            prompts={**DEFAULT_PROMPTS, **spec.prompts},
            distractor_labels=list(spec.distractor_labels),
            trials_per_participant=spec.trials_per_participant,
            attention_checks=spec.attention_checks,
            simulation_options=spec.simulation_options,
            seed=spec.seed if spec.seed is not None else secrets.randbits(62),
            status="draft",
        )
        session.add(study)
        session.flush()
        session.refresh(study)
        return _info(session, study)


def get_study(db: Database, code: str) -> StudyInfo:
    with db.read() as session:
        return _info(session, find_study(session, code))


def list_studies(db: Database) -> list[StudyInfo]:
    with db.read() as session:
        return [_info(session, s) for s in session.scalars(select(orm.Study).order_by(orm.Study.id))]


def close_study(db: Database, code: str) -> StudyInfo:
    """Stop recruiting: ``join`` refuses new participants; sessions already started may finish."""
    with db.write() as session:
        study = find_study(session, code)
        if study.status != "published":
            raise StudyError(f"only a published study can be closed; study {code!r} is {study.status}")
        study.status = "closed"
        session.flush()
        return _info(session, study)


def discard_draft(db: Database, code: str) -> None:
    """Delete a study that was never published (nobody can have joined it); a published one raises StudyError."""
    with db.write() as session:
        study = find_study(session, code)
        if study.status != "draft":
            raise StudyError(f"only a draft can be discarded; study {code!r} is {study.status}")
        session.delete(study)


def publish(
    db: Database, code: str, stimuli: Sequence[Stimulus], attention_checks: Sequence[AttentionCheck] = ()
) -> StudyInfo:
    """Store ``stimuli``, build the item pool and freeze the study; a published study accepts participants."""
    if not stimuli or not all(isinstance(s, Stimulus) for s in stimuli):
        raise StudyError("publish needs a non-empty sequence of Stimulus records")
    with db.write() as session:
        study = find_study(session, code)
        if study.status != "draft":
            raise StudyError(f"study {code!r} is {study.status}: a study is frozen once published")
        rows = [
            orm.Stimulus(
                study_id=study.id,
                position=index,
                method=s.method,
                image_hash=s.image_hash,
                target_class=int(s.target_class),
                target_label=s.target_label,
                predicted_class=s.predicted_class,
                predicted_label=s.predicted_label,
                settings=dict(s.settings),
                png=s.png,
                path=s.path,
                image_png=s.image_png,
            )
            for index, s in enumerate(stimuli)
        ]
        session.add_all(rows)
        session.flush()
        items = regular_items(study, rows, stimuli)
        items += [attention_item(check, rows, k) for k, check in enumerate(attention_checks)]
        check_capacity(study, items)
        for item in items:
            item.study_id = study.id
        session.add_all(items)
        study.status = "published"
        study.published_at = orm.DbNow()
        session.flush()
        session.refresh(study)
        return _info(session, study)

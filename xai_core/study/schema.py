"""The study tables as SQLAlchemy 2.x ORM classes; portable to SQLite and PostgreSQL.

The tables are created by the Alembic migrations in ``migrations/versions`` (``storage.upgrade_to_head``), never by
``create_all``; ``tests/test_study_storage.py`` checks that the migrations and these classes agree.

    studies       one row per study: texts, task types, trials per participant, seed, status
    stimuli       precomputed maps frozen at publish: PNG bytes or a file path, plus the settings that reproduce them
    items         the question pool built at publish (a pair of maps, one map, or an attention check)
    participants  one per (study, participant code); the code is the recruiter's id or a random token
    sessions      a participant's run through the study; only SHA-256s of the session token and of the browser's
                  device key (an HttpOnly cookie that lets the same browser resume) are stored
    trials        a session's planned items in order, with left/right placement and the server time first shown
    responses     one row per answered trial, written in its own transaction; unique per (session, trial)

Timestamps come from the database clock (``DbNow``): ``CURRENT_TIMESTAMP`` on PostgreSQL and a millisecond
``strftime`` on SQLite, whose ``CURRENT_TIMESTAMP`` has only whole seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now'))"


class DbNow(FunctionElement[datetime]):
    """The database's current UTC time with at least millisecond resolution (server-side, never the client's)."""

    type = DateTime(timezone=True)
    inherit_cache = True
    name = "db_now"


@compiles(DbNow, "sqlite")
def _now_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return SQLITE_NOW


@compiles(DbNow)
def _now_default(element: Any, compiler: Any, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=DbNow(), nullable=False)


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text)
    consent: Mapped[str | None] = mapped_column(Text)
    tasks: Mapped[list[Any]] = mapped_column(JSON)
    prompts: Mapped[dict[str, Any]] = mapped_column(JSON)
    trials_per_participant: Mapped[int] = mapped_column(Integer)
    attention_checks: Mapped[int] = mapped_column(Integer)
    simulation_options: Mapped[int] = mapped_column(Integer)
    distractor_labels: Mapped[list[Any]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint("status IN ('draft', 'published', 'closed')", name="status"),)


class Stimulus(Base):
    __tablename__ = "stimuli"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(100))
    image_hash: Mapped[str] = mapped_column(String(64))
    target_class: Mapped[int] = mapped_column(Integer)
    target_label: Mapped[str] = mapped_column(String(200))
    predicted_class: Mapped[int | None] = mapped_column(Integer)
    predicted_label: Mapped[str | None] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    png: Mapped[bytes | None] = mapped_column(LargeBinary)
    path: Mapped[str | None] = mapped_column(String(1000))
    image_png: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("study_id", "position"),
        CheckConstraint("png IS NOT NULL OR path IS NOT NULL", name="png_or_path"),
    )


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    task: Mapped[str] = mapped_column(String(32))
    is_attention: Mapped[bool] = mapped_column(Boolean)
    stimulus_a_id: Mapped[int] = mapped_column(ForeignKey("stimuli.id", ondelete="CASCADE"))
    stimulus_b_id: Mapped[int | None] = mapped_column(ForeignKey("stimuli.id", ondelete="CASCADE"))
    prompt: Mapped[str] = mapped_column(Text)
    options: Mapped[list[Any]] = mapped_column(JSON)
    correct: Mapped[Any] = mapped_column(JSON, nullable=True)


class Participant(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()

    __table_args__ = (UniqueConstraint("study_id", "code"),)


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    device_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    total: Mapped[int] = mapped_column(Integer)
    consented_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Trial(Base):
    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    left_stimulus_id: Mapped[int] = mapped_column(ForeignKey("stimuli.id", ondelete="CASCADE"))
    right_stimulus_id: Mapped[int | None] = mapped_column(ForeignKey("stimuli.id", ondelete="CASCADE"))
    shown_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # (id, session_id) is unique so that a response can reference both: the database itself then refuses a
    # response whose trial belongs to another session.
    __table_args__ = (UniqueConstraint("session_id", "position"), UniqueConstraint("id", "session_id"))


class Response(Base):
    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    trial_id: Mapped[int] = mapped_column(Integer, index=True)
    value: Mapped[Any] = mapped_column(JSON)
    choice: Mapped[str | None] = mapped_column(String(8))
    chosen_stimulus_id: Mapped[int | None] = mapped_column(ForeignKey("stimuli.id", ondelete="CASCADE"))
    rating: Mapped[int | None] = mapped_column(Integer)
    option: Mapped[int | None] = mapped_column(Integer)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    client_ms: Mapped[int | None] = mapped_column(Integer)
    server_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()

    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012  (read created_at back in the same transaction)
    __table_args__ = (
        UniqueConstraint("session_id", "trial_id"),
        ForeignKeyConstraint(["trial_id", "session_id"], ["trials.id", "trials.session_id"], ondelete="CASCADE"),
    )

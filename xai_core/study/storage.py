"""Where studies live: an SQLite file by default, PostgreSQL when ``XAI_STUDY_DB_URL`` (or ``url=``) names one.

SQLite runs in WAL mode (readers never block the writer), with foreign keys on and a busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of failing
when a read lock cannot be upgraded. Schema changes go through Alembic (``upgrade_to_head``); the scripts live in
``migrations/`` beside this file, so no ``alembic.ini`` is needed in the working directory.

    db = open_database()                          # studies/studies.db, or $XAI_STUDY_DB_URL; migrated to head
    db = open_database("postgresql://user@host/studies")
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from xai_core.study.errors import StudyError

ENV_URL = "XAI_STUDY_DB_URL"
DEFAULT_PATH = Path("studies") / "studies.db"
BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_READ_ONLY = "xai_study_read_only"


def resolve_url(url: str | URL | None = None) -> URL:
    """The database URL: ``url``, else ``$XAI_STUDY_DB_URL``, else an SQLite file at ``studies/studies.db``.

    ``postgresql://`` and ``postgres://`` URLs are given the psycopg (v3) driver.
    """
    text = url if url is not None else os.environ.get(ENV_URL, "").strip() or None
    if text is None:
        DEFAULT_PATH.parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite", database=str(DEFAULT_PATH.resolve()))
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        source = "url" if url is not None else ENV_URL
        raise StudyError(f"{source} must be a database URL such as sqlite:///studies.db; got {str(text)!r}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StudyError(f"study storage supports sqlite and postgresql URLs; got {parsed.get_backend_name()!r}")
    return parsed


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    read_only = conn.get_execution_options().get(_READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str | URL | None = None) -> Engine:
    """An engine configured for study storage (SQLite pragmas and transaction control, PostgreSQL pre-ping)."""
    resolved = resolve_url(url)
    try:
        if resolved.get_backend_name() == "sqlite":
            engine = create_engine(resolved, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        return create_engine(resolved, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StudyError(
            f"no driver for {resolved.drivername}: install psycopg (pip install 'psycopg[binary]') for PostgreSQL"
        ) from exc


def upgrade_to_head(url: str | URL | Engine | None = None) -> None:
    """Run every Alembic migration up to the newest one on ``url`` (an engine, a URL, or the default database)."""
    from alembic import command
    from alembic.config import Config

    engine = url if isinstance(url, Engine) else make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        if engine is not url:
            engine.dispose()


@dataclass(frozen=True)
class Database:
    """An engine plus the two kinds of transaction the engine uses: ``write()`` and ``read()``."""

    engine: Engine
    _sessions: sessionmaker[Session]
    _read_sessions: sessionmaker[Session]

    @property
    def url(self) -> URL:
        return self.engine.url

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.url.get_backend_name()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that may write: committed on success, rolled back on any exception."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read-only transaction (a deferred BEGIN on SQLite, so it never waits for writers)."""
        with self._read_sessions() as session:  # closing releases the connection and ends the transaction
            yield session

    def dispose(self) -> None:
        """Close every pooled connection (tests and shutdown)."""
        self.engine.dispose()


def open_database(url: str | URL | None = None, *, upgrade: bool = True) -> Database:
    """Connect to study storage and (by default) migrate it to the newest schema.

    Args:
        url: an SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user:pass@host/db``); ``None`` reads
            ``$XAI_STUDY_DB_URL`` and falls back to the SQLite file ``studies/studies.db``.
        upgrade: run ``upgrade_to_head`` first; turn off where a deployment migrates separately.
    """
    engine = make_engine(url)
    if upgrade:
        upgrade_to_head(engine)
    reader = engine.execution_options(**{_READ_ONLY: True})
    return Database(
        engine,
        sessionmaker(engine, expire_on_commit=False),
        sessionmaker(reader, expire_on_commit=False),
    )

"""Where studies live: an SQLite file by default, PostgreSQL when ``XAI_STUDY_DB_URL`` (or ``url=``) names one.

SQLite runs in WAL mode (readers never block the writer), with foreign keys on and a busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of failing
when a read lock cannot be upgraded. A new SQLite file is created readable by its owner only (0600; SQLite gives
its -wal and -shm files the same mode), in a new folder of mode 0700. ``with_retries`` runs a transaction again
after a transient fault (a lost connection, a locked database) with backoff, and then raises
``DatabaseUnavailableError`` without the driver's message (which names hosts, ports and SQL). Schema changes go
through Alembic (``upgrade_to_head``); the scripts live in ``migrations/`` beside this file, so no ``alembic.ini``
is needed in the working directory.

    db = open_database()                          # studies/studies.db, or $XAI_STUDY_DB_URL; migrated to head
    db = open_database("postgresql://user@host/studies")
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from xai_core.study.errors import DatabaseUnavailableError, StudyError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())
T = TypeVar("T")

ENV_URL = "XAI_STUDY_DB_URL"
DEFAULT_PATH = Path("studies") / "studies.db"
BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_READ_ONLY = "xai_study_read_only"
RETRY_DELAYS_S = (0.1, 0.4, 1.2)  # then give up: about 2 s of faults in all, plus SQLite's busy timeout per try
TRANSIENT = (OperationalError, InterfaceError)  # lost or refused connections, locks; never constraint violations


def resolve_url(url: str | URL | None = None) -> URL:
    """The database URL: ``url``, else ``$XAI_STUDY_DB_URL``, else an SQLite file at ``studies/studies.db``.

    ``postgresql://`` and ``postgres://`` URLs are given the psycopg (v3) driver.
    """
    text = url if url is not None else os.environ.get(ENV_URL, "").strip() or None
    if text is None:
        DEFAULT_PATH.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
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


def _private_file(database: str | None) -> None:
    """Create an SQLite database file readable and writable by its owner only, unless it exists already."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:  # a folder that does not exist: SQLite's own error says it better
        log.debug("could not pre-create %s: %s", database, exc)


def make_engine(url: str | URL | None = None) -> Engine:
    """An engine configured for study storage (SQLite pragmas and transaction control, PostgreSQL pre-ping)."""
    resolved = resolve_url(url)
    try:
        if resolved.get_backend_name() == "sqlite":
            _private_file(resolved.database)
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


def with_retries(action: Callable[[], T], what: str) -> T:
    """``action()``, run again after a transient database fault (``RETRY_DELAYS_S``, with jitter).

    Only faults of the connection or of locking are retried; the caller's transaction must be safe to run twice
    (every participant write is: a repeated answer is recorded once). After the last try the fault is logged with
    its details and ``DatabaseUnavailableError`` raised with none of them.
    """
    for delay in (*RETRY_DELAYS_S, None):
        try:
            return action()
        except TRANSIENT as exc:
            if delay is None:
                log.warning(
                    "%s: the database did not answer after %d tries", what, len(RETRY_DELAYS_S) + 1, exc_info=exc
                )
                raise DatabaseUnavailableError(f"{what}: the study database did not answer") from exc
            log.info("%s: transient database fault (%s); trying again in %.1f s", what, type(exc).__name__, delay)
            time.sleep(delay * random.uniform(1.0, 1.5))
    raise AssertionError("unreachable")

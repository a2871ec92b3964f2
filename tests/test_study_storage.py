"""Study storage on SQLite and PostgreSQL: migrations, durability across a killed process, concurrency, idempotence.

Every test here runs once per backend. PostgreSQL is the server at ``$XAI_STUDY_TEST_PG_URL`` (its tables are
dropped and recreated) or, failing that, a throwaway cluster started from Debian's binaries
(``/usr/lib/postgresql/*/bin``) in a temporary directory, listening on a Unix socket only; the PostgreSQL cases
are skipped, with the reason, when neither is available.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from xai_core.study import (
    FORCED_CHOICE,
    Database,
    StudySpec,
    answer,
    create_study,
    join,
    next_trial,
    open_database,
    progress,
    publish,
    upgrade_to_head,
)
from xai_core.study import schema as orm
from xai_core.study.demo import synthetic_stimuli
from xai_core.study.storage import make_engine

REPO = Path(__file__).resolve().parents[1]
TABLES = {"studies", "stimuli", "items", "participants", "sessions", "trials", "responses"}


def _postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    initdb = found[0] if found else shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _start_cluster(bindir: Path) -> tuple[str, Path, list[str]]:
    """initdb + pg_ctl start in a fresh temp dir, as the postgres user when we are root: (url, root, prefix)."""
    prefix: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="xai-study-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("PostgreSQL: running as root and there is no 'postgres' user to run initdb as")
        if shutil.which("runuser") is None:
            shutil.rmtree(root)
            pytest.skip("PostgreSQL: running as root and runuser is missing")
        os.chown(root, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    initdb = [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]
    subprocess.run([*prefix, *initdb], check=True, capture_output=True, timeout=120)
    options = f"-k {root} -c listen_addresses='' -F"
    start = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"]
    subprocess.run([*prefix, *start], check=True, capture_output=True, timeout=120)
    return f"postgresql+psycopg://postgres@/postgres?host={root}", root, prefix


@pytest.fixture(scope="module")
def pg_server() -> Iterator[tuple[str, bool]]:
    """(URL, whether databases may be created and dropped there)."""
    pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg (requirements-dev.txt)")
    external = os.environ.get("XAI_STUDY_TEST_PG_URL", "").strip()
    if external:
        yield external, False
        return
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL: set XAI_STUDY_TEST_PG_URL or install Debian's postgresql (no initdb found)")
    url, root, prefix = _start_cluster(bindir)
    try:
        yield url, True
    finally:
        stop = [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"]
        subprocess.run([*prefix, *stop], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _admin_sql(url: str, statement: str) -> None:
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'studies.db'}"
        return
    server, owned = request.getfixturevalue("pg_server")
    if not owned:  # someone else's server: start from empty tables
        engine = make_engine(server)
        with engine.begin() as connection:
            orm.Base.metadata.drop_all(connection)
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        engine.dispose()
        yield server
        return
    name = f"study_{uuid.uuid4().hex[:12]}"
    _admin_sql(server, f"CREATE DATABASE {name}")
    try:
        yield server.replace("/postgres?", f"/{name}?")
    finally:
        _admin_sql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    try:
        yield database
    finally:
        database.dispose()


def _forced_choice_study(db: Database, trials: int = 6) -> str:
    info = create_study(db, StudySpec("Storage", "Pick one.", tasks=(FORCED_CHOICE,), trials_per_participant=trials))
    publish(db, info.code, synthetic_stimuli(images=3, methods=("a", "b", "c"), size=8))
    return info.code


def test_migration_creates_every_table_and_is_idempotent(db_url: str) -> None:
    upgrade_to_head(db_url)
    upgrade_to_head(db_url)  # a second run finds nothing to do
    engine = make_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0002"
    finally:
        engine.dispose()


def test_migrations_match_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), orm.Base.metadata)
    assert diff == []


def test_sqlite_pragmas(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 's.db'}")
    try:
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    finally:
        database.dispose()


_CHILD = textwrap.dedent(
    """
    import os, signal, sys, types
    # Skip xai_core/__init__ (torch, timm, torchvision: most of this child's run time); storage never needs them.
    package = types.ModuleType("xai_core")
    package.__path__ = [os.path.join(os.getcwd(), "xai_core")]
    sys.modules["xai_core"] = package

    from sqlalchemy import select
    from xai_core.study import answer, next_trial, open_database
    from xai_core.study import schema as orm

    url, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = open_database(url, upgrade=False)
    for _ in range(count):
        view = next_trial(db, token)
        answer(db, token, view.trial_id, "left", client_ms=150)
        print(view.trial_id, flush=True)
    assert "torch" not in sys.modules
    view = next_trial(db, token)
    with db.write() as session:  # die in the middle of a write transaction that never commits
        owner = session.scalar(select(orm.Trial.session_id).where(orm.Trial.id == view.trial_id))
        session.add(orm.Response(session_id=owner, trial_id=view.trial_id, value="right", choice="right"))
        session.flush()
        print("pending", view.trial_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_committed_answers_survive_a_killed_process(db: Database, db_url: str) -> None:
    code = _forced_choice_study(db)
    run = join(db, code)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, db_url, run.token, "3"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    lines = child.stdout.split()
    assert lines[-2] == "pending"
    committed, pending = [int(t) for t in lines[:-2]], int(lines[-1])
    assert len(committed) == 3

    reopened = open_database(db_url)
    try:
        with reopened.read() as session:
            stored = session.scalars(select(orm.Response.trial_id).order_by(orm.Response.id)).all()
        assert stored == committed  # every committed answer, and nothing of the open transaction
        assert progress(reopened, run.token).answered == 3
        view = next_trial(reopened, run.token)  # resumes at the trial the process died on; nothing is locked
        assert view is not None and view.trial_id == pending and view.position == 4
        assert answer(reopened, run.token, pending, "right").recorded
    finally:
        reopened.dispose()


def test_twenty_concurrent_participants_lose_and_duplicate_nothing(db: Database) -> None:
    trials = 6
    code = _forced_choice_study(db, trials=trials)
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []
    tokens: list[str] = []

    def participant(k: int) -> None:
        try:
            run = join(db, code, participant_id=f"p{k:02d}")
            tokens.append(run.token)
            barrier.wait(timeout=60)
            while (view := next_trial(db, run.token)) is not None:
                first = answer(db, run.token, view.trial_id, "left" if k % 2 else "right", client_ms=10 * k)
                again = answer(db, run.token, view.trial_id, "right")  # an impatient double click
                assert first.recorded and not again.recorded
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=participant, args=(k,)) for k in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    with db.read() as session:
        total = session.scalar(select(func.count()).select_from(orm.Response))
        distinct = session.scalar(select(func.count()).select_from(select(orm.Response.trial_id).distinct().subquery()))
        finished = session.scalar(select(func.count()).where(orm.Session.finished_at.is_not(None)))
    assert total == distinct == 20 * trials
    assert finished == 20
    assert all(progress(db, token).finished for token in tokens)


def test_double_submission_recorded_once_even_when_racing(db: Database) -> None:
    code = _forced_choice_study(db)
    run = join(db, code)
    view = next_trial(db, run.token)
    assert view is not None
    barrier = threading.Barrier(8)
    receipts = []

    def submit(side: str) -> None:
        barrier.wait(timeout=30)
        receipts.append(answer(db, run.token, view.trial_id, side, client_ms=5))

    threads = [threading.Thread(target=submit, args=("left" if k % 2 else "right",)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(receipts) == 8 and sum(r.recorded for r in receipts) == 1
    assert answer(db, run.token, view.trial_id, "left").recorded is False
    with db.read() as session:
        rows = session.scalars(select(orm.Response).where(orm.Response.trial_id == view.trial_id)).all()
    assert len(rows) == 1 and progress(db, run.token).answered == 1


def test_timestamps_come_from_the_database(db: Database) -> None:
    code = _forced_choice_study(db)
    run = join(db, code)
    view = next_trial(db, run.token)
    assert view is not None
    answer(db, run.token, view.trial_id, "left", client_ms=1234)
    with db.read() as session:
        response = session.scalars(select(orm.Response)).one()
        trial = session.get_one(orm.Trial, response.trial_id)
    assert trial.shown_at is not None and response.created_at >= trial.shown_at
    assert response.client_ms == 1234
    expected = (response.created_at - trial.shown_at).total_seconds() * 1000
    assert response.server_ms is not None and abs(response.server_ms - expected) <= 1
    assert response.created_at.microsecond % 1000 == 0 or db.backend == "postgresql"  # ms resolution on SQLite


def test_database_refuses_a_response_to_another_sessions_trial(db: Database) -> None:
    code = _forced_choice_study(db)
    first, second = join(db, code), join(db, code)
    view = next_trial(db, second.token)
    assert view is not None
    with pytest.raises(IntegrityError), db.write() as session:  # bypassing the engine's own check
        own = session.scalar(select(orm.Session.id).order_by(orm.Session.id).limit(1))
        session.add(orm.Response(session_id=own, trial_id=view.trial_id, value="left"))
        session.flush()
    assert progress(db, first.token).answered == 0


def test_simultaneous_joins_with_one_participant_id_make_one_session(db: Database) -> None:
    """Six tabs of one browser (one device key) race to join: one session, and every join resumes it."""
    code = _forced_choice_study(db)
    barrier = threading.Barrier(6)
    results, errors = [], []

    def enter() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(join(db, code, participant_id="PROLIFIC-1", device="one-browser-0123456789"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=enter) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(results) == 6
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(orm.Participant)) == 1
        assert session.scalar(select(func.count()).select_from(orm.Session)) == 1
    live = [r for r in results if _works(db, r.token)]
    assert len(live) == 1  # each join rotates the token: only the latest one is valid


def _works(db: Database, token: str) -> bool:
    try:
        progress(db, token)
    except LookupError:
        return False
    return True


def test_database_url_comes_from_the_argument_the_environment_or_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xai_core.study import ENV_URL, StudyError
    from xai_core.study.storage import resolve_url

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_URL, raising=False)
    assert resolve_url().database == str(tmp_path / "studies" / "studies.db")
    monkeypatch.setenv(ENV_URL, "postgresql://user:pw@db.example/studies")
    assert resolve_url().drivername == "postgresql+psycopg"
    assert resolve_url("sqlite:///x.db").database == "x.db"
    monkeypatch.setenv(ENV_URL, "not a url")
    with pytest.raises(StudyError, match=f"{ENV_URL} must be a database URL"):
        resolve_url()
    with pytest.raises(StudyError, match="supports sqlite and postgresql URLs; got 'mysql'"):
        resolve_url("mysql://u@h/db")


def test_a_new_sqlite_database_is_private_to_its_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import stat

    from xai_core.study import ENV_URL

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_URL, raising=False)
    old_umask = os.umask(0o022)  # a usual umask: the mode must not depend on it being strict
    db = open_database()  # the default: studies/studies.db in a new folder
    try:
        code = _forced_choice_study(db)
        join(db, code)  # a write: the WAL and its index exist now
        folder = tmp_path / "studies"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        files = sorted(folder.iterdir())
        assert [f.name for f in files] == ["studies.db", "studies.db-shm", "studies.db-wal"]
        assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    finally:
        db.dispose()
        os.umask(old_umask)

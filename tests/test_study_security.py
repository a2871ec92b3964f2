"""Admin tokens and sessions, participant isolation: wrong, missing or short admin tokens are refused, admin sessions
expire and failed sign-ins lock a client out; a session token reaches only its own session's trials, a participant
id cannot take over a session, tokens are long random strings of which the database keeps only a hash; late clicks
and database faults record nothing and say so without driver details."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from xai_core.study import (
    ENV_ADMIN_TOKEN,
    FORCED_CHOICE,
    AccessDeniedError,
    AdminError,
    AdminLockedError,
    AdminSessions,
    Database,
    DatabaseUnavailableError,
    NotFoundError,
    SignInGuard,
    StudyError,
    StudySpec,
    TooSoonError,
    admin,
    answer,
    check_secret,
    create_study,
    join,
    next_trial,
    open_database,
    progress,
    publish,
    require_admin,
    resume,
    sign_in,
    storage,
)
from xai_core.study import schema as orm
from xai_core.study.demo import synthetic_stimuli

SECRET = "s3cret-admin-token-for-tests"
DEVICE = "alices-browser-key-0123456789"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'security.db'}")
    yield database
    database.dispose()


@pytest.fixture
def code(db: Database) -> str:
    info = create_study(db, StudySpec("S", "Pick.", tasks=(FORCED_CHOICE,), trials_per_participant=4))
    publish(db, info.code, synthetic_stimuli(images=2, methods=("a", "b", "c"), size=8))
    return info.code


def test_require_admin_accepts_only_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = admin.hmac.compare_digest
    monkeypatch.setattr(admin.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    require_admin(SECRET, secret=SECRET)
    assert calls  # the comparison is constant-time
    with pytest.raises(AdminError, match="admin token is wrong"):
        require_admin(SECRET + "x", secret=SECRET)
    with pytest.raises(AdminError, match="admin token is wrong"):
        require_admin(SECRET.upper(), secret=SECRET)
    for missing in (None, ""):
        with pytest.raises(AdminError, match="admin token missing"):
            require_admin(missing, secret=SECRET)
    with pytest.raises(AdminError, match="admin token is wrong"):
        require_admin("pässwörd-ünicode-token", secret=SECRET)  # non-ASCII input is compared, not crashed on


def test_require_admin_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_ADMIN_TOKEN, raising=False)
    with pytest.raises(AdminError, match=f"no admin token is configured: set {ENV_ADMIN_TOKEN}"):
        require_admin(SECRET)
    monkeypatch.setenv(ENV_ADMIN_TOKEN, SECRET)
    require_admin(SECRET)
    with pytest.raises(AdminError, match="wrong"):
        require_admin("guess")
    monkeypatch.setenv(ENV_ADMIN_TOKEN, "short")
    with pytest.raises(AdminError, match="the admin token has 5 characters; at least 16 are required"):
        require_admin("short")  # refused even when it matches: a short token is never accepted
    monkeypatch.setenv(ENV_ADMIN_TOKEN, "x")
    with pytest.raises(AdminError, match="has 1 characters"):
        check_secret("x")


def test_a_participant_cannot_answer_or_read_another_session(db: Database, code: str) -> None:
    mallory, alice = join(db, code), join(db, code)
    target = next_trial(db, alice.token)
    own = next_trial(db, mallory.token)
    assert target is not None and own is not None
    with pytest.raises(AccessDeniedError, match=f"trial {target.trial_id} is not part of this session"):
        answer(db, mallory.token, target.trial_id, "left")
    with pytest.raises(AccessDeniedError, match="trial 999999 is not part of this session"):
        answer(db, mallory.token, 999999, "left")  # same message whether or not the trial exists
    assert progress(db, alice.token).answered == 0
    with db.read() as session:
        assert session.scalars(select(orm.Response)).all() == []
    # Alice still sees her own trial and can answer it; Mallory's own answer is unaffected.
    assert answer(db, alice.token, target.trial_id, "right").recorded
    assert answer(db, mallory.token, own.trial_id, "left").recorded


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "../../etc/passwd", "' OR 1=1 --", "A" * 5000])
def test_unknown_tokens_are_refused(db: Database, code: str, token: str) -> None:
    join(db, code)
    for call in (lambda: next_trial(db, token), lambda: progress(db, token), lambda: answer(db, token, 1, "left")):
        with pytest.raises(NotFoundError, match="unknown session token"):
            call()


def test_tokens_are_long_random_and_stored_only_as_hashes(db: Database, code: str) -> None:
    runs = [join(db, code) for _ in range(30)]
    tokens = [r.token for r in runs]
    assert len(set(tokens)) == 30 and len({r.participant for r in runs}) == 30
    for run in runs:
        assert len(run.token) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", run.token)  # 256 bits, URL-safe
        assert len(run.participant) >= 22  # 128 bits when no participant id is given
    with db.read() as session:
        hashes = set(session.scalars(select(orm.Session.token_hash)))
    assert not hashes & set(tokens) and all(len(h) == 64 for h in hashes)
    assert len(code) >= 12


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_admin_sessions_expire_and_can_be_revoked() -> None:
    clock = Clock()
    sessions = AdminSessions(ttl_s=3600, clock=clock)
    sid = sessions.create()
    assert len(sid) >= 43 and sessions.valid(sid) and sessions.remaining_s(sid) == 3600
    assert sid not in repr(sessions.__dict__)  # only its hash is kept
    clock.now += 3599
    assert sessions.valid(sid)
    clock.now += 2
    assert not sessions.valid(sid) and sessions.remaining_s(sid) == 0  # expired
    other = sessions.create()
    sessions.revoke(other)
    assert not sessions.valid(other)
    for forged in (None, "", "x", sid.upper(), "A" * 5000):
        assert not sessions.valid(forged)


def test_failed_sign_ins_lock_the_client_out(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    guard = SignInGuard(max_failures=5, window_s=900, lockout_s=900, clock=clock)
    sessions = AdminSessions(clock=clock)
    attempt = lambda token, client="10.0.0.1": sign_in(token, client, secret=SECRET, sessions=sessions, guard=guard)  # noqa: E731
    for _ in range(4):
        with pytest.raises(AdminError, match="admin token is wrong"):
            attempt("guess-guess-guess-guess")
    assert sessions.valid(attempt(SECRET))  # a success clears the count
    for _ in range(5):
        with pytest.raises(AdminError, match="admin token is wrong"):
            attempt("guess-guess-guess-guess")
    with pytest.raises(AdminLockedError, match="too many failed sign-ins from this address: try again in 15 minute"):
        attempt(SECRET)  # locked: even the right token is refused
    assert sessions.valid(attempt(SECRET, client="10.0.0.2"))  # per client
    clock.now += 901
    assert sessions.valid(attempt(SECRET))  # the lockout ends
    with pytest.raises(AdminError, match="at least 16 are required"):
        sign_in("short", "10.0.0.3", secret="short", sessions=sessions, guard=guard)


@pytest.mark.parametrize(
    "pid",
    ["![x](http://evil.test/a.png)", "<img src=x>", "a b", "", "x" * 65, "é", "P1\n", "=HYPERLINK(1)", "../etc"],
)
def test_participant_ids_are_restricted_to_a_safe_alphabet(db: Database, code: str, pid: str) -> None:
    with pytest.raises(StudyError, match="participant_id must be 1-64 letters, digits"):
        join(db, code, participant_id=pid)


def test_a_known_participant_id_cannot_take_over_a_session(db: Database, code: str) -> None:
    """The reported attack: someone opens the link with Alice's id. Refused; Alice carries on undisturbed."""
    alice = join(db, code, participant_id="5f3c0a9e7b2d4e61a8c9f012", device=DEVICE)
    first = next_trial(db, alice.token)
    assert first is not None and answer(db, alice.token, first.trial_id, "left").recorded
    for device in (None, "mallorys-browser-key-987654321"):
        with pytest.raises(AccessDeniedError, match="has already started this study in another browser"):
            join(db, code, participant_id="5f3c0a9e7b2d4e61a8c9f012", device=device)
        assert resume(db, code, device or "mallorys-other-key-000000", "5f3c0a9e7b2d4e61a8c9f012") is None
    second = next_trial(db, alice.token)  # Alice's link still works and she is on her second question
    assert second is not None and second.position == 2
    assert answer(db, alice.token, second.trial_id, "right").recorded


def test_the_same_browser_resumes_from_the_plain_link(db: Database, code: str) -> None:
    run = join(db, code, device=DEVICE)
    view = next_trial(db, run.token)
    assert view is not None
    answer(db, run.token, view.trial_id, "left")
    again = resume(db, code, DEVICE)
    assert again is not None and again.resumed and again.answered == 1 and again.participant == run.participant
    with pytest.raises(NotFoundError):
        progress(db, run.token)  # one live link per session: the older one stops working
    assert resume(db, code, "another-browser-key-000000") is None
    while (view := next_trial(db, again.token)) is not None:
        answer(db, again.token, view.trial_id, "left")
    assert resume(db, code, DEVICE) is None  # finished: the next person at this computer starts their own


def test_an_answer_sooner_than_min_ms_records_nothing(db: Database, code: str) -> None:
    run = join(db, code)
    view = next_trial(db, run.token)
    assert view is not None
    with pytest.raises(TooSoonError, match=r"answered \d+ ms after it was shown, sooner than 60000 ms"):
        answer(db, run.token, view.trial_id, "left", min_ms=60_000)
    assert progress(db, run.token).answered == 0
    assert answer(db, run.token, view.trial_id, "right").recorded  # the deliberate answer counts


def test_a_database_fault_is_retried_then_reported_without_driver_details(
    db: Database, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    run = join(db, code)
    view = next_trial(db, run.token)
    assert view is not None
    real = Database.write
    failures = {"left": 2}

    def flaky(self: Database):  # type: ignore[no-untyped-def]
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return real(self)

    monkeypatch.setattr(storage, "RETRY_DELAYS_S", (0.01, 0.01, 0.01))
    monkeypatch.setattr(Database, "write", flaky)
    assert answer(db, run.token, view.trial_id, "left").recorded  # two faults, then saved

    dead = open_database("postgresql+psycopg://nobody@127.0.0.1:9/studies?connect_timeout=2", upgrade=False)
    with pytest.raises(DatabaseUnavailableError) as raised:
        answer(dead, run.token, view.trial_id, "left")
    message = str(raised.value)
    assert message == "saving the answer: the study database did not answer"
    assert "127.0.0.1" not in message and "psycopg" not in message and "SQL" not in message

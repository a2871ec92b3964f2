"""Admin tokens and participant isolation: wrong or missing admin tokens are refused, a session token reaches only
its own session's trials, and tokens are long random strings of which the database keeps only a hash."""

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
    Database,
    NotFoundError,
    StudySpec,
    admin,
    answer,
    create_study,
    join,
    next_trial,
    open_database,
    progress,
    publish,
    require_admin,
)
from xai_core.study import schema as orm
from xai_core.study.demo import synthetic_stimuli

SECRET = "s3cret-admin-token-for-tests"


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
    with pytest.warns(UserWarning, match="at least 16"):
        require_admin("short")


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

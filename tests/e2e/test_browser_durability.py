"""The server killed (SIGKILL) while three browsers are answering: every answer a participant saw confirmed (the next
question appeared) is in the database afterwards, none twice, and after a restart each browser resumes at the
first question it has not answered."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from browser import MODEL_MS, VIEWPORT, answer_question, start_app, wait_for_run
from conftest import ADMIN_TOKEN
from sqlalchemy import func, select

from xai_core import study
from xai_core.study import schema as orm
from xai_core.study.demo import synthetic_stimuli
from xai_core.study.participation import hash_token

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRIALS = 6
PARTICIPANTS = 3
CONFIRMED_ROUNDS = 2  # then one more click each, and the kill while those are in flight


def test_a_killed_server_loses_no_confirmed_answer(browser: Any, artifacts: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'study.db'}"
    db = study.open_database(db_url)
    code = study.create_study(db, study.StudySpec("Durability", "Pick.", trials_per_participant=TRIALS)).code
    study.publish(db, code, synthetic_stimuli(images=TRIALS, methods=("saliency", "grad_cam"), size=64))
    env = {"XAI_STUDY_DB_URL": db_url, "XAI_STUDY_ADMIN_TOKEN": ADMIN_TOKEN, "XAI_CACHE_DIR": str(tmp_path / "c")}
    server = start_app(env, log_path=artifacts / "server-durability.log")
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(PARTICIPANTS)]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.goto(f"{server.url}?study={code}", wait_until="networkidle")
            page.get_by_role("button", name="Start").click()
        confirmed = [0] * PARTICIPANTS
        for question in range(1, CONFIRMED_ROUNDS + 1):
            for page in pages:
                answer_question(page, question, TRIALS)
            for k, page in enumerate(pages):
                page.get_by_text(f"Question {question + 1} of {TRIALS}").wait_for(timeout=MODEL_MS)
                confirmed[k] = question  # the next question is on screen: this answer was confirmed
        for page in pages:  # answers in flight when the server dies: they may or may not have been saved
            answer_question(page, CONFIRMED_ROUNDS + 1, TRIALS)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=30)

        tokens = [re.search(r"session=([\w-]+)", page.url) for page in pages]
        assert all(tokens), [page.url for page in pages]
        answered = []
        with db.read() as session:
            for k, found in enumerate(tokens):
                assert found is not None
                run = session.scalar(select(orm.Session).where(orm.Session.token_hash == hash_token(found.group(1))))
                assert run is not None
                positions = session.scalars(
                    select(orm.Trial.position)
                    .join(orm.Response, orm.Response.trial_id == orm.Trial.id)
                    .where(orm.Response.session_id == run.id)
                    .order_by(orm.Trial.position)
                ).all()
                rows = session.scalar(select(func.count()).where(orm.Response.session_id == run.id))
                assert rows == len(positions) == len(set(positions))  # none twice
                assert positions == list(range(len(positions)))  # in order, no gap
                assert len(positions) >= confirmed[k] == CONFIRMED_ROUNDS  # every confirmed answer is there
                answered.append(len(positions))

        server = start_app(env, port=int(server.url.rsplit(":", 1)[1].strip("/")), log_path=artifacts / "server-2.log")
        for page, done in zip(pages, answered, strict=True):
            page.reload(wait_until="networkidle")
            page.get_by_text(f"Question {done + 1} of {TRIALS}").wait_for(timeout=MODEL_MS)
            wait_for_run(page)
    finally:
        for context in contexts:
            context.close()
        server.stop()
        db.dispose()

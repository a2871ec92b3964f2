"""AppTest for the study pages: admin sign-in and gating, designing and publishing a study, a participant's whole
session from the study link (consent, trials, resume after a reload), bad links, and the results page.

The database is a fresh SQLite file per test (``$XAI_STUDY_DB_URL``), the admin secret ``$XAI_STUDY_ADMIN_TOKEN``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages.components import state, study_access
from xai_core import study
from xai_core.study.demo import synthetic_stimuli

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SECRET = "test-admin-secret-0123456789abcdef"
DESIGN = "pages/study_design.py"
RESULTS = "pages/study_results.py"


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    monkeypatch.setenv(study.ENV_URL, url)
    monkeypatch.setenv(study.ENV_ADMIN_TOKEN, SECRET)
    return url


@pytest.fixture
def published(db_url: str) -> str:
    """A published forced-choice + Likert study over synthetic maps with a consent text; returns its code."""
    db = study.open_database(db_url)
    spec = study.StudySpec(
        "Pick a map",
        "Choose carefully.",
        tasks=("forced_choice", "likert"),
        consent="I agree.",
        trials_per_participant=4,
    )
    code = study.create_study(db, spec).code
    study.publish(db, code, synthetic_stimuli(images=2, methods=("saliency", "grad_cam")))
    db.dispose()
    return code


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def sign_in(token: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.text_input(key=state.STUDY_ADMIN_TOKEN).input(token)
    at.button(key=state.STUDY_ADMIN_SUBMIT).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [t.value for t in at.title] + [s.value for s in at.subheader]
    return "\n".join(str(p) for p in parts)


def test_wrong_token_is_refused_and_the_admin_pages_stay_unregistered(db_url: str) -> None:
    at = sign_in("not-the-secret-at-all-0000000000")
    assert state.STUDY_ADMIN not in at.session_state or not at.session_state[state.STUDY_ADMIN]
    assert any("admin token is wrong" in e.value for e in at.error)
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not registered for this session
        at.switch_page(DESIGN)


def test_admin_page_checks_the_sign_in_itself(db_url: str) -> None:
    at = AppTest.from_file(
        str(Path(APP).parent / DESIGN), default_timeout=60
    ).run()  # the page file run directly, bypassing app.py
    assert any("for the study admin" in e.value for e in at.error)
    assert not at.dataframe


def test_admin_off_without_a_configured_secret(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.delenv(study.ENV_ADMIN_TOKEN)
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert any(study.ENV_ADMIN_TOKEN in c.value for c in at.caption)
    assert state.STUDY_ADMIN_TOKEN not in [w.key for w in at.text_input]


def test_admin_designs_and_publishes_a_study_with_the_bundled_model(db_url: str) -> None:
    at = ok(sign_in(SECRET))
    assert at.session_state[state.STUDY_ADMIN]
    at.switch_page(DESIGN).run()
    ok(at)
    at.multiselect(key=state.DESIGN_METHODS).set_value(["saliency", "grad_cam"]).run()
    at.multiselect(key=state.DESIGN_SAMPLES).set_value(["chelsea"])
    at.multiselect(key=state.DESIGN_TASKS).set_value(["forced_choice", "likert"])
    at.number_input(key=state.DESIGN_TRIALS).set_value(3)
    at.number_input(key=state.DESIGN_ATTENTION).set_value(1)
    at.button(key=state.DESIGN_SUBMIT).click().run()
    ok(at)
    code = at.session_state[state.DESIGN_CREATED]
    assert any(f"?study={code}" in s.value for s in at.success)
    info = study.get_study(study.open_database(db_url), code)
    # 1 image x 2 methods: 1 forced-choice pair + 2 Likert items + 1 attention check per task
    assert (info.status, info.stimuli, info.items, info.tasks) == ("published", 2, 5, ("forced_choice", "likert"))
    frame = at.dataframe[0].value
    assert list(frame["code"]) == [code] and list(frame["status"]) == ["published"]


def test_publishing_reports_a_plan_the_images_cannot_fill(db_url: str) -> None:
    at = ok(sign_in(SECRET))
    at.switch_page(DESIGN).run()
    at.multiselect(key=state.DESIGN_METHODS).set_value(["saliency", "grad_cam"]).run()
    at.multiselect(key=state.DESIGN_SAMPLES).set_value(["chelsea"])
    at.number_input(key=state.DESIGN_TRIALS).set_value(40)
    at.button(key=state.DESIGN_SUBMIT).click().run()
    assert not at.exception
    assert any("not published" in e.value and "forced_choice has 1 items" in e.value for e in at.error)
    assert study.list_studies(study.open_database(db_url)) == []  # the failed draft is not left behind


def participant(code: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params[study_access.STUDY_PARAM] = code
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def submit(at: AppTest) -> None:
    """Press the trial's Submit button (Likert and forward simulation)."""
    next(b for b in at.button if b.key and b.key.endswith(".submit")).click().run()


def answer_current(at: AppTest) -> None:
    """Answer the trial on screen: the left map, or a rating of 4."""
    left = [b for b in at.button if b.key and b.key.endswith(".left")]
    if left:
        left[0].click().run()
    else:
        at.radio[0].set_value(4)
        submit(at)
    ok(at)


def test_a_participant_consents_answers_every_trial_and_resumes_after_a_reload(published: str, db_url: str) -> None:
    at = ok(participant(published, pid="P-001"))
    assert not at.sidebar.selectbox  # the study alone: no model or image pickers
    assert at.button(key=state.TAKE_START).disabled  # consent first
    at.checkbox(key=state.TAKE_CONSENT).check().run()
    at.button(key=state.TAKE_START).click().run()
    ok(at)
    token = at.query_params[study_access.SESSION_PARAM]
    total = study.get_study(study.open_database(db_url), published).trials_per_participant
    answer_current(at)
    answer_current(at)

    reloaded = participant(published, pid="P-001", session=token)  # a new browser session: state from the URL only
    assert reloaded.get("progress")[0].proto.text == f"Question 3 of {total}"  # resumed where it stopped
    for _ in range(total - 2):
        answer_current(reloaded)
    assert any("Every answer is saved" in s.value for s in reloaded.success)
    records = study.responses(study.open_database(db_url), published)
    assert len(records) == total and {r.participant for r in records} == {"P-001"}
    assert len({r.trial_id for r in records}) == total  # each trial once


def test_forward_simulation_asks_for_an_option_and_records_it(db_url: str) -> None:
    db = study.open_database(db_url)
    spec = study.StudySpec(
        "Predict the model",
        "Guess the class.",
        tasks=("forward_simulation",),
        trials_per_participant=2,
        distractor_labels=("cat", "dog", "car", "boat", "tree"),
    )
    code = study.create_study(db, spec).code
    study.publish(db, code, synthetic_stimuli(images=2, methods=("saliency",)))
    at = participant(code)
    at.button(key=state.TAKE_START).click().run()
    for _ in range(2):
        ok(at)
        assert len(at.radio[0].options) == 4  # StudySpec.simulation_options
        submit(at)
        assert any("Choose an answer first" in w.value for w in at.warning)  # nothing chosen: nothing recorded
        at.radio[0].set_value(0)
        submit(at)
    ok(at)
    records = study.responses(db, code)
    assert [r.option for r in records] == [0, 0] and all(r.correct is not None for r in records)
    assert {r.option_label for r in records} <= set(spec.distractor_labels)


def test_a_bad_study_code_or_session_link_gets_a_message(published: str) -> None:
    at = participant("no-such-study")
    assert any("There is no study with the code 'no-such-study'" in e.value for e in at.error)
    at = participant(published, session="forged-token")
    assert any("no longer valid" in e.value for e in at.error)


def test_results_page_shows_the_answers_and_exports_them(published: str, db_url: str) -> None:
    db = study.open_database(db_url)
    for pid in ("A", "B"):
        run = study.join(db, published, pid, consented=True)
        while (trial := study.next_trial(db, run.token)) is not None:
            study.answer(db, run.token, trial.trial_id, "left" if trial.task == "forced_choice" else 3)
    at = ok(sign_in(SECRET))
    at.switch_page(RESULTS).run()
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Participants"] == "2" and metrics["Finished"] == "2"
    responses = at.dataframe[-1].value
    assert set(responses["participant"]) == {"A", "B"} and len(responses) == len(study.responses(db, published))
    names = {b.proto.label for b in at.get("download_button")}
    assert names == {"responses.csv", "responses.json", "summary.csv", "summary.json"}

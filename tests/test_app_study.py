"""AppTest for the study pages: the admin session and gating, designing and publishing a study, a participant's whole
session from the study link (consent, trials, resume after a reload and from the plain link), refusals (closed
study, late clicks, database faults, bad links), study-only mode, text that links and participants control shown as
text, and the results page.

The database is a fresh SQLite file per test (``$XAI_STUDY_DB_URL``), the admin secret ``$XAI_STUDY_ADMIN_TOKEN``.
AppTest cannot send cookies, so ``browser`` stands in for them: the test patches ``study_access._cookie`` to read a
dict, which is what ``st.context.cookies`` gives the page in a browser (the cookies themselves are tested against
the HTTP routes in ``test_study_server.py`` and in Chromium in ``tests/e2e``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages.components import state, study_access, study_routes
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
    monkeypatch.setitem(study_routes._state, "installed", True)  # as under serve.py
    monkeypatch.setattr(study_access, "MIN_ANSWER_MS", 0)  # AppTest answers within milliseconds; one test restores it
    return url


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The cookies of "the browser": what ``st.context.cookies`` would hold."""
    jar: dict[str, str] = {study_routes.DEVICE_COOKIE: "device-key-of-this-browser-0123456789"}
    monkeypatch.setattr(study_access, "_cookie", jar.get)
    return jar


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


def signed_in(browser: dict[str, str]) -> AppTest:
    """The studio in a browser holding a fresh admin session cookie (what the sign-in page sets)."""
    browser[study_routes.ADMIN_COOKIE] = study.sign_in(SECRET, "127.0.0.1")
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [t.value for t in at.title] + [s.value for s in at.subheader]
    parts += [e.value for e in at.error] + [w.value for w in at.warning] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def test_without_a_session_the_admin_pages_are_not_registered(db_url: str, browser: dict[str, str]) -> None:
    browser[study_routes.ADMIN_COOKIE] = "forged-session-id-0123456789abcdef0123"
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception
    assert any(b.proto.label == "Sign in as study admin" for b in at.get("link_button"))
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not registered for this browser
        at.switch_page(DESIGN)


def test_admin_page_checks_the_session_itself(db_url: str, browser: dict[str, str]) -> None:
    at = AppTest.from_file(str(Path(APP).parent / DESIGN), default_timeout=60).run()  # bypassing app.py
    assert any("for the study admin" in e.value for e in at.error)
    assert not at.dataframe


@pytest.mark.parametrize(
    ("token", "reason"), [(None, "no admin token is configured"), ("short-token", "has 11 characters")]
)
def test_admin_off_without_a_strong_secret(
    monkeypatch: pytest.MonkeyPatch, db_url: str, browser: dict[str, str], token: str | None, reason: str
) -> None:
    if token is None:
        monkeypatch.delenv(study.ENV_ADMIN_TOKEN)
    else:
        monkeypatch.setenv(study.ENV_ADMIN_TOKEN, token)
    browser[study_routes.ADMIN_COOKIE] = study.sign_in(SECRET, "127.0.0.1", secret=SECRET)
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert any(reason in c.value for c in at.caption)
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # a session made earlier is void
        at.switch_page(DESIGN)


def test_a_reload_keeps_the_admin_signed_in_until_the_session_ends(db_url: str, browser: dict[str, str]) -> None:
    at = ok(signed_in(browser))
    at.switch_page(RESULTS).run()
    ok(at)
    reloaded = AppTest.from_file(APP, default_timeout=300).run()  # a reload: a new script session, the same cookie
    reloaded.switch_page(RESULTS).run()
    assert not reloaded.exception and reloaded.title[0].value == "Study results"
    next(b for b in reloaded.sidebar.button if b.key == state.STUDY_SIGN_OUT).click().run()
    assert not study.ADMIN_SESSIONS.valid(browser[study_routes.ADMIN_COOKIE])  # revoked on the server
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        AppTest.from_file(APP, default_timeout=300).run().switch_page(RESULTS)


def test_admin_designs_and_publishes_a_forward_simulation_study_with_the_defaults(
    db_url: str, browser: dict[str, str]
) -> None:
    """The default design with forward simulation used to fail after computing every map ("only 1 distinct
    labels"); the model's other top classes are the wrong options now. (Two of the three default methods and four
    trials instead of six, to leave integrated gradients' compute time out of the test.)"""
    at = ok(signed_in(browser))
    at.switch_page(DESIGN).run()
    ok(at)
    at.multiselect(key=state.DESIGN_METHODS).set_value(["saliency", "grad_cam"]).run()
    at.multiselect(key=state.DESIGN_TASKS).set_value(["forward_simulation"])
    at.number_input(key=state.DESIGN_TRIALS).set_value(4)
    at.button(key=state.DESIGN_SUBMIT).click().run()
    ok(at)
    code = at.session_state[state.DESIGN_CREATED]
    assert [c.value for c in at.code] == [f"?study={code}"]  # the link, as plain text to copy
    db = study.open_database(db_url)
    info = study.get_study(db, code)
    assert (info.status, info.stimuli, info.items, info.tasks) == ("published", 4, 4, ("forward_simulation",))
    run = study.join(db, code)
    view = study.next_trial(db, run.token)
    assert view is not None and len(set(view.options)) == 4  # the prediction and three runners-up


def test_a_plan_the_images_cannot_fill_is_refused_before_any_map(
    db_url: str, browser: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = ok(signed_in(browser))
    at.switch_page(DESIGN).run()
    at.multiselect(key=state.DESIGN_METHODS).set_value(["saliency", "grad_cam"]).run()
    at.multiselect(key=state.DESIGN_SAMPLES).set_value(["chelsea"])
    at.number_input(key=state.DESIGN_TRIALS).set_value(40)
    monkeypatch.setattr(study, "build_stimuli", lambda *a, **k: pytest.fail("maps computed for a hopeless plan"))
    at.button(key=state.DESIGN_SUBMIT).click().run()
    assert not at.exception
    assert any("not published" in e.value and "forced\\_choice has 1 items" in e.value for e in at.error)
    assert study.list_studies(study.open_database(db_url)) == []


def test_closing_asks_for_confirmation(published: str, db_url: str, browser: dict[str, str]) -> None:
    at = ok(signed_in(browser))
    at.switch_page(DESIGN).run()
    at.button(key=state.DESIGN_CLOSE).click().run()
    assert any("Nobody new can join" in w.value for w in at.warning)
    at.button(key=state.DESIGN_CLOSE_NO).click().run()
    assert study.get_study(study.open_database(db_url), published).status == "published"
    at.button(key=state.DESIGN_CLOSE).click().run()
    study.ADMIN_SESSIONS.revoke(browser[study_routes.ADMIN_COOKIE])  # the session ends while the question is open
    at.button(key=state.DESIGN_CLOSE_YES).click().run()
    assert study.get_study(study.open_database(db_url), published).status == "published"  # asked again: refused
    at = ok(signed_in(browser))
    at.switch_page(DESIGN).run()
    at.button(key=state.DESIGN_CLOSE).click().run()
    at.button(key=state.DESIGN_CLOSE_YES).click().run()
    assert study.get_study(study.open_database(db_url), published).status == "closed"


def participant(code: str | None = None, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if code is not None:
        at.query_params[study_access.STUDY_PARAM] = code
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def submit(at: AppTest) -> None:
    """Press the trial's Submit button (Likert and forward simulation)."""
    next(b for b in at.button if b.key and b.key.endswith(".submit")).click().run()


def click_answer(at: AppTest) -> None:
    """Answer the trial on screen: the left map, or a rating of 4."""
    left = [b for b in at.button if b.key and b.key.endswith(".left")]
    if left:
        left[0].click().run()
    else:
        at.radio[0].set_value(4)
        submit(at)


def answer_current(at: AppTest) -> None:
    click_answer(at)
    ok(at)


def started(code: str, **params: str) -> AppTest:
    """The study link opened, consent given, Start pressed: the first question is on screen."""
    at = participant(code, **params)
    at.checkbox(key=state.TAKE_CONSENT).check().run()
    at.button(key=state.TAKE_START).click().run()
    return at


def question(at: AppTest) -> str:
    return at.get("progress")[0].proto.text


def test_a_participant_consents_answers_and_resumes_after_a_reload_and_from_the_plain_link(
    published: str, db_url: str, browser: dict[str, str]
) -> None:
    at = ok(participant(published, pid="P-001"))
    assert not at.sidebar.selectbox  # the study alone: no model or image pickers
    assert at.button(key=state.TAKE_START).disabled  # consent first
    at.checkbox(key=state.TAKE_CONSENT).check().run()
    at.button(key=state.TAKE_START).click().run()
    ok(at)
    token = at.query_params[study_access.SESSION_PARAM]
    total = study.get_study(study.open_database(db_url), published).trials_per_participant
    answer_current(at)
    reloaded = participant(published, pid="P-001", session=token)  # a new browser session: state from the URL
    assert question(reloaded) == f"Question 2 of {total}"
    answer_current(reloaded)
    plain = participant(published, pid="P-001")  # the plain link again, same browser: resumed, no consent again
    assert question(plain) == f"Question 3 of {total}"
    for _ in range(total - 2):
        answer_current(plain)
    assert any("Every answer is saved" in s.value for s in plain.success)
    records = study.responses(study.open_database(db_url), published)
    assert len(records) == total and {r.participant for r in records} == {"P-001"}
    assert len({r.trial_id for r in records}) == total  # each trial once


def test_another_browser_with_a_known_pid_cannot_take_over(
    published: str, db_url: str, browser: dict[str, str]
) -> None:
    at = started(published, pid="P-002")
    answer_current(at)
    browser[study_routes.DEVICE_COOKIE] = "someone-elses-browser-key-000000"
    thief = participant(published, pid="P-002")
    assert not thief.get("progress")  # not resumed: the welcome page
    thief.checkbox(key=state.TAKE_CONSENT).check().run()
    thief.button(key=state.TAKE_START).click().run()
    assert any("already started this study in another browser" in e.value for e in thief.error)
    assert study_access.SESSION_PARAM not in thief.query_params
    browser[study_routes.DEVICE_COOKIE] = "device-key-of-this-browser-0123456789"
    answer_current(at)  # the real participant carries on
    assert len(study.responses(study.open_database(db_url), published)) == 2


def test_a_closed_study_refuses_before_consent(published: str, db_url: str, browser: dict[str, str]) -> None:
    study.close_study(study.open_database(db_url), published)
    at = ok(participant(published))
    assert any("closed: it takes no new participants" in w.value for w in at.warning)
    assert not at.checkbox and not [b for b in at.button if b.key == state.TAKE_START]


def test_a_click_as_the_next_question_appears_is_not_counted(
    published: str, db_url: str, browser: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = started(published)
    monkeypatch.setattr(study_access, "MIN_ANSWER_MS", study.MIN_ANSWER_MS)
    click_answer(at)  # within milliseconds of the question
    assert any("was not counted" in i.value for i in at.info)
    assert question(at) == "Question 1 of 4"
    assert study.responses(study.open_database(db_url), published) == []


def test_a_database_fault_says_not_saved_click_again(
    published: str, db_url: str, browser: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    at = started(published)

    def down(*args: object, **kwargs: object) -> None:  # the answer's transaction fails, reading still works
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("(sqlite3.OperationalError) database is locked"))

    monkeypatch.setattr(study.storage, "RETRY_DELAYS_S", (0.01, 0.01))
    monkeypatch.setattr(study.participation, "_answer", down)
    click_answer(at)
    assert [w.value for w in at.warning] == [
        "Your answer was not saved: the server could not reach its database. Please click it again."
    ]
    assert "locked" not in texts(at) and "sqlite" not in texts(at) and not at.exception
    assert study.responses(study.open_database(db_url), published) == []


def test_forward_simulation_asks_for_an_option_and_records_it(db_url: str, browser: dict[str, str]) -> None:
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


MARKDOWN_IMAGE = "![x](http://evil.test/pixel.png)"


@pytest.mark.parametrize(
    "params",
    [
        {"study": MARKDOWN_IMAGE},
        {"study": "[click](javascript:alert(1))"},
        {"session": MARKDOWN_IMAGE},
        {"pid": MARKDOWN_IMAGE},
        {"study": "<img src=http://evil.test/x.png>" * 200},
    ],
)
def test_link_parameters_never_reach_the_page_as_markdown(
    published: str, browser: dict[str, str], params: dict[str, str]
) -> None:
    code = params.pop("study", published)
    at = participant(code, **params)
    shown = texts(at)
    assert "evil.test" not in shown or "\\]\\(http\\:" in shown  # echoed only escaped, if at all
    assert "](http" not in shown and "<img" not in shown and "javascript:" not in shown


def test_study_only_mode_shows_only_the_study_page(
    db_url: str, browser: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(study_access.ENV_STUDY_ONLY, "1")
    at = ok(participant())  # the server's plain address, no ?study=
    assert at.title[0].value == "Take part in a study" and not at.sidebar.selectbox  # no studio, no pickers
    for other in ("pages/explain.py", DESIGN):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(other)
    admin = ok(signed_in(browser))  # a signed-in study lead gets the whole studio
    admin.switch_page(DESIGN).run()
    assert not admin.exception and admin.title[0].value == "Study design"


def test_the_error_boundary_shows_an_id_not_the_exception(
    db_url: str, browser: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("connection to server at 10.1.2.3 port 5432 failed")

    monkeypatch.setattr(study, "list_studies", broken)
    at = signed_in(browser)
    at.switch_page(RESULTS).run()
    (message,) = [e.value for e in at.error]
    assert message.startswith("Something went wrong (error id ") and "10.1.2.3" not in message
    error_id = message.split("error id ")[1].split(")")[0]
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)  # the details are in the log


def test_results_page_shows_the_answers_as_text_and_exports_them(
    published: str, db_url: str, browser: dict[str, str]
) -> None:
    db = study.open_database(db_url)
    for pid in ("A", "B"):
        run = study.join(db, published, pid, consented=True)
        while (trial := study.next_trial(db, run.token)) is not None:
            study.answer(db, run.token, trial.trial_id, "left" if trial.task == "forced_choice" else 3)
    at = ok(signed_in(browser))
    at.switch_page(RESULTS).run()
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Participants"] == "2" and metrics["Finished"] == "2" and metrics["Participants excluded"] == "0"
    assert "Krippendorff's alpha, interval" in texts(at)
    responses = at.dataframe[-1].value
    assert set(responses["participant"]) == {"A", "B"} and len(responses) == len(study.responses(db, published))
    assert "client_ms" not in responses.columns and "client_median_ms" not in at.dataframe[-2].value.columns
    names = {b.proto.label for b in at.get("download_button")}
    assert names == {"responses.csv", "responses.json", "summary.csv", "summary.json"}

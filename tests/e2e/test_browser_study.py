"""The study flow in real Chromium: an admin signs in on the sign-in page (an HttpOnly session cookie), designs and
publishes a study with the bundled model, two participants complete it from the shared link in separate browser
contexts (one reloads midway and resumes), the results page survives a reload, shows their answers and exports
them. Also: the participant's page at 1280 x 720 (both layouts) with the answer buttons above the fold and no
developer menu, and a late second click that must not answer the next question.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from browser import (
    ANSWER_DWELL_MS,
    COMPUTE_MS,
    MODEL_MS,
    VIEWPORT,
    answer_question,
    screenshot,
    settle,
    sidebar,
    sign_in_admin,
    wait_for_images,
    wait_for_run,
)

from xai_core import study
from xai_core.study.demo import synthetic_stimuli

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRIALS = 2  # 2 images x 2 methods give 2 forced-choice pairs
PROJECTOR = {"width": 1280, "height": 720}


def publish_study(page: Any, artifacts: Path) -> str:
    """On Study design: two cheap methods, the two default samples, a consent text, two trials; returns the link."""
    sidebar(page).get_by_role("link", name="Study design").click()
    main = page.get_by_test_id("stMain")
    main.get_by_text("New study").wait_for(timeout=MODEL_MS)
    methods = main.get_by_test_id("stMultiSelect").filter(has_text="Methods to compare")
    methods.get_by_role("button", name="Remove integrated_gradients", exact=True).click()
    methods.locator("[data-tag]", has_text="integrated_gradients").wait_for(state="detached")
    form = page.get_by_test_id("stForm")
    form.get_by_label("Consent text (optional; participants must agree before they start)").fill(
        "Your answers are stored without your name."
    )
    trials = form.get_by_label("Trials per participant")
    trials.fill(str(TRIALS))
    trials.press("Tab")
    form.get_by_role("button", name="Publish the study").click()
    success = main.get_by_test_id("stAlertContentSuccess")
    success.or_(main.get_by_test_id("stAlertContentError")).first.wait_for(timeout=COMPUTE_MS)
    assert success.count(), main.get_by_test_id("stAlertContentError").all_inner_texts()
    page.screenshot(path=str(artifacts / "study-design.png"), full_page=True)
    link = main.get_by_test_id("stCode").first.inner_text().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?study=[\w-]+", link), link
    return link


def take_part(context: Any, link: str, pid: str, artifacts: Path, *, reload_after: int | None = None) -> None:
    page = context.new_page()
    try:
        page.goto(f"{link}&pid={pid}", wait_until="networkidle")
        page.get_by_text("Your answers are stored without your name.").wait_for(timeout=MODEL_MS)
        assert not page.get_by_test_id("stSidebar").count()  # the study alone: no pickers, no other pages
        page.get_by_text("I have read the above and agree to take part.").click()
        page.get_by_role("button", name="Start").click()
        for question in range(1, TRIALS + 1):
            if question == reload_after:
                page.get_by_text(f"Question {question} of {TRIALS}").wait_for(timeout=MODEL_MS)
                page.reload(wait_until="networkidle")  # a lost connection: progress comes back from the database
            answer_question(page, question, TRIALS, "left" if (question + len(pid)) % 2 else "right")
        page.get_by_text("Thank you! Every answer is saved.").wait_for(timeout=MODEL_MS)
    except Exception:
        page.screenshot(path=str(artifacts / f"study-{pid}-failed.png"), full_page=True)
        raise
    finally:
        page.close()


def test_admin_publishes_two_participants_answer_results_show_and_export_them(
    app_server: Any, browser: Any, artifacts: Path
) -> None:
    admin = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = admin.new_page()
    page.set_default_timeout(60_000)
    try:
        sign_in_admin(page, app_server.url, app_server.admin_token)
        cookie = next(c for c in admin.cookies() if c["name"] == "xai_study_admin")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and app_server.admin_token not in str(cookie)
        readable = page.evaluate("document.cookie")  # only Streamlit's XSRF token: no script reads our cookies
        assert "xai_study_admin" not in readable and "xai_study_device" not in readable
        link = publish_study(page, artifacts)
    except Exception:
        page.screenshot(path=str(artifacts / "study-design-failed.png"), full_page=True)
        raise

    for pid, reload_after in (("P-one", 2), ("P-two", None)):
        participant = browser.new_context(viewport={"width": 1200, "height": 1000})
        participant.set_default_timeout(60_000)
        try:
            take_part(participant, link, pid, artifacts, reload_after=reload_after)
        finally:
            participant.close()

    try:
        check_results(page, artifacts)
    except Exception:
        page.screenshot(path=str(artifacts / "study-results-failed.png"), full_page=True)
        raise
    finally:
        admin.close()


def check_results(page: Any, artifacts: Path) -> None:
    sidebar(page).get_by_role("link", name="Study results").click()
    main = page.get_by_test_id("stMain")
    main.get_by_test_id("stMetric").filter(has_text="Participants").first.wait_for(timeout=MODEL_MS)
    page.reload(wait_until="networkidle")  # still signed in: the session is a cookie, checked on the server
    participants = main.get_by_test_id("stMetric").filter(has_text="Participants").first
    participants.wait_for(timeout=MODEL_MS)
    assert participants.get_by_test_id("stMetricValue").inner_text() == "2"
    finished = main.get_by_test_id("stMetric").filter(has_text="Finished")
    assert finished.get_by_test_id("stMetricValue").inner_text() == "2"
    main.get_by_text("Win rate of each method").wait_for()
    screenshot(page, artifacts / "study-results.png", full_page=True)

    with page.expect_download() as download:
        main.get_by_role("button", name="responses.csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(r["participant"] for r in rows) == ["P-one"] * TRIALS + ["P-two"] * TRIALS
    assert {r["task"] for r in rows} == {"forced_choice"}
    assert {r["chosen_method"] for r in rows} <= {"saliency", "grad_cam"}
    assert len({(r["participant"], r["trial_id"]) for r in rows}) == 2 * TRIALS  # nothing recorded twice


def api_study(app_server: Any, *, tasks: tuple[str, ...], trials: int) -> str:
    """A published study written straight into the app's database (224-px synthetic maps, as the model makes)."""
    db = study.open_database(app_server.db_url)
    try:
        spec = study.StudySpec(
            "Layout check",
            "Answer each question.",
            tasks=tasks,
            trials_per_participant=trials,
            distractor_labels=("tabby cat", "tiger cat", "Egyptian cat", "lynx", "Persian cat"),
        )
        code = study.create_study(db, spec).code
        study.publish(db, code, synthetic_stimuli(images=4, methods=("saliency", "grad_cam"), size=224))
        return code
    finally:
        db.dispose()


@pytest.mark.parametrize("task", ["forced_choice", "forward_simulation"])
def test_the_participant_page_fits_a_1280x720_screen(app_server: Any, browser: Any, artifacts: Path, task: str) -> None:
    code = api_study(app_server, tasks=(task,), trials=2)
    context = browser.new_context(viewport=PROJECTOR)
    page = context.new_page()
    try:
        page.goto(f"{app_server.url}?study={code}", wait_until="networkidle")
        page.get_by_role("button", name="Start").click()
        page.get_by_text("Question 1 of 2").wait_for(timeout=MODEL_MS)
        wait_for_run(page)
        wait_for_images(page, 2, timeout_ms=MODEL_MS)
        settle(page)
        page.screenshot(path=str(artifacts / f"study-participant-1280x720-{task}.png"))
        answer = page.get_by_role("button", name="Submit" if task == "forward_simulation" else "The left map")
        box = answer.bounding_box()
        assert box is not None and box["y"] + box["height"] <= PROJECTOR["height"], box  # above the fold
        print(f"{task}: the answer button ends at {box['y'] + box['height']:.0f} px of {PROJECTOR['height']}")
        widths = (
            page.get_by_test_id("stMain")
            .locator("[data-testid=stImage] img")
            .evaluate_all("all => all.map(i => i.getBoundingClientRect().width)")
        )
        assert widths and all(200 <= w <= 400 for w in widths), widths  # readable, not blown up
        assert not page.get_by_test_id("stAppDeployButton").count()  # no Deploy button
        assert not page.get_by_test_id("stMainMenu").count()  # no developer menu
    finally:
        context.close()


def test_a_late_second_click_does_not_answer_the_next_question(app_server: Any, browser: Any) -> None:
    """The reported case: a second click 0.8-1.5 s after the first answered the next question too, 10 of 10 times."""
    code = api_study(app_server, tasks=("forced_choice",), trials=4)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(f"{app_server.url}?study={code}", wait_until="networkidle")
        page.get_by_role("button", name="Start").click()
        for delay_ms, question in ((800, 1), (1500, 2)):
            answer_question(page, question, 4)
            page.wait_for_timeout(delay_ms)  # ... and the same button again, as an impatient double click
            page.get_by_role("button", name="The left map").first.click()  # mid-rerun both buttons exist
            page.get_by_text(f"Question {question + 1} of 4").wait_for(timeout=MODEL_MS)
            wait_for_run(page)
        token = re.search(r"session=([\w-]+)", page.url)
        assert token, page.url
        db = study.open_database(app_server.db_url)
        try:
            assert study.progress(db, token.group(1)).answered == 2  # the second clicks were not counted
        finally:
            db.dispose()
        page.wait_for_timeout(ANSWER_DWELL_MS)
        page.get_by_role("button", name="The left map").click()  # a deliberate answer still counts
        page.get_by_text("Question 4 of 4").wait_for(timeout=MODEL_MS)
    finally:
        context.close()

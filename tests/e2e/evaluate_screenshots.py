"""Screenshots of the Evaluate pages at 1280x720 (a projector's size) for the README: docs/evaluate/<page>.png.

A plain script, not a test::

    .venv/bin/python tests/e2e/evaluate_screenshots.py [--out docs/evaluate] [--chromium /usr/bin/chromium]

Each page is opened through the sidebar on the bundled coffee sample, computed with light settings, and shot twice:
the top of the page (settings) and the results scrolled into view.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from browser import (
    CHROMIUM,
    COMPUTE_MS,
    ROOT,
    launch_chromium,
    open_app,
    open_page,
    screenshot,
    settle,
    start_app,
    wait_for_run,
)
from playwright.sync_api import sync_playwright

VIEWPORT = {"width": 1280, "height": 720}
log = logging.getLogger("evaluate_screenshots")


def number(form: Any, label: str, value: int) -> None:
    field = form.get_by_test_id("stNumberInput").filter(has_text=label).first.locator("input")
    field.fill(str(value))
    field.press("Tab")


def shoot(page: Any, out: Path, name: str, results: Any) -> None:
    """The page's top, then ``results`` (a locator) scrolled to the top of the viewport."""
    page.get_by_test_id("stHeading").first.scroll_into_view_if_needed()
    settle(page)
    screenshot(page, out / f"{name}.png")
    results.first.evaluate("el => el.scrollIntoView({block: 'start'})")
    settle(page)
    screenshot(page, out / f"{name}-results.png")
    log.info("saved %s", name)


def faithfulness(page: Any, out: Path) -> None:
    open_page(page, "Faithfulness")
    form = page.get_by_test_id("stForm")
    number(form, "steps", 20)
    form.get_by_role("button", name="Compute measures").click()
    page.get_by_test_id("stHeading").filter(has_text="Curves").wait_for(timeout=COMPUTE_MS)
    wait_for_run(page)
    shoot(page, out, "faithfulness", page.get_by_test_id("stDataFrame").last)


def robustness(page: Any, out: Path) -> None:
    open_page(page, "Robustness & complexity")
    form = page.get_by_test_id("stForm")
    number(form, "samples", 4)
    form.get_by_role("button", name="Compute measures").click()
    page.get_by_test_id("stHeading").filter(has_text="Worst cases").wait_for(timeout=COMPUTE_MS)
    wait_for_run(page)
    shoot(page, out, "robustness", page.get_by_test_id("stHeading").filter(has_text="Worst cases"))


def localization(page: Any, out: Path) -> None:
    open_page(page, "Localization")
    main = page.get_by_test_id("stMain")
    main.get_by_test_id("stRadio").get_by_text("mask: freehand polygon").click()
    wait_for_run(page)
    chart = main.get_by_test_id("stPlotlyChart").first
    chart.locator(".nsewdrag").first.wait_for()
    settle(page)
    area = chart.locator(".nsewdrag").first.bounding_box()
    scale = area["width"] / 224
    path = [(70, 40), (150, 45), (175, 120), (150, 190), (80, 185), (55, 110), (70, 42)]  # around the cup
    page.mouse.move(area["x"] + path[0][0] * scale, area["y"] + path[0][1] * scale)
    page.mouse.down()
    for x, y in path[1:]:
        page.mouse.move(area["x"] + x * scale, area["y"] + y * scale, steps=8)
    page.mouse.up()
    main.get_by_test_id("stCaptionContainer").filter(has_text="Mask: ").first.wait_for(timeout=COMPUTE_MS)
    wait_for_run(page)
    main.get_by_role("button", name="Compute maps").click()
    main.get_by_test_id("stImageCaption").get_by_text("grad_cam", exact=True).wait_for(timeout=COMPUTE_MS)
    wait_for_run(page)
    shoot(page, out, "localization", main.get_by_test_id("stDataFrame").last)


def sanity(page: Any, out: Path) -> None:
    open_page(page, "Sanity checks")
    form = page.get_by_test_id("stForm").filter(has_text="Run model randomization")
    form.get_by_test_id("stRadio").filter(has_text="Layers to randomize").get_by_text(
        "First N layers from the logits"
    ).click()
    first = form.get_by_label("N", exact=True)
    first.fill("3")
    first.press("Tab")
    form.get_by_role("button", name="Run model randomization").click()
    originals = page.get_by_test_id("stImageCaption").get_by_text("original", exact=True)
    originals.nth(1).wait_for(timeout=COMPUTE_MS)
    wait_for_run(page)
    shoot(page, out, "sanity", page.get_by_test_id("stImage").filter(has=originals))


def axioms(page: Any, out: Path) -> None:
    open_page(page, "Axioms & robustness")
    page.get_by_role("button", name="Check axioms").click()
    table = page.get_by_test_id("stDataFrame")
    table.first.wait_for(timeout=COMPUTE_MS)
    wait_for_run(page)
    shoot(page, out, "axioms", table)


PAGES = {"faithfulness": faithfulness, "robustness": robustness, "localization": localization, "sanity": sanity,
         "axioms": axioms}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "evaluate")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--pages", nargs="*", default=list(PAGES), choices=list(PAGES))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = start_app()
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, args.chromium)
            for name in args.pages:
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(COMPUTE_MS)
                open_app(page, server.url, sample="coffee")
                PAGES[name](page, args.out)
                page.close()
            browser.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

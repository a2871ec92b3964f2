"""Take the README's screenshots: every Explore/Evaluate/Learn page at 1280x720, after a cheap computation on it.

A plain script, not a test (pytest collects only ``test_*.py``)::

    .venv/bin/python tests/e2e/screenshot.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Needs Chromium (Debian: ``apt-get install -y chromium``) and the ``playwright`` Python package; no browser download.
The server, the browser and the flows are those of the browser tests (``browser.py``). 1280x720 is the smallest
screen the app is designed for (a classroom projector): each picture is what fits on it, without scrolling.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from browser import (
    CHROMIUM,
    COMPUTE_MS,
    ROOT,
    explain,
    launch_chromium,
    open_page,
    overlay,
    screenshot,
    set_number,
    settle,
    sidebar,
    start_app,
    wait_for_run,
)
from playwright.sync_api import sync_playwright

import xai_core

SAMPLE = "chelsea"
METHODS = ("saliency", "grad_cam", "guided_grad_cam")
VIEWPORT = {"width": 1280, "height": 720}

log = logging.getLogger("screenshot")


def _submit(page: Any, label: str) -> None:
    wait_for_run(page)
    page.get_by_role("button", name=label).first.click()


def path_inspector(page: Any) -> None:
    open_page(page, "Path inspector")
    set_number(page, "steps", 16)
    _submit(page, "Walk the path")
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=COMPUTE_MS)


def faithfulness(page: Any) -> Any:
    open_page(page, "Faithfulness")
    set_number(page, "steps", 20)
    _submit(page, "Compute measures")
    page.get_by_text("Perturbed image at step k").wait_for(timeout=COMPUTE_MS)
    return page.get_by_test_id("stMain").get_by_test_id("stDataFrame").last


def robustness(page: Any) -> Any:
    open_page(page, "Robustness & complexity")
    if not any(d["family"] == "robustness" for d in xai_core.metrics.describe()):
        return None
    set_number(page, "samples", 4)
    _submit(page, "Compute measures")
    worst = page.get_by_test_id("stHeading").filter(has_text="Worst cases")
    worst.wait_for(timeout=COMPUTE_MS)
    return worst


def localization(page: Any) -> Any:
    open_page(page, "Localization")
    _submit(page, "Compute maps")
    page.get_by_test_id("stImageCaption").get_by_text(METHODS[0], exact=True).wait_for(timeout=COMPUTE_MS)
    return page.get_by_test_id("stMain").get_by_test_id("stDataFrame").last


def sanity(page: Any) -> None:
    open_page(page, "Sanity checks")
    page.get_by_text("Every k-th layer").wait_for(timeout=COMPUTE_MS)


def axioms(page: Any) -> None:
    open_page(page, "Axioms & robustness")
    _submit(page, "Check axioms")
    page.get_by_test_id("stDataFrame").first.wait_for(timeout=COMPUTE_MS)


def learn(page: Any) -> None:
    open_page(page, "Learn (classroom mode)", "Learn: gradient-based attribution")
    wait_for_run(page)
    run = page.get_by_role("button", name=f"Run on {SAMPLE}")
    if run.count():  # the card shows its map at once when Explain already computed it (the map cache)
        run.first.click()
    page.get_by_test_id("stImageCaption").filter(has_text="class").first.wait_for(timeout=COMPUTE_MS)


def presentation(page: Any) -> None:
    sidebar(page).get_by_text("Presentation mode", exact=True).click()
    wait_for_run(page)


PAGES: dict[str, Callable[[Any], Any]] = {  # a flow may return its results (shot again as <name>-results.png)
    "path_inspector": path_inspector,
    "faithfulness": faithfulness,
    "robustness": robustness,
    "localization": localization,
    "sanity": sanity,
    "axioms": axioms,
    "learn": learn,
    "learn_presentation": presentation,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = start_app()
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, args.chromium)
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(120_000)
            explain(page, server.url, METHODS, sample=SAMPLE)
            overlay(page, METHODS[-1]).wait_for()
            settle(page)
            screenshot(page, args.out / "explain.png")  # the first screen: at 1280x720 the maps start at its foot
            page.get_by_text("Saliency maps for class").evaluate("el => el.scrollIntoView({block: 'start'})")
            settle(page)
            screenshot(page, args.out / "explain-maps.png")  # the README's picture: the maps side by side
            for name, flow in PAGES.items():
                try:
                    results = flow(page)
                except Exception:
                    screenshot(page, args.out / f"{name}-failed.png", full_page=True)  # what the flow met
                    raise
                wait_for_run(page)
                page.get_by_test_id("stMain").evaluate("el => el.scrollTo(0, 0)")
                settle(page, 1.5)
                screenshot(page, args.out / f"{name}.png")
                log.info("saved %s", args.out / f"{name}.png")
                if results is not None:
                    results.evaluate("el => el.scrollIntoView({block: 'start'})")
                    settle(page, 1.5)
                    screenshot(page, args.out / f"{name}-results.png")
            browser.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

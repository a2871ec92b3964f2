"""Take the README screenshot: run the app, explain the cat sample with three methods, save docs/screenshot.png.

A plain script, not a test (pytest collects only ``test_*.py``)::

    .venv/bin/python tests/e2e/screenshot.py [--out docs/screenshot.png] [--chromium /usr/bin/chromium]

Needs Chromium (Debian: ``apt-get install -y chromium``) and the ``playwright`` Python package; no browser download.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Locator, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
PORT = 8599
URL = f"http://127.0.0.1:{PORT}/"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SAMPLE = "chelsea"
EXTRA_METHOD = "guided_grad_cam"

log = logging.getLogger("screenshot")


def start_server() -> subprocess.Popen[bytes]:
    command = [
        str(ROOT / ".venv" / "bin" / "streamlit"),
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(PORT),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
    ]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{URL}_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError(f"streamlit did not answer on {URL} within 60 s")


def select_option(page: Page, scope: Locator, label: str, option_prefix: str) -> None:
    """Pick the option starting with ``option_prefix`` in the st.selectbox labelled ``label`` inside ``scope``."""
    box = scope.get_by_test_id("stSelectbox").filter(has_text=label)
    box.locator("input").fill(option_prefix)
    page.get_by_role("option").filter(has_text=option_prefix).first.click()


def explain(page: Page) -> None:
    page.goto(URL, wait_until="networkidle")
    page.get_by_test_id("stSidebar").get_by_text("Sample image").wait_for(timeout=120_000)
    select_option(page, page.get_by_test_id("stSidebar"), "Sample image", SAMPLE)
    page.get_by_text("Top-5 predictions").wait_for(timeout=120_000)
    methods = page.get_by_test_id("stMultiSelect").locator("input")
    methods.fill(EXTRA_METHOD)
    methods.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_test_id("stExpander").nth(2).wait_for()  # the third method's settings appeared
    page.get_by_role("button", name="Compute maps").click()
    page.get_by_test_id("stDownloadButton").nth(5).wait_for(timeout=180_000)  # PNG + NPY per method
    page.wait_for_load_state("networkidle")
    page.get_by_text("Explain a prediction").scroll_into_view_if_needed()  # the submit click scrolled down
    time.sleep(1.0)  # let images finish painting


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = start_server()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1150})
            explain(page)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    log.info("saved %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Take the README screenshot: run the app, explain the cat sample with three methods, save docs/screenshot.png.

A plain script, not a test (pytest collects only ``test_*.py``)::

    .venv/bin/python tests/e2e/screenshot.py [--out docs/screenshot.png] [--chromium /usr/bin/chromium]

Needs Chromium (Debian: ``apt-get install -y chromium``) and the ``playwright`` Python package; no browser download.
The server, the browser and the Explain flow are those of the browser tests (``browser.py``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from browser import CHROMIUM, ROOT, VIEWPORT, explain, launch_chromium, screenshot, start_app
from playwright.sync_api import sync_playwright

SAMPLE = "chelsea"
METHODS = ("saliency", "grad_cam", "guided_grad_cam")

log = logging.getLogger("screenshot")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = start_app()
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, args.chromium)
            page = browser.new_page(viewport=VIEWPORT)
            explain(page, server.url, METHODS, sample=SAMPLE)
            screenshot(page, args.out)
            browser.close()
    finally:
        server.stop()
    log.info("saved %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

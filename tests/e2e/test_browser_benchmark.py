"""The Benchmark page in Chromium: open a results folder written by the engine, see its table and plots, click a row
of the per-image table and see that image with its maps; the folder's path (a Markdown payload) stays text and the
browser requests nothing outside the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from browser import COMPUTE_MS, MODEL_MS, open_page, screenshot, settle, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAYLOAD = "![leak](http://example.invalid/x.png)"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from evaluation_data import results_folder

    return results_folder(tmp_path_factory.mktemp("bench"), PAYLOAD)


def test_open_results_and_click_a_row(page: Any, app_server: Any, results: Path, artifacts: Path) -> None:
    origin = urlparse(app_server.url).netloc
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).netloc not in (origin, "") else None)
    page.goto(app_server.url, wait_until="networkidle")
    wait_for_app(page)
    open_page(page, "Benchmark")
    page.get_by_text("Open a results folder").click()
    box = page.get_by_label("Results folder", exact=True)
    box.fill(str(results))
    box.press("Enter")
    page.get_by_test_id("stMain").get_by_test_id("stButton").filter(has_text="Open").click()
    page.get_by_text("Methods x metrics").wait_for(timeout=MODEL_MS)
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=COMPUTE_MS)
    assert page.get_by_text(f"Results: {results}", exact=True).count() == 1  # the path as text, payload and all
    grids = page.get_by_test_id("stDataFrame")
    assert grids.count() == 2
    grid = grids.nth(1)
    grid.scroll_into_view_if_needed()
    frame = grid.bounding_box()
    assert frame is not None
    page.mouse.click(frame["x"] + 18, frame["y"] + 35 + 17)  # the row marker of the first row, below the header
    page.get_by_test_id("stText").filter(has_text="0/img00.png").wait_for(timeout=COMPUTE_MS)
    images = page.get_by_test_id("stMain").get_by_test_id("stImage")
    images.nth(2).wait_for(timeout=COMPUTE_MS)
    assert images.count() == 3  # the crop and one map per method
    settle(page)
    screenshot(page, artifacts / "benchmark.png", full_page=True)
    assert page.get_by_test_id("stException").count() == 0
    # The payload's host is never asked. (The app's own favicon, :material/visibility:, is fetched from Google's
    # font server by Streamlit itself, on every page: that request is the app frame's, not this page's.)
    assert not [url for url in outside if "example.invalid" in url], outside

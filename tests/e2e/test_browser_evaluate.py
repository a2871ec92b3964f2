"""The Evaluate pages in a real browser: a mask drawn with the lasso and uploaded as a PNG on the Localization page,
and the Robustness & complexity page's measures with their worst-case copies.

As in ``test_browser_app.py``, each test opens the app in a fresh browser context with the bundled coffee sample
and reaches its page through the sidebar. Screenshots of each step go to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import COMPUTE_MS, choose_methods, open_app, open_page, screenshot, settle, wait_for_run
from PIL import Image

from xai_core import metrics

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SAMPLE = "coffee"


@pytest.fixture
def coffee(page: Any, app_server: Any) -> Any:
    open_app(page, app_server.url, sample=SAMPLE)
    return page


def no_errors(page: Any) -> None:
    assert page.get_by_test_id("stException").count() == 0
    errors = [t.strip() for t in page.get_by_test_id("stAlertContentError").all_text_contents()]
    assert not errors, errors


def mask_pixels(page: Any) -> int:
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text="Mask: ").first
    caption.wait_for(timeout=COMPUTE_MS)
    return int(caption.inner_text().split("Mask: ")[1].split(" pixels")[0])


def test_a_mask_drawn_with_the_lasso_and_one_uploaded(coffee: Any, artifacts: Path, tmp_path: Path) -> None:
    page = coffee
    open_page(page, "Localization")
    main = page.get_by_test_id("stMain")
    main.get_by_test_id("stRadio").get_by_text("mask: freehand polygon").click()
    wait_for_run(page)
    chart = main.get_by_test_id("stPlotlyChart").first
    chart.locator(".nsewdrag").first.wait_for()
    settle(page)
    area = chart.locator(".nsewdrag").first.bounding_box()
    assert area is not None
    scale = area["width"] / 224

    def at(x: float, y: float) -> tuple[float, float]:
        return area["x"] + x * scale, area["y"] + y * scale

    corners = [(60, 50), (160, 50), (160, 150), (60, 150), (60, 52)]  # a 100 x 100 square, drawn as a lasso
    page.mouse.move(*at(*corners[0]))
    page.mouse.down()
    for corner in corners[1:]:
        page.mouse.move(*at(*corner), steps=10)
    page.mouse.up()
    drawn = mask_pixels(page)
    assert 0.85 * 100 * 100 <= drawn <= 1.15 * 100 * 100, drawn
    no_errors(page)
    settle(page)
    screenshot(page, artifacts / "localization-mask-drawn.png")

    mask = np.zeros((224, 224), dtype=np.uint8)
    mask[20:60, 30:130] = 255  # 40 x 100 in the displayed input's pixels
    path = tmp_path / "mask.png"
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    main.get_by_test_id("stFileUploader").filter(has_text="Mask (PNG)").locator("input[type=file]").set_input_files(
        str(path)
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
        ".some(c => c.innerText.includes('Mask: 4000 pixels'))",
        timeout=COMPUTE_MS,
    )
    choose_methods(page, ["grad_cam"])
    main.get_by_role("button", name="Compute maps").click()
    main.get_by_test_id("stImageCaption").get_by_text("grad_cam", exact=True).wait_for(timeout=COMPUTE_MS)
    wait_for_run(page)
    settle(page)
    no_errors(page)
    overlay = main.get_by_test_id("stImage").filter(has=page.get_by_text("grad_cam", exact=True))
    assert overlay.locator("img").evaluate_all("all => all.map(i => i.naturalWidth)")[0] > 0
    screenshot(page, artifacts / "localization-mask.png", full_page=True)


def test_the_robustness_page_shows_the_worst_copy(coffee: Any, artifacts: Path) -> None:
    page = coffee
    open_page(page, "Robustness & complexity")
    main = page.get_by_test_id("stMain")
    robustness = [d for d in metrics.describe() if d["family"] == "robustness"]
    if not robustness:
        main.get_by_text("No robustness or complexity measure").wait_for()
        return
    choose_methods(page, ["saliency"])
    form = main.get_by_test_id("stForm")
    samples = form.get_by_test_id("stNumberInput").filter(has_text="samples").first.locator("input")
    samples.fill("3")
    samples.press("Tab")
    form.get_by_role("button", name="Compute measures").click()
    worst = main.get_by_test_id("stImageCaption").filter(has_text="worst copy #")
    worst.first.wait_for(timeout=COMPUTE_MS)
    wait_for_run(page)
    settle(page)
    no_errors(page)
    images = main.get_by_test_id("stImage")
    sizes = images.locator("img").evaluate_all("all => all.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(sizes) >= 4 and all(s > 0 for s in sizes), sizes  # image, its map, the worst copy, its map
    assert main.get_by_test_id("stImageCaption").filter(has_text="the worst copy's map").count() == 1
    assert main.get_by_test_id("stPlotlyChart").count() == 1  # the value of every copy
    screenshot(page, artifacts / "robustness.png", full_page=True)

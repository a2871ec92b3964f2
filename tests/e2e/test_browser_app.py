"""The app in a real browser: upload a photo, explain it with two methods, score their faithfulness, randomize.

Each test opens the app in a fresh browser context (a new Streamlit session), uploads the same JPEG through the
sidebar and goes to its page through the sidebar's navigation, as a user would. Settings are the cheapest the pages
offer (two gradient methods, 10 perturbation steps, the top two layers), so the file runs in well under a minute.
Each step's screenshot is saved in ``test-artifacts/e2e/``; ``explain.png`` has the README screenshot's framing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import COMPUTE_MS, choose_methods, compute_maps, open_app, open_page, overlay, screenshot, settle
from PIL import Image
from skimage import data

pytestmark = [pytest.mark.browser, pytest.mark.slow]

METHODS = ("grad_cam", "input_x_gradient")  # not the pages' defaults: the test must pick them
PHOTO = "my_photo.jpg"
RANDOMIZED_LAYERS = 2


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A JPEG photo of a cup of coffee (scikit-image's sample, 400 x 600)."""
    path = tmp_path / PHOTO
    Image.fromarray(data.coffee()).save(path, quality=90)
    return path


@pytest.fixture
def uploaded(page: Any, app_server: Any, photo: Path) -> Any:
    """The page with the app open and the photo uploaded through the sidebar."""
    open_app(page, app_server.url, photo=photo)
    return page


def texts(locator: Any) -> list[str]:
    return [t.strip() for t in locator.all_text_contents()]


def assert_no_errors(page: Any) -> None:
    assert page.get_by_test_id("stException").count() == 0
    errors = texts(page.get_by_test_id("stAlertContentError"))
    assert not errors, errors


def assert_painted(images: Any) -> None:
    """Every ``<img>`` under ``images`` has loaded and has a size (not a broken image)."""
    sizes = images.locator("img").evaluate_all("all => all.map(i => i.complete ? i.naturalWidth : 0)")
    assert sizes and all(size > 0 for size in sizes), sizes


def legend(chart: Any) -> list[str]:
    """The Plotly legend's entries of ``chart`` (an ``stPlotlyChart``), in order."""
    return texts(chart.locator(".legend .legendtext"))


def test_explain_shows_an_overlay_per_method(uploaded: Any, artifacts: Path) -> None:
    page = uploaded
    sidebar_name = page.get_by_test_id("stSidebar").get_by_test_id("stFileChipName")
    assert texts(sidebar_name) == [PHOTO]
    page.get_by_text(f"{PHOTO}, as the model sees it").wait_for()
    assert page.get_by_text("Top-5 predictions").is_visible()
    settle(page)
    screenshot(page, artifacts / "upload.png")

    compute_maps(page, METHODS)
    screenshot(page, artifacts / "explain.png")
    screenshot(page, artifacts / "explain-full.png", full_page=True)
    assert_no_errors(page)
    assert page.get_by_test_id("stHeading").filter(has_text="Saliency maps for class").count() == 1
    for method in METHODS:
        assert overlay(page, method).count() == 1, method
        assert_painted(overlay(page, method))
    captions = texts(page.get_by_test_id("stMain").get_by_test_id("stImageCaption"))
    assert [c for c in captions if c in METHODS] == list(METHODS), captions
    assert page.get_by_test_id("stDownloadButton").count() == 3 * len(METHODS)  # PNG, NPY and JSON per overlay


def test_faithfulness_draws_both_methods_curves(uploaded: Any, artifacts: Path) -> None:
    page = uploaded
    open_page(page, "Faithfulness")
    choose_methods(page, METHODS)
    form = page.get_by_test_id("stForm")
    steps = form.get_by_test_id("stNumberInput").filter(has_text="steps").first.locator("input")
    steps.fill("10")
    steps.press("Tab")  # commits the value; Enter would submit the form
    form.get_by_role("button", name="Compute measures").click()
    page.get_by_test_id("stHeading").filter(has_text="Perturbed image at step k").wait_for(timeout=COMPUTE_MS)
    chart = page.get_by_test_id("stMain").get_by_test_id("stPlotlyChart")
    chart.locator(".legend .legendtext").first.wait_for()
    settle(page)
    screenshot(page, artifacts / "faithfulness.png", full_page=True)

    assert_no_errors(page)
    assert chart.count() == 1
    assert legend(chart) == list(METHODS)
    # the default measures' curves: insertion, deletion and the LeRF deletion inside AOPC (LeRF) and ABPC
    assert chart.locator(".scatterlayer .trace").count() == 3 * len(METHODS)
    titles = texts(chart.locator(".annotation-text"))
    assert "Insertion AUC ↑" in titles and "Deletion AUC ↓" in titles, titles
    table = page.get_by_test_id("stMain").locator("[data-testid=stDataFrame]:visible")  # not the collapsed "about"
    table.first.wait_for()
    step_image = overlay(page, f"{METHODS[0]}, insertion, step 2/10")
    assert step_image.count() == 1
    assert_painted(step_image)


def test_sanity_checks_show_the_randomization_gallery(uploaded: Any, artifacts: Path) -> None:
    page = uploaded
    open_page(page, "Sanity checks")
    form = page.get_by_test_id("stForm").filter(has_text="Run model randomization")
    choose_methods(page, METHODS, scope=form)
    form.get_by_test_id("stRadio").filter(has_text="Layers to randomize").get_by_text(
        "First N layers from the logits"
    ).click()
    first = form.get_by_label("N", exact=True)
    first.fill(str(RANDOMIZED_LAYERS))
    first.press("Tab")
    form.get_by_role("button", name="Run model randomization").click()
    originals = page.get_by_test_id("stImageCaption").get_by_text("original", exact=True)
    originals.nth(len(METHODS) - 1).wait_for(timeout=COMPUTE_MS)
    chart = page.get_by_test_id("stMain").get_by_test_id("stPlotlyChart")
    chart.locator(".legend .legendtext").first.wait_for()
    settle(page)
    screenshot(page, artifacts / "sanity.png", full_page=True)

    assert_no_errors(page)
    assert originals.count() == len(METHODS)  # one gallery row per method
    rows = page.get_by_test_id("stMain").get_by_test_id("stImage").filter(has=originals)
    assert rows.count() == len(METHODS)
    assert rows.locator("img").count() == len(METHODS) * (1 + RANDOMIZED_LAYERS)  # trained, then each randomized
    assert_painted(rows)
    randomized = rows.get_by_test_id("stImageCaption").filter(has_text="ρ")
    assert randomized.count() == len(METHODS) * RANDOMIZED_LAYERS
    layers = [c.split("ρ")[0].replace("\u200b", "").strip() for c in texts(randomized)]
    assert layers == ["classifier", "bn2"] * len(METHODS), layers  # the bundled Lite0 from the logits down
    for method in METHODS:
        assert page.get_by_test_id("stMarkdownContainer").filter(has_text=f"{method} · ").count() >= 1, method
    assert legend(chart) == list(METHODS)


def test_a_box_dragged_on_the_image_becomes_the_localization_box(uploaded: Any, artifacts: Path) -> None:
    open_page(uploaded, "Localization")
    main = uploaded.get_by_test_id("stMain")
    chart = main.get_by_test_id("stPlotlyChart").first
    chart.locator(".nsewdrag").first.wait_for()
    settle(uploaded)
    area = chart.locator(".nsewdrag").first.bounding_box()  # the plot area: the 224 x 224 input, edge to edge
    assert area is not None
    scale = area["width"] / 224

    def at(x: float, y: float) -> tuple[float, float]:
        return area["x"] + x * scale, area["y"] + y * scale

    uploaded.mouse.move(*at(40, 60))
    uploaded.mouse.down()
    uploaded.mouse.move(*at(120, 100), steps=8)
    uploaded.mouse.move(*at(160, 180), steps=8)
    uploaded.mouse.up()
    x1 = main.get_by_label("x1")
    uploaded.wait_for_function(
        "el => Math.abs(Number(el.value) - 160) <= 3", arg=x1.element_handle(), timeout=COMPUTE_MS
    )
    drawn = [int(main.get_by_label(name).input_value()) for name in ("x0", "y0", "x1", "y1")]
    assert all(abs(got - want) <= 3 for got, want in zip(drawn, (40, 60, 160, 180), strict=True)), drawn
    assert_no_errors(uploaded)
    settle(uploaded)  # the rerun redraws the image with the new box
    screenshot(uploaded, artifacts / "localization-drawn.png")

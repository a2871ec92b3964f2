"""The Explain page as a user meets it: time from the click on "Compute maps" to every overlay on screen.

    python -m bench.app_latency [--rounds 3] [--out docs/benchmarks.md]

Starts the app (``streamlit run app.py``) and drives Debian's Chromium with Playwright through the same helpers as
the browser tests (``tests/e2e/browser.py``). Each round opens a fresh browser session on another bundled sample,
so no map is in the cache (maps are cached per image): the time covers the six attributions, the overlays'
encoding, the transfer and the browser decoding every image. Then the display controls are changed once (opacity):
that must only re-colour the cached maps, and its time is reported too. Results go between the ``bench:app``
markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))  # the browser helpers live with the browser tests

import browser  # noqa: E402  (needs the path above)

METHODS = ("saliency", "input_x_gradient", "guided_backprop", "grad_cam", "grad_cam_pp", "integrated_gradients")
SAMPLES = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle")


def method_runtimes(page: object) -> float:
    """The sum of the per-method runtimes shown under the overlays ("Grad-CAM (grad_cam) · 0.4 s (computed) · ..."),
    in seconds."""
    captions = page.get_by_test_id("stCaptionContainer").all_inner_texts()  # type: ignore[attr-defined]
    times = [re.search(r" · ([\d.]+) s \((?:computed|cached)\)", c) for c in captions]
    return sum(float(m.group(1)) for m in times if m)


def one_round(chromium: object, url: str, sample: str) -> tuple[float, float, float]:
    """(click -> six overlays, the methods' own runtimes, display change -> six re-coloured overlays) in seconds."""
    context = chromium.new_context(viewport=browser.VIEWPORT)  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        browser.open_app(page, url, sample=sample)
        browser.choose_methods(page, METHODS)
        button = page.get_by_test_id("stForm").get_by_role("button", name="Compute maps")
        start = time.perf_counter()
        button.click()
        browser.wait_for_images(page, len(METHODS), METHODS)
        compute = time.perf_counter() - start
        runtimes = method_runtimes(page)
        browser.settle(page, 0.5)
        before = browser.image_sources(page, METHODS)
        page.get_by_test_id("stExpander").filter(has_text="Display: colour map").locator("summary").click()
        slider = page.get_by_test_id("stSlider").filter(has_text="Map opacity").get_by_role("slider")
        start = time.perf_counter()
        slider.focus()
        page.keyboard.press("ArrowRight")  # 0.50 -> 0.55: a display change
        browser.wait_for_new_images(page, before, METHODS)  # every overlay replaced (a new media URL) ...
        browser.wait_for_images(page, len(METHODS), METHODS)  # ... and decoded
        redraw = time.perf_counter() - start
        return compute, runtimes, redraw
    finally:
        context.close()


def render(computes: list[float], runtimes: list[float], redraws: list[float], rounds: int) -> str:
    load = os.getloadavg()
    return (
        f"### Explain page: six methods on one image ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
        f"Methods: {', '.join(f'`{m}`' for m in METHODS)} (integrated_gradients at its default 50 steps), the "
        f"bundled EfficientNet-Lite0, CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()}), "
        f"headless Chromium on the same machine; {rounds} rounds, each on another sample image with a cold map "
        f"cache. Load average at the end {load[0]:.1f}.\n\n"
        "| step | median | rounds |\n|---|---|---|\n"
        f"| click on Compute maps -> all six overlays decoded in the browser | {statistics.median(computes):.2f} s "
        f"| {', '.join(f'{t:.2f}' for t in computes)} s |\n"
        f"| of which the six attributions (sum of the runtimes shown under the maps) "
        f"| {statistics.median(runtimes):.2f} s | {', '.join(f'{t:.2f}' for t in runtimes)} s |\n"
        f"| display change (opacity) -> six re-coloured overlays, no recomputation "
        f"| {statistics.median(redraws):.2f} s | {', '.join(f'{t:.2f}' for t in redraws)} s |\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, len(SAMPLES) + 1))
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown file to update ('-' prints only)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    server = browser.start_app()
    computes, runtimes, redraws = [], [], []
    try:
        with sync_playwright() as playwright:
            chromium = browser.launch_chromium(playwright)
            try:
                for sample in SAMPLES[: args.rounds]:
                    compute, runtime, redraw = one_round(chromium, server.url, sample)
                    print(
                        f"{sample}: click to overlays {compute:.2f} s (methods {runtime:.2f} s), redraw {redraw:.2f} s"
                    )
                    computes.append(compute)
                    runtimes.append(runtime)
                    redraws.append(redraw)
            finally:
                chromium.close()
    finally:
        server.stop()
    text = render(computes, runtimes, redraws, args.rounds)
    print(text)
    if args.out != "-":
        report.update(Path(args.out), text, "app")


if __name__ == "__main__":
    main()

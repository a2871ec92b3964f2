"""Shared helpers of the browser tests and the README screenshot: the app as a server, Chromium, the Explain flow.

The app runs as ``streamlit run app.py`` in a subprocess on a free localhost port (headless, no file watcher, no
usage stats); Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright (no browser download). Playwright is
imported inside the functions, so importing this module works without it (the tests skip with a reason).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1150}
START_SECONDS = 90.0
MODEL_MS = 180_000  # the first page run loads the model; a busy 2-core machine is slow
COMPUTE_MS = 240_000


@dataclass
class AppServer:
    """A running ``streamlit run app.py``: its base URL (with the trailing slash) and its process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def free_port() -> int:
    """A TCP port that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(
    env: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
    log_path: Path | None = None,
    root: Path = ROOT,
) -> AppServer:
    """Start the app on ``127.0.0.1:port`` (a free port by default) and wait until ``/_stcore/health`` answers.

    The entry point is ``serve.py`` (the app with its admin sign-in routes and security headers) where ``root``
    has one, else ``app.py`` (an older checkout, for before/after benchmarks).

    Args:
        env: variables added to this process's environment for the server.
        port: the port; ``None`` picks a free one.
        log_path: where the server's stdout and stderr go (``None``: discarded).
        root: the checkout to run.

    Raises:
        RuntimeError: the server exited or did not answer within ``START_SECONDS``; the log's end is in the message.
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [
        str(ROOT / ".venv" / "bin" / "streamlit"),
        "run",
        "serve.py" if (root / "serve.py").is_file() else "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
    ]
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    output: Any = log_path.open("wb") if log_path is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            command, cwd=root, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT
        )
    finally:
        if log_path is not None:
            output.close()  # the child has its own copy of the descriptor
    server = AppServer(url, process, log_path)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.stop()
    tail = log_path.read_text(errors="replace")[-2000:] if log_path is not None else ""
    raise RuntimeError(f"streamlit did not answer on {url} within {START_SECONDS:.0f} s; its log ends:\n{tail}")


def launch_chromium(playwright: Playwright, executable_path: str = CHROMIUM) -> Browser:
    """Headless Chromium from ``executable_path`` (Debian's package; Playwright's own download is not used)."""
    return playwright.chromium.launch(executable_path=executable_path, args=CHROMIUM_ARGS, headless=True)


def sidebar(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar")


def wait_for_app(page: Page) -> None:
    """After ``page.goto``: wait until the sidebar's pickers and the Explain page's first run are there."""
    sidebar(page).get_by_test_id("stFileUploader").wait_for(timeout=MODEL_MS)
    page.get_by_text("Top-5 predictions").wait_for(timeout=MODEL_MS)


def select_option(page: Page, scope: Locator, label: str, option_prefix: str) -> None:
    """Pick the option starting with ``option_prefix`` in the st.selectbox labelled ``label`` inside ``scope``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    box = scope.get_by_test_id("stSelectbox").filter(has_text=label)
    for attempt in range(3):  # a rerun that lands between typing and clicking closes the list: type again
        wait_for_run(page)
        box.locator("input").click()
        box.locator("input").fill(option_prefix)
        try:
            page.get_by_role("option").filter(has_text=option_prefix).first.click(timeout=15_000)
            return
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")


def upload(page: Page, path: Path) -> None:
    """Upload ``path`` through the sidebar's file uploader and wait until the Explain page shows it."""
    sidebar(page).get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(path))
    page.get_by_text(f"{path.name}, as the model sees it").wait_for(timeout=MODEL_MS)


def label(method: str) -> str:
    """How the app's pickers show a method: ``Grad-CAM (grad_cam)`` (``method_settings.title``)."""
    import xai_core

    title = xai_core.methods.get(method).title
    return method if not title or title == method else f"{title} ({method})"


def choose_methods(page: Page, methods: Sequence[str], scope: Locator | None = None) -> None:
    """Make the "Methods" multiselect in ``scope`` (the page's main area by default) hold exactly ``methods`` (ids;
    the picker shows them as ``label(method)``).

    Methods not wanted are removed with their tag's button, missing ones are typed and clicked in the list (not
    Enter: the first entry of a filtered list is "Select N matches"). A multiselect outside a form reruns the page on
    every change, so each step waits for its tag to (dis)appear.
    """
    scope = scope if scope is not None else page.get_by_test_id("stMain")
    box = scope.get_by_test_id("stMultiSelect").filter(has_text="Methods").first
    box.wait_for(timeout=MODEL_MS)
    wanted = [label(m) for m in methods]  # a slow method's label goes on with its expected time
    for chosen in box.locator("[data-tag]").all_inner_texts():
        if not any(chosen.startswith(w) for w in wanted):
            box.get_by_role("button", name=f"Remove {chosen}", exact=True).click()
            box.locator("[data-tag]").filter(has_text=chosen).first.wait_for(state="detached")
    field = box.locator("input")
    for method, shown in zip(methods, wanted, strict=True):
        if tag(box, shown).count():
            continue
        field.click()
        field.fill(method)
        page.get_by_role("option").filter(has_text=shown).first.click()
        page.keyboard.press("Escape")
        tag(box, shown).wait_for()


def xai_core_title(method: str) -> str:
    import xai_core

    return xai_core.methods.get(method).title or method


def tag(multiselect: Locator, option: str) -> Locator:
    """The tag of ``option`` in a multiselect's field (its label starts with it: "Grad-CAM (grad_cam)...")."""
    return multiselect.locator(f"[data-tag][aria-label^='{option}']")


def open_app(page: Page, url: str, *, sample: str | None = None, photo: Path | None = None) -> None:
    """Open the app and wait for its first run; then choose the bundled ``sample`` or upload ``photo``."""
    page.goto(url, wait_until="networkidle")
    wait_for_app(page)
    wait_for_run(page)  # the first run also loads the model and times a probe: pickers answer after it
    if sample is not None:
        select_option(page, sidebar(page), "Sample image", sample)
        page.get_by_text(f"{sample}, as the model sees it").wait_for(timeout=MODEL_MS)
    if photo is not None:
        upload(page, photo)


def compute_maps(page: Page, methods: Sequence[str]) -> None:
    """On the Explain page: choose ``methods``, press Compute maps, wait until every method's overlay is shown.

    Ends with the page scrolled back to its title (the framing of the README screenshot).
    """
    choose_methods(page, methods)
    form = page.get_by_test_id("stForm")
    if len(methods) > 1:  # one settings tab per method, named by its title
        for method in methods:
            form.get_by_role("tab", name=xai_core_title(method), exact=True).wait_for()
    wait_for_run(page)
    form.get_by_role("button", name="Compute maps").click()
    for method in methods:
        overlay(page, method).wait_for(timeout=COMPUTE_MS)
    page.get_by_text("Explain a prediction").scroll_into_view_if_needed()  # the submit click scrolled down
    settle(page)


def overlay(page: Page, caption: str) -> Locator:
    """The st.image in the main area whose caption is ``caption`` exactly."""
    exact = page.get_by_test_id("stImageCaption").get_by_text(caption, exact=True)
    return page.get_by_test_id("stMain").get_by_test_id("stImage").filter(has=exact)


def explain(
    page: Page, url: str, methods: Sequence[str], *, sample: str | None = None, photo: Path | None = None
) -> None:
    """The whole Explain flow: open the app, choose the image, compute ``methods``' maps (``compute_maps``)."""
    open_app(page, url, sample=sample, photo=photo)
    compute_maps(page, methods)


def open_page(page: Page, title: str, heading: str | None = None) -> None:
    """Switch pages through the sidebar's navigation (a new URL would start a new session without the upload);
    wait for the page's ``heading`` (its navigation title by default)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    page.get_by_test_id("stHeading").filter(has_text=heading or title).first.wait_for(timeout=MODEL_MS)


# The main area's st.image elements, optionally only those captioned with one of ``names`` (null: all).
_MAIN_IMAGES = """names => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stImage]')]
    .filter(el => !names || names.includes(el.querySelector('[data-testid=stImageCaption]')?.innerText?.trim()))"""


def wait_for_images(
    page: Page, count: int, captions: Sequence[str] | None = None, timeout_ms: float = COMPUTE_MS
) -> None:
    """Until ``count`` st.images of the main area (only those captioned with one of ``captions``, when given) have
    been decoded by the browser: shown, not just sent."""
    page.wait_for_function(
        f"""([names, n]) => ({_MAIN_IMAGES})(names)
            .filter(el => {{ const i = el.querySelector('img'); return i && i.complete && i.naturalWidth > 0; }})
            .length >= n""",
        arg=[list(captions) if captions is not None else None, count],
        timeout=timeout_ms,
    )


def image_sources(page: Page, captions: Sequence[str]) -> list[str]:
    """The ``src`` of each main-area st.image captioned with one of ``captions`` (a new run gives new URLs)."""
    return list(page.evaluate(f"names => ({_MAIN_IMAGES})(names).map(el => el.querySelector('img')?.src)", captions))


def wait_for_new_images(
    page: Page, old: Sequence[str], captions: Sequence[str], timeout_ms: float = COMPUTE_MS
) -> None:
    """Until every st.image captioned with one of ``captions`` shows another URL than in ``old`` (``image_sources``
    before a change): the rerun replaced them all."""
    page.wait_for_function(
        f"""([names, old]) => {{
            const now = ({_MAIN_IMAGES})(names).map(el => el.querySelector('img')?.src);
            return now.length === old.length && now.every(s => !old.includes(s)); }}""",
        arg=[list(captions), list(old)],
        timeout=timeout_ms,
    )


def wait_for_run(page: Page, timeout_ms: float = MODEL_MS) -> None:
    """Until the app's script run has finished. Text of the new run can show while the rest of the page still
    holds the previous run's elements (a click on one of those is lost), so wait for this before clicking."""
    page.locator("[data-testid=stApp][data-test-script-state=notRunning]").wait_for(timeout=timeout_ms)


def settle(page: Page, seconds: float = 1.0) -> None:
    """Let a finished rerun paint (images decode, Plotly draws) before a screenshot."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(seconds * 1000)


def screenshot(page: Page, path: Path, *, full_page: bool = False) -> Path:
    """Save a PNG of the viewport, or with ``full_page`` of the whole main area (which scrolls inside the page)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not full_page:
        page.screenshot(path=str(path))
        return path
    size = page.viewport_size or VIEWPORT
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stSidebar'].map("
        "id => document.querySelector(`[data-testid=${id}]`)?.scrollHeight ?? 0))"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height))})
    try:
        settle(page, 0.5)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path


# --- the study: admin sign-in, a participant's trials, what the browser fetched ----------------------------------

ANSWER_DWELL_MS = 1700  # a little over study.MIN_ANSWER_MS: a click sooner after a question appears is not counted


def sign_in_admin(page: Page, url: str, token: str) -> None:
    """Sign in on the study admin sign-in page (the session cookie it sets is HttpOnly), back in the studio."""
    page.goto(f"{url}study-admin/sign-in", wait_until="networkidle")
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url)
    sidebar(page).get_by_text("Signed in as study admin").wait_for(timeout=MODEL_MS)


def answer_question(page: Page, number: int, total: int, side: str = "left") -> None:
    """Wait until question ``number`` of ``total`` is on screen with both maps decoded, give it the time a person
    would, and choose ``side`` (forced choice)."""
    page.get_by_text(f"Question {number} of {total}").wait_for(timeout=MODEL_MS)
    wait_for_run(page)  # this question's buttons, not the last one's
    wait_for_images(page, 2, timeout_ms=MODEL_MS)
    page.wait_for_timeout(ANSWER_DWELL_MS)
    page.get_by_role("button", name=f"The {side} map").click()


class RequestLog:
    """Every URL a browser context requests, every Content-Security-Policy refusal its pages log."""

    def __init__(self, context: Any, origin: str) -> None:
        self.origin = origin.rstrip("/")
        self.urls: list[str] = []
        self.csp: list[str] = []
        context.on("request", lambda request: self.urls.append(request.url))
        context.on("page", self.watch)
        for page in context.pages:
            self.watch(page)

    def watch(self, page: Page) -> None:
        page.on("console", lambda message: self.csp.append(message.text) if "Content Security" in message.text else 0)

    def outside(self) -> list[str]:
        """Requests that left the app's own origin (``data:`` and ``blob:`` URLs stay in the page)."""
        own = (self.origin + "/", "data:", "blob:", "about:")
        return [u for u in self.urls if not u.startswith(own) and u != self.origin]


# Elements of a page that point outside the app (or at javascript:): what an injected image or link would add.
OUTSIDE_LINKS = """origin => [...document.querySelectorAll('[src],[href],[srcset],[action]')]
    .flatMap(el => ['src', 'href', 'srcset', 'action'].map(name => el.getAttribute(name)))
    .filter(v => v && /^(javascript:|https?:|\\/\\/)/i.test(v.trim()) && !v.startsWith(origin))"""


def form_number(page: Page, label_text: str) -> Locator:
    """The number input labelled ``label_text`` in the main area's visible form tab."""
    return page.get_by_test_id("stMain").get_by_test_id("stNumberInput").filter(has_text=label_text).locator("input")


def set_number(page: Page, label_text: str, value: float) -> None:
    """Type ``value`` into a number input and commit it with Tab (Enter would submit its form)."""
    field = form_number(page, label_text).first
    field.fill(str(value))
    field.press("Tab")


def computed_font_px(locator: Locator) -> float:
    """The computed font size of the first element of ``locator``, in CSS pixels (``zoom`` included)."""
    return float(
        locator.first.evaluate(
            """el => { let z = 1; for (let e = el; e; e = e.parentElement) {
                const v = parseFloat(getComputedStyle(e).zoom || '1'); if (!isNaN(v)) z *= v; }
              return parseFloat(getComputedStyle(el).fontSize) * z; }"""
        )
    )


def send_back_message(url: str, **fields: Any) -> None:
    """Open a websocket to the app as a browser would and send one BackMsg (e.g. ``clear_cache=True``)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from websockets.sync.client import connect

    with connect(url.replace("http://", "ws://") + "_stcore/stream", subprotocols=["streamlit"]) as socket:
        socket.send(BackMsg(**fields).SerializeToString())
        time.sleep(2.0)  # let the server handle it before the socket closes

"""Fixtures of the browser tests: the app server, Chromium, a fresh browser context per test, the artifacts folder.

Without Debian's Chromium or the ``playwright`` package the browser tests skip, with the reason; on CI (``$CI`` set,
``.ci/run`` installs Chromium) they fail instead, so a missing browser cannot pass unnoticed. A failing test leaves a
screenshot of its page in ``test-artifacts/e2e/``; the server's log is there too.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import CHROMIUM, ROOT, VIEWPORT, AppServer, launch_chromium, screenshot, start_app

ARTIFACTS = ROOT / "test-artifacts" / "e2e"
ADMIN_TOKEN = "e2e-admin-token-not-a-secret-0123456789"  # fixed, 39 characters (the app wants 16 or more)
DEFAULT_TIMEOUT_MS = 60_000
FAILED = pytest.StashKey[bool]()  # set on a test item by pytest_runtest_makereport: did its call phase fail


@dataclass(frozen=True)
class App:
    """The app under test: its base URL, the study admin token and the study database it was started with."""

    url: str
    admin_token: str
    db_url: str
    server: AppServer


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright Python package is not installed (make install-dev)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (Debian: apt-get install -y chromium)"
    return None


def require_browser() -> None:
    reason = missing_browser()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run on CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests need Chromium and Playwright: {reason}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or fail on CI) a ``browser`` test before its fixtures start a server it cannot use."""
    if item.get_closest_marker("browser") is not None:
        require_browser()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``<repo>/test-artifacts/e2e/``: screenshots of each step, server logs."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[App]:
    """The app on a free localhost port with its own study database (SQLite in a temporary folder)."""
    root = tmp_path_factory.mktemp("app")
    db_url = f"sqlite:///{root / 'study.db'}"
    env = {
        "XAI_STUDY_DB_URL": db_url,
        "XAI_STUDY_ADMIN_TOKEN": ADMIN_TOKEN,
        "XAI_CACHE_DIR": str(root / "cache"),
    }
    if os.environ.get("PYTEST_XDIST_WORKER"):
        env["OMP_NUM_THREADS"] = "1"  # the other worker has the second core (see tests/conftest.py)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    server = start_app(env, log_path=artifacts / f"server-{worker}.log")
    try:
        yield App(server.url, ADMIN_TOKEN, db_url, server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium, one per test session (worker)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A new browser context (cookies, storage, a new Streamlit session) per test."""
    fresh = browser.new_context(viewport=VIEWPORT)
    fresh.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield fresh
    finally:
        fresh.close()


@pytest.fixture
def page(context: Any, request: pytest.FixtureRequest, artifacts: Path) -> Iterator[Any]:
    """A page of ``context``; when the test fails, its last state is saved as ``<test name>-failed.png``."""
    tab = context.new_page()
    yield tab
    if request.node.stash.get(FAILED, False):
        try:
            screenshot(tab, artifacts / f"{request.node.name}-failed.png", full_page=True)
        except Exception as exc:  # a crashed page: the test's own error says more
            print(f"no failure screenshot: {exc}")

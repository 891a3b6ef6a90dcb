"""Browser tests: the system Chromium driven by Playwright against pytest-django's live server.

Skipped, with the reason, where /usr/bin/chromium or the playwright package is missing
(a laptop); CI installs Debian's chromium. `playwright install` is never used.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install -r requirements-dev.txt)"
    return None


@pytest.fixture
def chromium(live_server, monkeypatch):
    """A browser per test, closed before the live server and the database are torn down.

    Playwright's sync API keeps an event loop on this thread while it is open, so Django
    would refuse the ORM calls the test makes itself (setting up data, reading what the
    page did): they are allowed for as long as the browser lives, and no longer.
    """
    reason = _missing()
    if reason:
        pytest.skip(f"Browser tests need the system Chromium and Playwright: {reason}")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs, Django keeps the test's own ORM connection per
            # context, not per thread: close it here, in that context, or its PostgreSQL
            # session outlives the test and blocks dropping the test database.
            connections.close_all()


@pytest.fixture
def page(chromium, request):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        yield page
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
        context.close()


class Screenshots:
    """Numbered full-page screenshots under test-artifacts/browser/<test name>/."""

    def __init__(self, page, name: str) -> None:
        self.page = page
        self.folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def __call__(self, label: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(page, request) -> Screenshots:
    return Screenshots(page, request.node.name)


@pytest.fixture
def sync_runs_in_a_worker_thread(monkeypatch):
    """Queued sync runs execute in a thread, as a django-q2 worker would, instead of inside the request.

    With Q_SYNC on, `async_task` runs the task inline: "Run now" would answer only after
    the run ended, and the page could never show it in progress. The task, its arguments
    and the engine are the real ones; only the transport differs.
    """
    from django.db import connection
    from django_q.tasks import async_task as inline_task

    threads: list[threading.Thread] = []

    def run_in_thread(func, *args, **kwargs):
        def work() -> None:
            try:
                inline_task(func, *args, **kwargs)
            finally:
                connection.close()

        thread = threading.Thread(target=work, name=f"worker-{len(threads)}", daemon=True)
        threads.append(thread)
        thread.start()
        return f"thread-{len(threads)}"

    monkeypatch.setattr("syncs.services.async_task", run_in_thread)
    yield threads
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a sync run did not finish"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)  # lets `page` save a screenshot of a failure
    return report


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)

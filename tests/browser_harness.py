"""Real headless Chromium (Debian's `chromium`, driven by Playwright) for the page tests.

Every request a page makes is checked: anything not addressed to the gateway under test
is refused and fails the test, so the pages are shown to work with no network. Page
errors and console errors fail it too. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.pages_harness import SHIPPED

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = SHIPPED / "test-artifacts"


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def gateway_page(browser: Browser, url: str, **context: Any) -> Iterator[Page]:
    """A fresh page that may talk to the gateway at `url` only; `context` goes to
    `new_context` (e.g. http_credentials). Page errors fail the test."""
    options = {"viewport": {"width": 1280, "height": 900}, **context}
    browsing = browser.new_context(**options)
    offsite: list[str] = []
    problems: list[str] = []

    def only_the_gateway(route: Route) -> None:
        target = route.request.url
        if target.startswith(url + "/") or target.startswith("data:"):
            route.continue_()
        else:
            offsite.append(target)
            route.abort()

    browsing.route("**/*", only_the_gateway)
    tab = browsing.new_page()
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    try:
        yield tab
    finally:
        browsing.close()
    assert offsite == [], "the pages reached for the network"
    assert problems == []


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)

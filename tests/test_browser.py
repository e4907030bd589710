"""The pages in a real headless Chromium (Debian's `chromium`, driven by Playwright).

Every request the browser makes is checked: anything not addressed to the gateway under
test is refused and fails the test, so the pages are shown to work with no network
(tests/browser_harness.py). Screenshots land in test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_harness import CHROMIUM, chromium, gateway_page, screenshot
from tests.harness import gateway, write_config
from tests.pages_harness import echo_providers, edit_yaml, fetch_json

WAIT_MS = 15_000  # the page polls every 2 s; a reload lands well within this

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
    pytest.mark.timeout(120),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return write_config(tmp_path / "cfg", echo_providers())


@pytest.fixture
def url(config_dir: Path) -> Iterator[str]:
    with gateway(config_dir) as base:
        yield base


@pytest.fixture
def page(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh page that may talk to the gateway only; page errors fail the test."""
    with gateway_page(browser, url) as tab:
        yield tab


def model_ids(page: Page) -> list[str]:
    return page.locator("#models li.model").evaluate_all("els => els.map(e => e.dataset.model)")  # type: ignore[no-any-return]


def test_landing_page_follows_a_provider_switched_off(
    page: Page, url: str, config_dir: Path
) -> None:
    page.goto(url + "/")
    expect(page.locator("#models li.model")).to_have_count(5)
    assert model_ids(page) == [
        "echo/echo-1",
        "echo/echo-embed",
        "parrot/parrot-1",
        "parrot/parrot-2",
        "quick",
    ]
    expect(page.locator('[data-provider="keyed"] .state')).to_have_text("missing key")
    expect(page.locator("#config-hash")).to_have_text(
        fetch_json(url + "/_patchbay/status")["config"]["hash"][:12]
    )
    expect(page.locator("#snippet-curl")).to_contain_text(url + "/v1/chat/completions")
    page.locator('.tab[data-tab="responses"]').click()
    expect(page.locator("#snippet-responses")).to_contain_text("client.responses.create(")
    expect(page.locator("#snippet-responses")).to_contain_text(f'base_url="{url}/v1"')
    page.locator('.tab[data-tab="curl"]').click()
    page.click('.tab[data-tab="anthropic"]')
    expect(page.locator("#snippet-anthropic")).to_contain_text(f'base_url="{url}"')
    page.click('.tab[data-tab="curl"]')
    screenshot(page, "landing.png")
    page.evaluate("window.__samePage = true")  # gone if the page were loaded again

    edit_yaml(
        config_dir / "providers.yaml", lambda d: d["providers"]["parrot"].update(enabled=False)
    )

    expect(page.locator('#models [data-model="parrot/parrot-1"]')).to_have_count(0, timeout=WAIT_MS)
    assert model_ids(page) == ["echo/echo-1", "echo/echo-embed", "quick"]
    expect(page.locator('[data-provider="parrot"] .state')).to_have_text("switched off")
    expect(page.locator('#pg-model option[value="parrot/parrot-2"]')).to_have_count(0)
    assert page.evaluate("window.__samePage") is True
    screenshot(page, "landing-provider-off.png")


def test_landing_page_shows_a_rejected_edit_and_its_repair(
    page: Page, url: str, config_dir: Path
) -> None:
    page.goto(url + "/")
    expect(page.locator("#models li.model")).to_have_count(5)
    providers = config_dir / "providers.yaml"
    good = providers.read_text()
    providers.write_text(good + "  broken: {kind: no-such-kind, models: [x]}\n")
    alert = page.locator("#last-error")
    expect(alert).to_contain_text("providers.yaml:", timeout=WAIT_MS)
    expect(page.locator("#models li.model")).to_have_count(5)
    screenshot(page, "landing-rejected-edit.png")
    providers.write_text(good)
    expect(alert).to_have_count(0, timeout=WAIT_MS)


def test_playground_streams_a_reply_from_echo(page: Page, url: str) -> None:
    page.goto(url + "/")
    expect(page.locator("#pg-model")).to_have_value("echo/echo-1")
    # Count DOM changes in the transcript: a streamed reply arrives as many small ones.
    page.evaluate(
        """() => {
            window.__changes = 0;
            new MutationObserver((records) => { window.__changes += records.length; })
              .observe(document.getElementById("pg-output"), {subtree: true, childList: true, characterData: true});
        }"""
    )
    message = "one two three four five six seven eight nine ten"
    page.fill("#pg-input", message)
    page.press("#pg-input", "Enter")
    reply = page.locator("#pg-output .msg.assistant .text")
    expect(reply).to_have_text(message, timeout=WAIT_MS)
    expect(page.locator("#pg-output .msg.assistant")).not_to_have_class("streaming")
    assert page.evaluate("window.__changes") >= len(message.split())
    expect(page.locator("#pg-meta")).to_contain_text("echo/echo-1 · attempts 1")
    expect(page.locator("#pg-meta")).to_contain_text("completion tokens")

    page.select_option("#pg-model", "quick")
    expect(page.locator("#snippet-curl")).to_contain_text('"model":"quick"')
    page.fill("#pg-input", "and again")
    page.click("#pg-send")
    expect(reply.nth(1)).to_have_text("and again", timeout=WAIT_MS)
    expect(page.locator("#pg-meta")).to_contain_text("parrot/parrot-1")
    screenshot(page, "playground.png")


def test_docs_render_every_operation_offline(page: Page, url: str) -> None:
    document: dict[str, Any] = fetch_json(url + "/openapi.json")
    operations = sum(len(methods) for methods in document["paths"].values())
    page.goto(url + "/docs")
    expect(page.locator(".opblock")).to_have_count(operations, timeout=WAIT_MS)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {p.replace("\u200b", "") for p in paths} == set(document["paths"])
    page.locator(".opblock-post", has_text="/v1/chat/completions").locator(
        ".opblock-summary"
    ).click()
    expect(page.locator(".opblock-body")).to_contain_text("echo/echo-1", timeout=WAIT_MS)
    screenshot(page, "docs.png")

    page.goto(url + "/redoc")
    expect(page.locator("section.op")).to_have_count(operations)
    screenshot(page, "reference.png")


SCROLL_SETTLED = """() => new Promise((done) => {
  const y = window.scrollY;
  requestAnimationFrame(() => requestAnimationFrame(() => done(y > 0 && window.scrollY === y)));
})"""


def _covered_by_the_bar(page: Page, selector: str) -> bool:
    """Whether the sticky bar hides the top of `selector` (the bar scrolled away hides nothing)."""
    bar = page.locator(".topbar").bounding_box()
    target = page.locator(selector).bounding_box()
    assert bar is not None and target is not None
    return bar["y"] + bar["height"] > target["y"] >= bar["y"]


def test_a_linked_operation_starts_below_the_bar_on_both_docs_pages(page: Page, url: str) -> None:
    page.goto(url + "/docs#/Models/models_list")
    heading = "#operations-Models-models_list .opblock-summary"
    expect(page.locator(heading)).to_be_visible(timeout=WAIT_MS)
    # Swagger scrolls to the operation, animated: wait until a frame no longer moves it.
    page.wait_for_function(SCROLL_SETTLED)
    assert not _covered_by_the_bar(page, heading)
    screenshot(page, "docs-linked-operation.png")
    page.goto(url + "/redoc#models_list")
    expect(page.locator("#models_list")).to_be_visible()
    assert not _covered_by_the_bar(page, "#models_list h2")


def test_the_reference_renders_the_markdown_of_descriptions(page: Page, url: str) -> None:
    page.goto(url + "/redoc")
    texts = page.locator("section.op").all_inner_texts()
    assert texts and not [t for t in texts if "`" in t]
    chat = page.locator("#chat_completions")
    expect(chat.locator("p code", has_text="stream: true")).to_have_count(1)
    expect(chat.locator("td code", has_text="max_request_size")).to_have_count(1)


def test_the_speech_tab_plays_the_answer(page: Page, url: str, config_dir: Path) -> None:
    def add_speech(data: Any) -> None:
        data["providers"]["echo"]["models"].append({"id": "echo-tts", "type": "speech"})

    edit_yaml(config_dir / "providers.yaml", add_speech)
    page.goto(url + "/")
    expect(page.locator("#sp-model option")).to_have_count(1, timeout=WAIT_MS)  # after the reload
    page.click("#pg-tab-speech")
    expect(page.locator("#sp-form")).to_be_visible()
    expect(page.locator("#pg-form")).to_be_hidden()
    said = "Hello from Patchbay"
    page.fill("#sp-input", said)
    page.click("#sp-send")
    expect(page.locator("#sp-meta")).to_contain_text("echo/echo-tts · audio/wav", timeout=WAIT_MS)
    page.wait_for_function(
        "() => document.getElementById('sp-audio').duration > 0", timeout=WAIT_MS
    )
    duration = page.evaluate("document.getElementById('sp-audio').duration")
    assert duration == pytest.approx(len(said) * 0.05, abs=0.01)  # 50 ms a character
    page.wait_for_function(
        "() => { const a = document.getElementById('sp-audio'); return a.currentTime > 0 || a.ended; }",
        timeout=WAIT_MS,
    )
    screenshot(page, "speech.png")

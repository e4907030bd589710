"""The dashboard in a real headless Chromium: it polls, draws its charts from traffic,
follows more traffic and a rejected edit without a page load, and signs in with Basic
auth when an admin key is set. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_harness import CHROMIUM, chromium, gateway_page, screenshot
from tests.harness import gateway, write_config
from tests.pages_harness import echo_providers

WAIT_MS = 15_000  # the page polls every 2 s
ADMIN = "adm-Browser-5e1f-77aa"
NO_VALUE = "\u2013"  # the en dash the page shows where it knows no number yet

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


def providers() -> dict[str, object]:
    """The page tests' echo providers and `down`, whose upstream refuses connections."""
    declared = echo_providers()
    declared["providers"]["down"] = {  # type: ignore[index]
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": "sk-not-used-anywhere",
        "models": ["down-1"],
    }
    declared["defaults"] = {"provider": "echo", "retries": 0, "timeout": 2}
    return declared


def chat(url: str, model: str, stream: bool = False) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hello dashboard"}]}
    if stream:
        body["stream"] = True
    request = urllib.request.Request(
        url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            reply.read()
            return int(reply.status)
    except urllib.error.HTTPError as err:
        return err.code


def traffic(url: str, rounds: int) -> None:
    for _ in range(rounds):
        assert chat(url, "echo/echo-1") == 200
        assert chat(url, "parrot/parrot-1", stream=True) == 200
    assert chat(url, "down/down-1") == 502


def number(page: Page, selector: str) -> float:
    """The number an element shows ("1,234", "0.52", "12 ms": its leading number)."""
    text = page.locator(selector).inner_text().split(" ")[0].replace(",", "")
    return float(text) if text not in ("", NO_VALUE) else 0.0


def points(page: Page, chart: str) -> int:
    return int(page.locator(f"#chart-{chart}").get_attribute("data-points") or 0)


def test_the_charts_draw_traffic_and_follow_more_of_it(browser: Browser, tmp_path: Path) -> None:
    config_dir = write_config(tmp_path / "cfg", providers())
    with gateway(config_dir) as url, gateway_page(browser, url) as page:
        page.goto(url + "/")
        page.click(".toplinks >> text=Dashboard")  # the landing page's bar links to it
        expect(page).to_have_url(url + "/dashboard")
        expect(page.locator("#config-hash")).not_to_have_text("…", timeout=WAIT_MS)
        expect(page.locator("#shared-state")).to_have_text("memory · ok")
        page.evaluate("window.__samePage = true")  # gone if the page were loaded again

        for _ in range(4):  # over a few polls, so that the lines have a shape
            traffic(url, 1)
            time.sleep(0.8)
        for chart in ("rps", "errors", "latency", "ttft", "tokens"):
            expect(page.locator(f"#chart-{chart} path.line").first).to_be_attached(timeout=WAIT_MS)
        page.wait_for_function(
            "() => ['rps', 'errors', 'latency', 'ttft', 'tokens'].every("
            "id => Number(document.getElementById('chart-' + id).dataset.points) > 0)",
            timeout=WAIT_MS,
        )
        assert number(page, "#stat-total") >= 9
        assert page.locator("#chart-tokens path.line").count() == 2  # echo-1 and parrot-1
        expect(page.locator('#legend-tokens [data-series="echo/echo-1"]')).to_be_attached()
        # Four connection failures, past the cooldown rule's three: the provider cools.
        expect(page.locator('#providers [data-provider="down"]')).to_have_attribute(
            "data-health", "cooling"
        )
        expect(page.locator('#providers [data-provider="echo"]')).to_have_attribute(
            "data-health", "ok"
        )
        expect(page.locator('#tokens [data-model="parrot/parrot-1"] td').nth(2)).not_to_have_text(
            "0"
        )
        total = number(page, "#stat-total")
        completion = page.locator('#tokens [data-model="echo/echo-1"] td').nth(2).inner_text()
        drawn = points(page, "rps")

        traffic(url, 3)
        page.wait_for_function(
            f"() => Number(document.getElementById('stat-total').textContent.replace(/,/g, '')) >= {total + 7}",
            timeout=WAIT_MS,
        )
        expect(page.locator('#tokens [data-model="echo/echo-1"] td').nth(2)).not_to_have_text(
            completion, timeout=WAIT_MS
        )
        assert points(page, "rps") > drawn
        providers_file = config_dir / "providers.yaml"
        providers_file.write_text(providers_file.read_text() + "  broken: {kind: no-such-kind}\n")
        rejected = page.locator('#reloads [data-result="rejected"]')
        expect(rejected).to_contain_text("providers.yaml:", timeout=WAIT_MS)
        assert page.evaluate("window.__samePage") is True
        screenshot(page, "dashboard.png")


def test_with_an_admin_key_the_browser_signs_in_with_basic_auth(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHBAY_ADMIN_KEY", ADMIN)
    server = {"auth": {"admin_key": "${PATCHBAY_ADMIN_KEY}"}}
    config_dir = write_config(tmp_path / "cfg", providers(), server=server)
    credentials = {"username": "ops", "password": ADMIN}
    with (
        gateway(config_dir) as url,
        gateway_page(browser, url, http_credentials=credentials, color_scheme="dark") as page,
    ):
        polls: list[int] = []
        page.on(
            "response",
            lambda r: r.url.endswith("/dashboard/data") and polls.append(r.status),
        )
        page.goto(url + "/dashboard")
        expect(page.locator("#config-hash")).not_to_have_text("…", timeout=WAIT_MS)
        traffic(url, 2)
        page.wait_for_function(
            "() => Number(document.getElementById('chart-rps').dataset.points) > 0",
            timeout=WAIT_MS,
        )
        expect(page.locator("#live")).to_have_text("live")
        expect(page.locator("#poll-error")).to_have_count(0)
        screenshot(page, "dashboard-dark.png")
    assert polls and set(polls) == {200}  # every poll carried the key the browser was given

"""What answers cost: prices as data, the cost of every endpoint's answers computed from
the fake upstreams' usage and checked against a hand calculation, null without a price."""

from __future__ import annotations

import copy
import json
import logging
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from engine.config.prices import shipped_prices
from engine.formats import OPENAI
from engine.formats.usage import Usage
from engine.providers.prices import Price, usd
from tests.fakes.anthropic_server import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import gateway, write_config
from tests.spend_harness import (
    ADMIN,
    GPT_COST,
    chat_body,
    priced_providers,
    send,
    spent_on,
    stream_events,
)

ROOT = Path(__file__).resolve().parent.parent


# --- prices and arithmetic ----------------------------------------------------------------


def test_cost_counts_every_unit_at_its_price() -> None:
    price = Price(
        input_per_mtok=2.0,
        cached_input_per_mtok=0.5,
        output_per_mtok=8.0,
        per_image=0.04,
        per_audio_second=0.0001,
        per_character=0.000015,
    )
    usage = Usage(1000, 400, 300, images=2, audio_seconds=10.0, characters=100)
    by_hand = (600 * 2.0 + 400 * 0.5 + 300 * 8.0) / 1e6 + 2 * 0.04 + 10 * 0.0001 + 100 * 0.000015
    assert price.cost(usage) == pytest.approx(by_hand)
    # Without a cached-input price, cached tokens cost what other input does.
    assert Price(input_per_mtok=2.0).cost(Usage(1000, 400)) == pytest.approx(2000 / 1e6)
    assert Price().free and not price.free


def test_costs_read_as_plain_decimals() -> None:
    assert usd(0.000066) == "0.000066"
    assert usd(0.0) == "0"
    assert usd(12.5) == "12.5"
    assert usd(3e-10) == "0.0000000003"


def test_openai_usage_reads_tokens_cached_tokens_images_and_seconds() -> None:
    chat = {"usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}}
    chat["usage"]["prompt_tokens_details"] = {"cached_tokens": 6}  # type: ignore[index]
    assert OPENAI.usage(chat) == Usage(10, 6, 4)
    image = {"data": [{"url": "u"}, {"b64_json": "x"}], "usage": {"input_tokens": 9}}
    assert OPENAI.usage(image) == Usage(input_tokens=9, images=2)
    assert OPENAI.usage({"data": [{"url": "u"}]}) == Usage(images=1)
    assert OPENAI.usage({"usage": {"type": "duration", "seconds": 12}}) == Usage(audio_seconds=12)
    embeddings = {"data": [{"embedding": [0.1]}], "usage": {"prompt_tokens": 3}}
    assert OPENAI.usage(embeddings) == Usage(input_tokens=3)
    assert OPENAI.usage({"choices": []}) is None


def test_the_shipped_price_list_is_dated_and_names_shipped_providers_and_models() -> None:
    prices = shipped_prices()  # raises on a schema problem
    text = (ROOT / "engine" / "config" / "prices.yaml").read_text()
    assert yaml.safe_load(text)["as_of"]
    shipped = yaml.safe_load((ROOT / "providers.yaml").read_text())["providers"]
    for public_id in prices:
        provider = public_id.split("/", 1)[0]
        assert provider in shipped, public_id
    for name in ("openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "groq/llama-3.1-8b-instant"):
        assert Price.from_spec(prices[name]).input_per_mtok > 0


def test_a_config_price_replaces_the_shipped_one_model_by_model(tmp_path: Path) -> None:
    from engine import create_app

    providers = {
        "providers": {
            "openai": {
                "kind": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "models": [
                    "gpt-4o-mini",
                    {"id": "gpt-4o", "price": {"input_per_mtok": 1, "output_per_mtok": 2}},
                    "not-in-the-list",
                ],
            }
        }
    }
    app = create_app(write_config(tmp_path, providers))
    models = app.config["PATCHBAY_RUNTIME"].snapshot.providers["openai"].models
    assert models["gpt-4o-mini"].price == Price.from_spec(shipped_prices()["openai/gpt-4o-mini"])
    assert models["gpt-4o"].price == Price(input_per_mtok=1, output_per_mtok=2)
    assert models["not-in-the-list"].price is None


# --- through the gateway ------------------------------------------------------------------


@pytest.fixture
def priced(
    tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    monkeypatch.setenv("PATCHBAY_ADMIN_KEY", ADMIN)
    server = {"auth": {"admin_key": "${PATCHBAY_ADMIN_KEY}"}, "request_logging": True}
    providers = priced_providers(fake_openai.url)
    providers["providers"]["blind"] = {  # an upstream never asked for a stream's usage
        **copy.deepcopy(providers["providers"]["up"]),
        "stream_usage": False,
    }
    with gateway(write_config(tmp_path / "cfg", providers, server=server)) as url:
        yield url


class Lines(logging.Handler):
    """Keeps the access log's lines (Patchbay's logger does not propagate to pytest's)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access_log() -> Iterator[list[str]]:
    lines = Lines()
    logger = logging.getLogger("patchbay.access")
    logger.addHandler(lines)
    try:
        yield lines.lines
    finally:
        logger.removeHandler(lines)


def test_a_json_answer_says_its_cost(priced: str, access_log: list[str]) -> None:
    status, headers, raw = send("POST", priced + "/v1/chat/completions", chat_body("up/gpt-test"))
    assert status == 200 and json.loads(raw)["usage"]["prompt_tokens"] == 5
    assert headers["x-patchbay-cost"] == "0.000066" == usd(GPT_COST)  # 5 x $2 + 7 x $8 per Mtok
    assert spent_on(priced, "up/gpt-test") == pytest.approx(GPT_COST)
    logged = [line for line in access_log if line.startswith("POST /v1/chat")]
    assert logged[-1].endswith(" cost=0.000066")


def test_a_model_without_a_price_has_an_unknown_cost(priced: str) -> None:
    _, headers, _ = send("POST", priced + "/v1/chat/completions", chat_body("up/unpriced-test"))
    assert headers["x-patchbay-cost"] == "null"
    assert spent_on(priced, "up/unpriced-test") is None
    metrics = send("GET", priced + "/metrics")[2].decode()
    assert 'patchbay_cost_usd_total{key="",model="unpriced-test"' not in metrics


def test_a_stream_is_charged_from_the_usage_asked_for_on_the_clients_behalf(
    priced: str, fake_openai: FakeOpenAI
) -> None:
    body = chat_body("up/gpt-test", stream=True)
    status, _, raw = send("POST", priced + "/v1/chat/completions", body)
    events = stream_events(raw)
    assert status == 200 and events[-1] == "[DONE]"
    assert all("usage" not in e for e in events[:-1])  # the client asked for none
    assert fake_openai.requests[-1].json()["stream_options"] == {"include_usage": True}
    assert spent_on(priced, "up/gpt-test") == pytest.approx(GPT_COST)


def test_a_stream_whose_client_asked_for_usage_gets_it_and_is_charged(
    priced: str,
) -> None:
    sdk = openai.OpenAI(base_url=priced + "/v1", api_key="k", max_retries=0, timeout=20)
    chunks = list(
        sdk.chat.completions.create(
            **chat_body("up/gpt-test"), stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    assert spent_on(priced, "up/gpt-test") == pytest.approx(GPT_COST)
    metrics = send("GET", priced + "/metrics")[2].decode()
    assert 'patchbay_cost_usd_total{key="",model="gpt-test",provider="up"} 6.6e-05' in metrics


def test_a_stream_without_usage_is_charged_an_estimate(
    priced: str, fake_openai: FakeOpenAI
) -> None:
    body = chat_body("blind/gpt-test", "count to three", stream=True)
    raw_body = json.dumps(body).encode()
    status, _, raw = send("POST", priced + "/v1/chat/completions", body)
    assert status == 200 and "stream_options" not in fake_openai.requests[-1].json()
    text = "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in stream_events(raw)[:-1]
        if c["choices"]
    )
    assert text == "upstream says: count to three"
    prompt, completion = math.ceil(len(raw_body) / 4), math.ceil(len(text) / 4)
    assert spent_on(priced, "blind/gpt-test") == pytest.approx((prompt * 2 + completion * 8) / 1e6)


def test_embeddings_cost_their_input_tokens(priced: str) -> None:
    body = {"model": "up/embed-test", "input": ["a", "b", "c"]}  # the fake: 1 token per input
    status, headers, _ = send("POST", priced + "/v1/embeddings", body)
    assert status == 200 and headers["x-patchbay-cost"] == usd(3 * 0.1 / 1e6)


def test_images_cost_their_price_per_image(priced: str) -> None:
    body = {"model": "up/img-test", "prompt": "a cat", "n": 2, "response_format": "b64_json"}
    status, headers, raw = send("POST", priced + "/v1/images/generations", body)
    assert status == 200 and len(json.loads(raw)["data"]) == 2
    assert headers["x-patchbay-cost"] == "0.08"


# --- anthropic, translated ----------------------------------------------------------------


@pytest.fixture
def claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FakeAnthropic]]:
    with FakeAnthropic().in_thread() as fake:
        monkeypatch.setenv("FAKE_ANTHROPIC_URL", fake.url)
        monkeypatch.setenv("FAKE_ANTHROPIC_KEY", ANTHROPIC_KEY)
        monkeypatch.setenv("PATCHBAY_ADMIN_KEY", ADMIN)
        shutil.copytree(ROOT / "tests" / "configs" / "kind-anthropic", tmp_path / "cfg")
        providers = yaml.safe_load((tmp_path / "cfg" / "providers.yaml").read_text())
        price = {"input_per_mtok": 3.0, "output_per_mtok": 15.0}
        providers["providers"]["claude"]["models"][0] = {"id": "claude-test", "price": price}
        (tmp_path / "cfg" / "providers.yaml").write_text(yaml.safe_dump(providers))
        shutil.copy(ROOT / "routes.yaml", tmp_path / "cfg" / "routes.yaml")  # with /v1/usage
        server = {"auth": {"admin_key": "${PATCHBAY_ADMIN_KEY}"}, "watch": {"enabled": False}}
        (tmp_path / "cfg" / "config" / "server.yaml").write_text(yaml.safe_dump(server))
        with gateway(tmp_path / "cfg") as url:
            yield url, fake


def _anthropic_cost(fake: FakeAnthropic, reply_text: str) -> float:
    """The fake's own usage: a quarter of the messages' JSON bytes in, a token a word out."""
    sent = fake.requests[-1].json()
    input_tokens = len(json.dumps(sent["messages"], separators=(",", ":")).encode()) // 4
    return (input_tokens * 3.0 + len(reply_text.split()) * 15.0) / 1e6


def test_an_anthropic_answer_costs_its_translated_usage(claude: tuple[str, FakeAnthropic]) -> None:
    url, fake = claude
    body = chat_body("claude/claude-test", "what does it cost", max_tokens=50)
    status, headers, _ = send("POST", url + "/v1/chat/completions", body)
    assert status == 200
    expected = _anthropic_cost(fake, "Hello! You said: what does it cost")
    assert float(headers["x-patchbay-cost"]) == pytest.approx(expected)


def test_an_anthropic_stream_costs_its_usage_though_the_client_asked_none(
    claude: tuple[str, FakeAnthropic],
) -> None:
    url, fake = claude
    body = chat_body("claude/claude-test", "and streamed", max_tokens=50, stream=True)
    status, _, raw = send("POST", url + "/v1/chat/completions", body)
    assert status == 200 and all("usage" not in e for e in stream_events(raw)[:-1])
    expected = _anthropic_cost(fake, "Hello! You said: and streamed")
    assert spent_on(url, "claude/claude-test") == pytest.approx(expected)

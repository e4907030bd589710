"""/v1/messages counts like chat: tokens per minute from its usage, metrics, cooldowns
(which token counts never feed), and Anthropic's model list for Anthropic clients."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml
from anthropic.types import ModelInfo
from prometheus_client.parser import text_string_to_metric_families

from tests.messages_harness import TARGETS, messages_stack, post, read_events


def ask(model: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hi"}],
        **extra,
    }


def remaining(headers: dict[str, str]) -> int:
    return int(headers["x-ratelimit-remaining-tokens"])


@pytest.mark.parametrize("kind", TARGETS)
def test_tokens_per_minute_are_charged_from_the_answers_usage(kind: str, tmp_path: Path) -> None:
    server = {"auth": {"keys": [{"name": "ci", "key": "k-tpm-1", "tpm": 100000}]}}
    key = {"x-api-key": "k-tpm-1"}
    with messages_stack(tmp_path / "cfg", server=server) as stack:
        status, headers, raw = post(stack.url, "/v1/messages", ask(TARGETS[kind]), key)
        assert status == 200
        usage = json.loads(raw)["usage"]
        before = remaining(headers)
        status, headers, raw = post(stack.url, "/v1/messages", ask(TARGETS[kind], stream=True), key)
        assert status == 200
        assert before - remaining(headers) == usage["input_tokens"] + usage["output_tokens"]
        streamed = read_events(raw)[-2][1]["usage"]  # message_delta: totals, input included
        assert streamed["input_tokens"] == usage["input_tokens"]
        status, headers, _ = post(stack.url, "/v1/messages", ask(TARGETS[kind]), key)
        charged = before - remaining(headers) - usage["input_tokens"] - usage["output_tokens"]
        assert charged == streamed["input_tokens"] + streamed["output_tokens"]


def test_requests_are_counted_in_metrics(tmp_path: Path) -> None:
    with messages_stack(tmp_path / "cfg") as stack:
        stack.client().messages.create(**ask("up/gpt-test"))
        text = urllib.request.urlopen(stack.url + "/metrics", timeout=10).read().decode()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    asked = {"route": "/v1/messages", "method": "POST", "status": "200", "format": "anthropic"}
    assert [
        s.value
        for s in samples
        if s.name == "patchbay_requests_total" and (asked.items() <= s.labels.items())
    ] == [1.0]
    attempts = {"provider": "up", "model": "up/gpt-test", "outcome": "ok"}
    assert [
        s.value
        for s in samples
        if s.name == "patchbay_upstream_requests_total" and (attempts.items() <= s.labels.items())
    ] == [1.0]


def test_token_counts_never_put_a_provider_in_cooldown(tmp_path: Path) -> None:
    with messages_stack(tmp_path / "cfg", failures=1) as stack:
        client = stack.client()
        for _ in range(3):
            with pytest.raises(anthropic.InternalServerError):
                client.messages.count_tokens(model="claude/broken", messages=ask("x")["messages"])
        assert health(stack.url)["broken"] == "ok"  # counted nothing
        assert client.messages.create(**ask("claude/claude-test")).content
        with pytest.raises(anthropic.InternalServerError):
            client.messages.create(**ask("claude/broken"))  # a real failure: cooldown
        assert health(stack.url)["broken"].startswith("cooling (")
        # Counting is not held back by the cooldown either.
        count = client.messages.count_tokens(
            model="claude/claude-test", messages=ask("x")["messages"]
        )
        assert count.input_tokens > 0


def health(url: str) -> dict[str, str]:
    """The `claude` provider's models and their health, from GET /v1/providers."""
    listing = json.loads(urllib.request.urlopen(url + "/v1/providers", timeout=10).read())
    found: dict[str, str] = next(p["health"] for p in listing["data"] if p["name"] == "claude")
    return found


def test_anthropic_clients_get_anthropics_model_list(tmp_path: Path) -> None:
    with messages_stack(tmp_path / "cfg") as stack:
        client = stack.client()
        listed = [model.id for model in client.models.list(limit=2)]  # pages through all
        openai_shape = json.loads(
            urllib.request.urlopen(stack.url + "/v1/models", timeout=10).read()
        )
        ids = [m["id"] for m in openai_shape["data"]]
        assert listed == ids and openai_shape["object"] == "list"
        request = urllib.request.Request(
            stack.url + "/v1/models?limit=2", headers={"anthropic-version": "2023-06-01"}
        )
        page = json.loads(urllib.request.urlopen(request, timeout=10).read())
        assert set(page) == {"data", "has_more", "first_id", "last_id"}
        assert page["has_more"] is True and page["first_id"] == ids[0]
        for model in page["data"]:
            ModelInfo.model_validate(model)
        one = client.models.retrieve("claude/claude-test")
        assert one.id == "claude/claude-test" and one.type == "model"


def test_anthropic_clients_list_models_with_their_x_api_key(tmp_path: Path) -> None:
    server = {
        "auth": {"required": True, "keys": [{"name": "ci", "key": "k-list-1", "models": ["up/*"]}]}
    }
    with messages_stack(tmp_path / "cfg", server=server) as stack:
        listed = [model.id for model in stack.client("k-list-1").models.list()]
        assert listed == ["up/gpt-test", "up/reject-400", "up/fail-500", "up/midstream-error"]
        with pytest.raises(anthropic.AuthenticationError):
            stack.client("wrong").models.list()


def test_anthropic_model_pages_and_their_bad_parameters(tmp_path: Path) -> None:
    def page(query: str) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            stack.url + "/v1/models" + query, headers={"anthropic-version": "2023-06-01"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as failed:
            return failed.code, json.loads(failed.read())

    with messages_stack(tmp_path / "cfg") as stack:
        _, whole = page("?limit=1000")
        ids = [m["id"] for m in whole["data"]]
        assert whole["has_more"] is False and whole["last_id"] == ids[-1]
        _, after = page(f"?after_id={ids[0]}&limit=2")
        assert [m["id"] for m in after["data"]] == ids[1:3] and after["has_more"] is True
        _, before = page(f"?before_id={ids[3]}&limit=2")
        assert [m["id"] for m in before["data"]] == ids[1:3] and before["has_more"] is True
        for query, param in [
            ("?limit=0", "limit"),
            ("?limit=x", "limit"),
            ("?after_id=zz", "after_id"),
        ]:
            status, error = page(query)
            assert status == 400 and error["error"]["param"] == param


def test_the_routes_take_the_base_url_and_switch_off(tmp_path: Path) -> None:
    shipped = yaml.safe_load((Path(__file__).parent.parent / "routes.yaml").read_text())
    for route in shipped["routes"]:
        if route["handler"] == "messages.count_tokens":
            route["enabled"] = False
    with messages_stack(tmp_path / "cfg", server={"base_url": "/api"}, routes=shipped) as stack:
        client = anthropic.Anthropic(base_url=stack.url + "/api", api_key="k", max_retries=0)
        assert client.messages.create(**ask("echo/echo-1")).content[0].text == "Hi"  # type: ignore[union-attr]
        with pytest.raises(anthropic.NotFoundError):
            client.messages.count_tokens(model="claude/claude-test", messages=ask("x")["messages"])
        status, _, _ = post(stack.url, "/v1/messages", ask("echo/echo-1"))
        assert status == 404

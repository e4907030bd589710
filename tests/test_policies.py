"""Parameter and header policies, checked where they land: at a fake upstream, exactly
the declared fields and headers arrive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.config import ConfigInvalid, load_config, read_sources
from engine.handlers import HANDLER_NAMES
from engine.providers import KINDS
from engine.providers.base import Call, Model, Provider
from engine.providers.pollinations import Pollinations
from engine.routing.params import apply_params
from engine.snapshot.params import ParamPolicy
from engine.upstream.client import Upstream
from tests.fakes import Received
from tests.fakes.anthropic_server import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.fakes.pollinations_server import FakePollinations
from tests.harness import gateway, write_config
from tests.test_chat import post

ASK = [{"role": "user", "content": "hi"}]


def upstream(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {"kind": "openai", "base_url": fake.url, "api_key": API_KEY, **extra}


def policies(fake: FakeOpenAI) -> dict[str, Any]:
    return {
        "defaults": {"provider": "plain", "timeout": 5, "retries": 0},
        "providers": {
            "plain": upstream(fake, models=["gpt-test"]),  # no policy: the baseline
            "up": upstream(
                fake,
                headers={
                    "set": {"X-Title": "Patchbay", "anthropic-beta": "default-beta"},
                    "forward": ["anthropic-beta", "OpenAI-Organization"],
                },
                params={"defaults": {"max_tokens": 256}, "drop": ["seed", "logprobs"]},
                models=[
                    "gpt-test",
                    {
                        "id": "gpt-other",
                        "params": {
                            "override": {"max_tokens": 64},
                            "defaults": {"temperature": 0.5},
                        },
                    },
                ],
            ),
            "mapped": upstream(fake, headers={"X-Title": "plain form"}, models=["gpt-test"]),
        },
        "aliases": {
            "pinned": {
                "targets": [{"model": "up/gpt-test"}],
                "params": {"override": {"seed": 42, "temperature": 0}},
            },
            "chain": ["up/fail-500", "plain/gpt-test"],
        },
    }


@pytest.fixture
def served(tmp_path: Path, fake_openai: FakeOpenAI) -> Iterator[str]:
    providers = policies(fake_openai)
    providers["providers"]["up"]["models"].append("fail-500")
    write_config(tmp_path / "cfg", providers)
    with gateway(tmp_path / "cfg") as url:
        yield url


def chat(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    status, answer, raw = post(url + "/v1/chat/completions", json.dumps(body).encode(), headers)
    return status, {k.lower(): v for k, v in answer.items()}, raw


def last(fake: FakeOpenAI) -> Received:
    return fake.requests[-1]


# -- parameters ----------------------------------------------------------------------


def test_a_provider_policy_drops_and_fills_and_names_what_it_dropped(
    served: str, fake_openai: FakeOpenAI
) -> None:
    body = {"model": "up/gpt-test", "messages": ASK, "seed": 1, "logprobs": True, "top_p": 0.9}
    status, headers, _ = chat(served, body)
    assert status == 200
    assert last(fake_openai).json() == {
        "model": "gpt-test",
        "messages": ASK,
        "top_p": 0.9,
        "max_tokens": 256,
    }
    assert headers["x-patchbay-params-dropped"] == "logprobs, seed"


def test_a_model_policy_wins_over_its_providers(served: str, fake_openai: FakeOpenAI) -> None:
    body = {"model": "up/gpt-other", "messages": ASK, "max_tokens": 5000, "seed": 1}
    status, headers, _ = chat(served, body)
    assert status == 200
    assert last(fake_openai).json() == {
        "model": "gpt-other",
        "messages": ASK,
        "max_tokens": 64,  # the model's override, over the provider's default
        "temperature": 0.5,  # the model's default
    }
    assert headers["x-patchbay-params-dropped"] == "seed"


def test_an_alias_policy_wins_over_its_targets(served: str, fake_openai: FakeOpenAI) -> None:
    body = {"model": "pinned", "messages": ASK, "seed": 1, "logprobs": True, "temperature": 1}
    status, headers, _ = chat(served, body)
    assert status == 200
    # The provider drops seed; the alias names it, so the alias decides.
    assert last(fake_openai).json() == {
        "model": "gpt-test",
        "messages": ASK,
        "seed": 42,
        "temperature": 0,
        "max_tokens": 256,
    }
    assert headers["x-patchbay-params-dropped"] == "logprobs"


def test_a_null_field_is_filled_by_a_default(served: str, fake_openai: FakeOpenAI) -> None:
    status, headers, _ = chat(served, {"model": "up/gpt-test", "messages": ASK, "max_tokens": None})
    assert status == 200
    assert last(fake_openai).json()["max_tokens"] == 256
    assert "x-patchbay-params-dropped" not in headers


def test_nothing_is_touched_without_a_policy(served: str, fake_openai: FakeOpenAI) -> None:
    body = {"model": "plain/gpt-test", "messages": ASK, "seed": 1, "logprobs": True}
    status, headers, _ = chat(served, body)
    assert status == 200
    assert last(fake_openai).json() == {**body, "model": "gpt-test"}
    assert "x-patchbay-params-dropped" not in headers


def test_a_stream_carries_the_dropped_header(served: str, fake_openai: FakeOpenAI) -> None:
    body = {"model": "up/gpt-test", "messages": ASK, "stream": True, "seed": 3}
    status, headers, raw = chat(served, body)
    assert status == 200 and raw.endswith(b"data: [DONE]\n\n")
    assert headers["x-patchbay-params-dropped"] == "seed"
    assert last(fake_openai).json() == {
        "model": "gpt-test",
        "messages": ASK,
        "stream": True,
        "stream_options": {"include_usage": True},  # Patchbay's own ask, for the cost
        "max_tokens": 256,
    }


def test_each_target_of_a_fallback_gets_its_own_policy(
    served: str, fake_openai: FakeOpenAI
) -> None:
    status, headers, _ = chat(served, {"model": "chain", "messages": ASK, "seed": 9})
    assert (status, headers["x-patchbay-provider"]) == (200, "plain")
    failed, answered = fake_openai.requests[-2:]
    assert failed.json() == {"model": "fail-500", "messages": ASK, "max_tokens": 256}
    assert answered.json() == {"model": "gpt-test", "messages": ASK, "seed": 9}
    assert "x-patchbay-params-dropped" not in headers  # the target that answered kept seed


def test_an_upstream_refusal_names_what_was_dropped(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    write_config(
        tmp_path / "cfg",
        {
            "providers": {
                "up": upstream(fake_openai, params={"drop": ["seed"]}, models=["reject-400"])
            }
        },
    )
    with gateway(tmp_path / "cfg") as url:
        status, headers, _ = chat(url, {"model": "up/reject-400", "messages": ASK, "seed": 1})
    assert status == 400
    assert headers["x-patchbay-params-dropped"] == "seed"


def test_apply_params_never_changes_the_clients_body() -> None:
    policy = ParamPolicy(defaults={"n": 1}, override={"temperature": 0}, drop=frozenset({"seed"}))
    body = {"model": "m", "seed": 1, "temperature": 2}
    sent, dropped = apply_params(policy, body)
    assert sent == {"model": "m", "temperature": 0, "n": 1}
    assert dropped == ("seed",)
    assert body == {"model": "m", "seed": 1, "temperature": 2}
    assert apply_params(ParamPolicy(drop=frozenset({"seed"})), {"model": "m"}) == (
        {"model": "m"},
        (),
    )


def test_a_higher_layer_decides_every_field_it_names() -> None:
    provider = ParamPolicy(
        defaults={"max_tokens": 256, "top_p": 1}, drop=frozenset({"seed", "logprobs"})
    )
    alias = ParamPolicy(defaults={"seed": 7}, override={"max_tokens": 64})
    assert alias.over(provider) == ParamPolicy(
        defaults={"top_p": 1, "seed": 7},
        override={"max_tokens": 64},
        drop=frozenset({"logprobs"}),
    )
    assert ParamPolicy().over(provider) is provider


# -- headers -------------------------------------------------------------------------

CLIENT_HEADERS = {
    "anthropic-beta": "client-beta",
    "OpenAI-Organization": "org-1",
    "X-Other": "not-for-upstream",
    "Cookie": "session=1",
    "Authorization": "Bearer client-key-for-patchbay",
}


def names(received: Received) -> set[str]:
    return {name.lower() for name in received.headers}


def test_exactly_the_set_and_forwarded_headers_arrive(served: str, fake_openai: FakeOpenAI) -> None:
    assert chat(served, {"model": "plain/gpt-test", "messages": ASK}, CLIENT_HEADERS)[0] == 200
    baseline = last(fake_openai)
    assert chat(served, {"model": "up/gpt-test", "messages": ASK}, CLIENT_HEADERS)[0] == 200
    sent = last(fake_openai)
    assert names(sent) - names(baseline) == {"x-title", "anthropic-beta", "openai-organization"}
    assert names(baseline) - names(sent) == set()
    lowered = {k.lower(): v for k, v in sent.headers.items()}
    assert lowered["anthropic-beta"] == "client-beta"  # the client's, over headers.set
    assert lowered["openai-organization"] == "org-1"
    assert lowered["x-title"] == "Patchbay"
    assert lowered["authorization"] == f"Bearer {API_KEY}"
    assert not {"x-other", "cookie"} & names(baseline)  # no client header goes by default


def test_a_set_header_stands_in_when_the_client_sends_none(
    served: str, fake_openai: FakeOpenAI
) -> None:
    assert chat(served, {"model": "up/gpt-test", "messages": ASK})[0] == 200
    lowered = {k.lower(): v for k, v in last(fake_openai).headers.items()}
    assert lowered["anthropic-beta"] == "default-beta"
    assert "openai-organization" not in lowered


def test_the_plain_mapping_form_sets_headers(served: str, fake_openai: FakeOpenAI) -> None:
    assert chat(served, {"model": "mapped/gpt-test", "messages": ASK}, CLIENT_HEADERS)[0] == 200
    lowered = {k.lower(): v for k, v in last(fake_openai).headers.items()}
    assert lowered["x-title"] == "plain form"
    assert "anthropic-beta" not in lowered


def test_the_anthropic_kind_forwards_too(tmp_path: Path) -> None:
    with FakeAnthropic().in_thread() as fake:
        claude = {
            "kind": "anthropic",
            "base_url": fake.url,
            "api_key": ANTHROPIC_KEY,
            "headers": {"set": {"X-Title": "Patchbay"}, "forward": ["anthropic-beta"]},
            "params": {"override": {"max_tokens": 100}},
            "models": ["claude-test"],
        }
        write_config(tmp_path / "cfg", {"providers": {"claude": claude}})
        with gateway(tmp_path / "cfg") as url:
            body = {"model": "claude/claude-test", "messages": ASK, "max_tokens": 9000}
            status, _, _ = chat(url, body, CLIENT_HEADERS)
        sent = fake.requests[-1]
    assert status == 200
    lowered = {k.lower(): v for k, v in sent.headers.items()}
    assert (lowered["anthropic-beta"], lowered["x-title"]) == ("client-beta", "Patchbay")
    assert lowered["x-api-key"] == ANTHROPIC_KEY and "authorization" not in lowered
    assert not {"openai-organization", "x-other", "cookie"} & set(lowered)
    assert sent.json()["max_tokens"] == 100


@pytest.mark.anyio
async def test_the_pollinations_kind_sends_forwarded_headers_and_its_query(
    upstream: Upstream,
) -> None:
    async with FakePollinations() as fake:
        provider = Provider(
            name="pollinations",
            kind="pollinations",
            status="active",
            base_url=fake.url,
            api_key=None,
            timeout=10,
            models={"openai": Model("openai")},
            headers={"X-Title": "Patchbay"},
            forward=("X-Trace",),
            query="referrer=patchbay",
        )
        body = {"model": "openai", "messages": ASK}
        call = Call(upstream, provider, Model("openai"), body, {"X-Trace": "t-1"})
        await Pollinations(provider).chat(call)
        sent = fake.requests[-1]
    assert (sent.headers["X-Trace"], sent.headers["X-Title"]) == ("t-1", "Patchbay")
    assert sent.query == {"referrer": "patchbay"}


# -- what the config checks ------------------------------------------------------------


def problems(tmp_path: Path, provider: dict[str, Any], **extra: Any) -> list[str]:
    write_config(tmp_path, {"providers": {"up": provider}, **extra})
    with pytest.raises(ConfigInvalid) as caught:
        load_config(read_sources(tmp_path), handlers=HANDLER_NAMES, kinds=KINDS.keys())
    return [p.message for p in caught.value.problems]


BASE = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"headers": {"forward": ["Authorization"]}},
            "'Authorization' is never forwarded (credentials and request framing stay)",
        ),
        (
            {"headers": {"forward": ["Content-Length"]}},
            "'Content-Length' is never forwarded (credentials and request framing stay)",
        ),
        (
            {
                "auth": {"type": "header", "header": "X-Goog-Api-Key"},
                "headers": {"forward": ["x-goog-api-key"]},
            },
            "'x-goog-api-key' carries this provider's key (auth.header); it is not forwarded",
        ),
        ({"headers": {"forward": ["a-b", "A-B"]}}, "header 'A-B' is listed twice"),
        ({"auth": {"type": "header"}}, "missing required key 'header'"),
        (
            {"headers": {"set": {"X-Title": "a"}, "X-Other": "b"}},
            "headers is a mapping of header names to values, or"
            " {set: {NAME: value}, forward: [NAME, ...]}",
        ),
        (
            {"params": {"defaults": {"seed": 1}, "drop": ["seed"]}},
            "parameter 'seed' is already in defaults: name it in one section",
        ),
        (
            {"params": {"override": {"model": "other"}}},
            "model and stream are decided by Patchbay; a parameter policy cannot name them",
        ),
        (
            {"params": {"drop": ["stream"]}},
            "model and stream are decided by Patchbay; a parameter policy cannot name them",
        ),
        ({"params": {"pin": {"seed": 1}}}, "unknown key 'pin' (allowed: defaults, drop, override)"),
    ],
)
def test_a_policy_mistake_is_a_clear_problem(
    tmp_path: Path, extra: dict[str, Any], message: str
) -> None:
    assert message in problems(tmp_path, {**BASE, **extra})


def test_a_model_or_alias_policy_is_checked_too(tmp_path: Path) -> None:
    model = {"id": "m", "params": {"override": {"n": 1}, "defaults": {"n": 2}}}
    alias = {"targets": [{"model": "up/m"}], "params": {"drop": ["n"], "override": {"n": 1}}}
    found = problems(tmp_path, {**BASE, "models": [model]}, aliases={"a": alias})
    assert found == [
        "parameter 'n' is already in defaults: name it in one section",
        "parameter 'n' is already in override: name it in one section",
    ]


def test_a_header_whose_variable_is_unset_is_not_sent(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    headers = {"X-Title": "${TITLE_FOR_TEST:-Patchbay}", "X-Team": "${TEAM_FOR_TEST}"}
    write_config(
        tmp_path / "cfg",
        {"providers": {"up": upstream(fake_openai, headers=headers, models=["gpt-test"])}},
    )
    with gateway(tmp_path / "cfg", environ={}) as url:
        status, _, _ = chat(url, {"model": "up/gpt-test", "messages": ASK})
    assert status == 200
    lowered = {k.lower(): v for k, v in last(fake_openai).headers.items()}
    assert lowered["x-title"] == "Patchbay" and "x-team" not in lowered

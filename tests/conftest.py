"""Shared fixtures: a fake OpenAI-compatible upstream and Patchbay serving it on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import gateway, write_config


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(
        (
            "gpt-test",
            "fail-500",
            "reject-400",
            "limit-429",
            "slow",
            "stall",
            "big",
            "midstream-error",
        )
    ).in_thread() as fake:
        yield fake


def upstream_providers(fake_url: str, **extra: Any) -> dict[str, Any]:
    """providers.yaml with echo and an openai-kind provider `up` at the fake."""
    return {
        "defaults": {"provider": "echo", "timeout": 1, "retries": 0},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1"]},
            "up": {
                "kind": "openai",
                "base_url": fake_url,
                "api_key": "${FAKE_UPSTREAM_KEY}",
                "models": [
                    "gpt-test",
                    "fail-500",
                    "reject-400",
                    "limit-429",
                    "slow",
                    "stall",
                    "big",
                    "midstream-error",
                    "hold",
                    {"id": "embed-test", "type": "embedding"},
                    {"id": "img-test", "type": "image"},
                    {"id": "url-only", "type": "image"},
                ],
            },
        },
        **extra,
    }


@pytest.fixture
def gateway_url(
    tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    write_config(tmp_path / "cfg", upstream_providers(fake_openai.url))
    with gateway(tmp_path / "cfg") as url:
        yield url


@pytest.fixture
def client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway_url + "/v1", api_key="client-key", max_retries=0, timeout=20
    )

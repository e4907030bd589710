"""Client keys: `auth.required`, keys by `${VAR}` or sha256, model allow-lists, live changes."""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

import openai
import pytest

from engine.access.guard import authenticate
from engine.config.settings import Auth, ClientKey
from engine.errors import AuthenticationFailed
from tests.harness import gateway, write_config

ALICE = "sk-alice-0123456789"
BOB = "sk-bob-9876543210"
ADMIN = "admin-secret-42"

PROVIDERS: dict[str, Any] = {
    "defaults": {"provider": "echo"},
    "providers": {
        "echo": {"kind": "echo", "models": ["echo-1"]},
        "other": {"kind": "echo", "models": ["o-1", "o-2"]},
    },
    "aliases": {"fast": "echo/echo-1", "both": ["other/o-1", "other/o-2"]},
}


def keys_server(required: bool = True, **alice: Any) -> dict[str, Any]:
    return {
        "watch": {"enabled": False},
        "auth": {
            "required": required,
            "admin_key": "${PATCHBAY_ADMIN_KEY}",
            "keys": [
                {"name": "alice", "key": "${ALICE_KEY}", **alice},
                {"name": "bob", "sha256": hashlib.sha256(BOB.encode()).hexdigest()},
                {"name": "carol", "key": "${CAROL_KEY_NOT_SET}"},
            ],
        },
    }


def call(
    url: str, path: str, key: str | None = None, body: dict[str, Any] | None = None
) -> tuple[int, Message, Any]:
    """(status, headers, JSON body or raw bytes) of one request with an optional client key."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            raw, status, got = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as err:
        raw, status, got = err.read(), err.code, err.headers
    ctype = got.get("Content-Type", "")
    return status, got, json.loads(raw) if ctype.startswith("application/json") else raw


def chat(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def key_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_KEY", ALICE)
    monkeypatch.setenv("PATCHBAY_ADMIN_KEY", ADMIN)
    monkeypatch.delenv("CAROL_KEY_NOT_SET", raising=False)


def test_required_auth_rejects_missing_and_wrong_keys(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS, server=keys_server())) as url:
        for key in (None, "sk-wrong", ""):
            status, headers, body = call(url, "/v1/chat/completions", key, chat("echo/echo-1"))
            assert status == 401
            assert body["error"]["type"] == "authentication_error"
            assert body["error"]["code"] == "invalid_api_key"
            assert headers["WWW-Authenticate"] == "Bearer"
        status, _, _ = call(url, "/v1/models")
        assert status == 401
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="sk-nope", max_retries=0, timeout=20)
        with pytest.raises(openai.AuthenticationError):
            sdk.models.list()


def test_keys_given_by_variable_or_digest_are_accepted(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS, server=keys_server())) as url:
        for key in (ALICE, BOB):
            sdk = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)
            reply = sdk.chat.completions.create(
                model="echo/echo-1", messages=[{"role": "user", "content": "hello"}]
            )
            assert reply.choices[0].message.content == "hello"
        # carol's variable is unset: that key is switched off, like a provider's, and the
        # config still loads.


def test_probes_metrics_and_admin_need_no_client_key(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS, server=keys_server())) as url:
        assert call(url, "/health")[0] == 200
        assert call(url, "/ready")[0] == 200
        assert call(url, "/metrics")[0] == 200
        assert call(url, "/admin/config", ADMIN)[0] == 200  # the admin key, not a client key
        assert call(url, "/admin/config", ALICE)[0] == 401


def test_allow_list_takes_patterns_aliases_and_what_they_resolve_to(tmp_path: Path) -> None:
    server = keys_server(models=["other/*", "fast"])
    with gateway(write_config(tmp_path, PROVIDERS, server=server)) as url:
        for model in ("other/o-1", "o-2", "fast", "both"):
            assert call(url, "/v1/chat/completions", ALICE, chat(model))[0] == 200, model
        status, _, body = call(url, "/v1/chat/completions", ALICE, chat("echo/echo-1"))
        assert status == 403
        assert body["error"]["type"] == "permission_error"
        assert body["error"]["param"] == "model"
        assert "alice" in body["error"]["message"] and ALICE not in body["error"]["message"]
        assert call(url, "/v1/chat/completions", ALICE, chat("auto"))[0] == 403  # auto is echo
        assert call(url, "/v1/chat/completions", BOB, chat("echo/echo-1"))[0] == 200  # no list


def test_optional_auth_serves_anonymous_clients_and_still_applies_known_keys(
    tmp_path: Path,
) -> None:
    server = keys_server(required=False, models=["other/*"])
    with gateway(write_config(tmp_path, PROVIDERS, server=server)) as url:
        assert call(url, "/v1/chat/completions", None, chat("echo/echo-1"))[0] == 200
        assert call(url, "/v1/chat/completions", "unused", chat("echo/echo-1"))[0] == 200
        assert call(url, "/v1/chat/completions", ALICE, chat("echo/echo-1"))[0] == 403
        assert call(url, "/v1/chat/completions", ALICE, chat("other/o-1"))[0] == 200


def test_key_changes_apply_on_reload(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, PROVIDERS, server=keys_server())
    with gateway(cfg) as url:
        assert call(url, "/v1/models", ALICE)[0] == 200
        new_key = "sk-dave-5555"
        server = keys_server(models=["other/*"])
        server["auth"]["keys"][0] = {"name": "alice", "key": "sk-alice-rotated"}
        server["auth"]["keys"].append(
            {"name": "dave", "sha256": hashlib.sha256(new_key.encode()).hexdigest()}
        )
        write_config(cfg, PROVIDERS, server=server)
        assert call(url, "/admin/reload", ADMIN, {})[2]["outcome"] == "applied"
        assert call(url, "/v1/models", ALICE)[0] == 401  # rotated away
        assert call(url, "/v1/models", "sk-alice-rotated")[0] == 200
        assert call(url, "/v1/models", new_key)[0] == 200
        server["auth"]["required"] = False
        write_config(cfg, PROVIDERS, server=server)
        assert call(url, "/admin/reload", ADMIN, {})[2]["outcome"] == "applied"
        assert call(url, "/v1/models")[0] == 200


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_keys_never_reach_the_log(tmp_path: Path) -> None:
    server = {**keys_server(), "request_logging": True, "log_level": "debug"}
    recorder = Recorder()
    logging.getLogger("patchbay").addHandler(recorder)
    try:
        with gateway(write_config(tmp_path, PROVIDERS, server=server)) as url:
            call(url, "/v1/chat/completions", ALICE, chat("echo/echo-1"))
            call(url, "/v1/chat/completions", "sk-wrong-guess", chat("echo/echo-1"))
    finally:
        logging.getLogger("patchbay").removeHandler(recorder)
    text = "\n".join(recorder.lines)
    assert "/v1/chat/completions 401" in text
    assert ALICE not in text and "sk-wrong-guess" not in text


def test_authenticate_reads_only_bearer_credentials() -> None:
    alice = ClientKey("alice", hashlib.sha256(ALICE.encode()).hexdigest())
    auth = Auth(required=True, keys=(alice,))
    assert authenticate({"authorization": f"Bearer {ALICE}"}, auth) == alice
    assert authenticate({"authorization": f"bearer   {ALICE} "}, auth) == alice
    for header in (ALICE, f"Basic {ALICE}", None, "Bearer"):
        with pytest.raises(AuthenticationFailed, match="API key"):
            authenticate({"authorization": header} if header else {}, auth)
    assert authenticate({"authorization": f"Token {ALICE}"}, Auth(keys=(alice,))) is None


def test_models_list_shows_only_what_the_key_may_use(tmp_path: Path) -> None:
    server = keys_server(models=["other/*", "fast"])
    with gateway(write_config(tmp_path, PROVIDERS, server=server)) as url:
        status, _, alice = call(url, "/v1/models", ALICE)
        ids = {m["id"] for m in alice["data"]}
        assert status == 200 and "other/o-1" in ids and "fast" in ids
        assert "echo/echo-1" not in ids
        status, _, hidden = call(url, "/v1/models/echo/echo-1", ALICE)
        assert status == 404 and hidden["error"]["code"] == "model_not_found"
        assert hidden["error"]["message"] == (  # suggests what the key may use
            "The model 'echo/echo-1' does not exist or is switched off. "
            "Try one of: both, fast, other/o-1, other/o-2"
        )
        bob = {m["id"] for m in call(url, "/v1/models", BOB)[2]["data"]}
        assert "echo/echo-1" in bob  # no allow-list: everything

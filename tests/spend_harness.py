"""Shared pieces of the spend tests: a priced config over the fake OpenAI upstream, raw
HTTP helpers, and the usage report read back per model."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

from tests.conftest import upstream_providers

ADMIN = "admin-key-for-spend"
ALICE = "sk-alice-spend"
BOB = "sk-bob-spend"
# US dollars per million tokens (or per image) of the fake's priced models.
GPT_PRICE = {"input_per_mtok": 2.0, "cached_input_per_mtok": 0.5, "output_per_mtok": 8.0}
EMBED_PRICE = {"input_per_mtok": 0.1}
IMAGE_PRICE = {"per_image": 0.04}
# The fake's usage for every chat answer: 5 prompt and 7 completion tokens.
GPT_COST = (5 * 2.0 + 7 * 8.0) / 1e6


def priced_providers(fake_url: str, **extra: Any) -> dict[str, Any]:
    """conftest's `up` provider with prices on gpt-test, embed-test and img-test, and a
    model `unpriced-test` that has none."""
    providers = upstream_providers(fake_url, **extra)
    priced = {"gpt-test": GPT_PRICE, "embed-test": EMBED_PRICE, "img-test": IMAGE_PRICE}
    models = []
    for entry in providers["providers"]["up"]["models"]:
        name = entry if isinstance(entry, str) else entry["id"]
        item = {"id": entry} if isinstance(entry, str) else dict(entry)
        models.append({**item, "price": dict(priced[name])} if name in priced else entry)
    providers["providers"]["up"]["models"] = [*models, "unpriced-test"]
    return providers


def send(
    method: str, url: str, body: Any = None, key: str | None = None, **headers: str
) -> tuple[int, Message, bytes]:
    """One request on a fresh connection: (status, headers, raw body); errors included."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def chat_body(model: str, content: str = "hi there", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def usage_report(base: str, credential: str = ADMIN, **query: str) -> dict[str, Any]:
    """GET /v1/usage around today (UTC), as the holder of `credential` sees it."""
    today = datetime.now(UTC).date()
    span = {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1))}
    params = "&".join(f"{k}={v}" for k, v in {**span, **query}.items())
    status, _, raw = send("GET", f"{base}/v1/usage?{params}", key=credential)
    assert status == 200, raw
    report: dict[str, Any] = json.loads(raw)
    return report


def spent_on(base: str, model: str, credential: str = ADMIN) -> float | None:
    """Dollars the usage report shows for `model` (PROVIDER/MODEL); None when unknown."""
    rows = [r for r in usage_report(base, credential)["data"] if r["model"] == model]
    costs = [r["cost_usd"] for r in rows]
    return None if not rows or None in costs else sum(costs)


def stream_events(raw: bytes) -> list[Any]:
    """The `data:` payloads of an SSE body, JSON decoded ([DONE] kept as a string)."""
    found = []
    for line in raw.decode().splitlines():
        if line.startswith("data: "):
            payload = line[6:]
            found.append(payload if payload == "[DONE]" else json.loads(payload))
    return found

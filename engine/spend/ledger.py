"""The usage ledger: requests, tokens and spend by client key, model and day (UTC).

Every answer from a model is recorded once it is complete, in the worker's shared
state (engine/stores): per worker in memory, for every worker and instance in Redis.
Days are kept KEPT_DAYS after their last record. `GET /v1/usage` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from engine.formats.usage import Usage
from engine.providers.prices import NANO, nano
from engine.stores.base import Ledger

KEPT_DAYS = 400
MEASURES = (
    "requests",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cost_nano",
    "unpriced_requests",
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One answer for the ledger: who asked, which model served, what it consumed and cost."""

    key: str | None  # the client key's name; None for an anonymous client
    model: str  # PROVIDER/MODEL that served
    usage: Usage | None
    cost: float | None  # None: the model has no price
    cached: bool = False  # served from the response cache: nothing consumed, nothing spent

    def amounts(self) -> dict[str, int]:
        counts = {"requests": 1}
        if self.cached:
            counts["cache_hits"] = 1
            return counts
        if self.usage is not None:
            counts["prompt_tokens"] = self.usage.input_tokens
            counts["completion_tokens"] = self.usage.output_tokens
        if self.cost is None:
            counts["unpriced_requests"] = 1
        else:
            counts["cost_nano"] = nano(self.cost)
        return counts


def day_of(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")


async def record(ledger: Ledger, entry: Entry, now: float) -> None:
    fields = {_field(entry.key, entry.model, m): n for m, n in entry.amounts().items() if n}
    await ledger.record(day_of(now), fields, KEPT_DAYS * 86400)


async def report(
    ledger: Ledger, start: date, end: date, key: str | None, everyone: bool
) -> list[dict[str, Any]]:
    """Rows of {date, key, model, requests, ..., cost_usd} from `start` to `end`
    inclusive: every key's when `everyone`, else `key`'s alone."""
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    tallies = await ledger.days([d.isoformat() for d in days])
    rows: list[dict[str, Any]] = []
    for day, fields in zip(days, tallies, strict=True):
        grouped: dict[tuple[str | None, str], dict[str, int]] = {}
        for field, amount in fields.items():
            who, model, measure = orjson.loads(field)
            if everyone or who == key:
                grouped.setdefault((who, model), {})[measure] = amount
        for (who, model), counts in sorted(grouped.items(), key=lambda g: (g[0][0] or "", g[0][1])):
            rows.append(_row(day.isoformat(), who, model, counts))
    return rows


def _row(day: str, key: str | None, model: str, counts: dict[str, int]) -> dict[str, Any]:
    row: dict[str, Any] = {"date": day, "key": key, "model": model}
    row.update({m: counts.get(m, 0) for m in MEASURES if m != "cost_nano"})
    priced = row["requests"] - row["cache_hits"] - row["unpriced_requests"]
    # Unknown, not zero, when no request of the row had a price.
    row["cost_usd"] = counts.get("cost_nano", 0) / NANO if priced or row["cache_hits"] else None
    return row


def _field(key: str | None, model: str, measure: str) -> str:
    return orjson.dumps([key, model, measure]).decode()

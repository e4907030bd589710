"""The usage ledger: requests, tokens and spend by client key, model and day (UTC).

Every answer from a model is recorded once it is complete, in the worker's shared
state (engine/stores): per worker in memory, for every worker and instance in Redis.
Days are kept KEPT_DAYS after their last record. `GET /v1/usage` reads it back; while
neither an admin key nor a client key is configured no one may, and nothing is
recorded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

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


class Entry(NamedTuple):
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


class Books:
    """Writes entries to a Ledger; each (key, model)'s field names and the day's name are
    worked out once, not for every answer."""

    def __init__(self) -> None:
        self._fields: dict[tuple[str | None, str], dict[str, str]] = {}
        self._day = ""
        self._day_ends = 0.0

    async def record(self, ledger: Ledger, entry: Entry, now: float) -> None:
        names = self._fields.get((entry.key, entry.model))
        if names is None:
            if len(self._fields) > 10_000:  # keys x models: bounded all the same
                self._fields.clear()
            names = {m: _field(entry.key, entry.model, m) for m in MEASURES}
            self._fields[(entry.key, entry.model)] = names
        amounts = {names[m]: n for m, n in entry.amounts().items() if n}
        await ledger.record(self._day_of(now), amounts, KEPT_DAYS * 86400)

    def _day_of(self, now: float) -> str:
        if now >= self._day_ends or now < self._day_ends - 86400:
            self._day = day_of(now)
            self._day_ends = (now // 86400 + 1) * 86400  # UTC days are 86400 s long
        return self._day


def day_of(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")


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

"""Budget windows: which counters a window covers at a moment, and when spend leaves it.

A calendar window (`day`, `week` from Monday, `month`; UTC) is one counter per period
that resets at the period's end. A rolling window (`12h`, `30d`) is counted in slices
(5 minutes to a day, at most 48 per window unless the window is longer than 48 days):
it covers the slice under way and those before it, and spend leaves it a slice at a
time, as each slice falls out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

CALENDAR = ("day", "week", "month")
SLICES = (300, 900, 3600, 86400)  # seconds
MAX_SLICES = 48
DAY = 86400


@dataclass(frozen=True, slots=True)
class Span:
    """The counters a window covers now, oldest first (the last is the one charged), and
    when each one's spend leaves the window; a counter lives `ttl` seconds."""

    buckets: tuple[str, ...]
    ends: tuple[float, ...]
    ttl: int

    def resets_at(self, amounts: list[int], limit: int) -> float:
        """When the spend in the window, `amounts` per bucket, next falls under `limit`."""
        left = sum(amounts)
        for amount, end in zip(amounts, self.ends, strict=True):
            left -= amount
            if left < limit:
                return end
        return self.ends[-1]


def span(window: str, now: float) -> Span:
    """The Span of `window` (a schema-checked spec) at `now` (Unix time)."""
    if window in CALENDAR:
        return _calendar(window, now)
    seconds = int(window[:-1]) * (3600 if window.endswith("h") else DAY)
    return _rolling(seconds, now)


def _calendar(window: str, now: float) -> Span:
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if window == "day":
        start, end = day, day + timedelta(days=1)
    elif window == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    ends = end.timestamp()
    return Span((f"{window}:{start:%Y-%m-%d}",), (ends,), math.ceil(ends - now) + DAY)


def _rolling(seconds: int, now: float) -> Span:
    size = next((s for s in SLICES if seconds / s <= MAX_SLICES), SLICES[-1])
    count = math.ceil(seconds / size)
    current = int(now // size)
    indexes = range(current - count + 1, current + 1)
    return Span(
        tuple(f"{seconds}s/{size}:{i}" for i in indexes),
        tuple(float((i + count) * size) for i in indexes),
        seconds + size,
    )

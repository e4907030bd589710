"""`GET /search`'s query string -> a checked `Query`; anything out of range is a 400 naming it.

| parameter | values | default |
|---|---|---|
| q | 1 to 400 characters, not blank (the longest query Brave takes) | required |
| engine | a name under `search.engines` | `search.default` |
| type | text, news, images, videos, suggestions, answers | text |
| max_results (or count) | integer 1 to 50 | 10 |
| page | integer 1 to 10 | 1 |
| region | country-language, "us-en", "de-de"; "wt-wt" for none | the engine's |
| safesearch | off, moderate, strict | the engine's |
| time_range | day, week, month, year | none |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

from engine.errors import InvalidRequest
from engine.search.base import SAFESEARCH, SEARCH_TYPES, TIME_RANGES, Query

MAX_QUERY = 400
MAX_RESULTS = 50
DEFAULT_RESULTS = 10
MAX_PAGE = 10
REGION = re.compile(r"[a-z]{2}-[a-z]{2}")

Choice = TypeVar("Choice", bound=str)


def parse_query(params: Mapping[str, str]) -> tuple[Query, str | None]:
    """The query and the engine asked for (None: the default)."""
    count = params.get("max_results", params.get("count"))
    query = Query(
        text=search_text(params.get("q")),
        type=_choice(params, "type", SEARCH_TYPES) or "text",
        max_results=_integer(
            "max_results" if "max_results" in params else "count",
            count,
            MAX_RESULTS,
            DEFAULT_RESULTS,
        ),
        page=_integer("page", params.get("page"), MAX_PAGE, 1),
        region=_region(params.get("region")),
        safesearch=_choice(params, "safesearch", SAFESEARCH),
        time_range=_choice(params, "time_range", TIME_RANGES),
    )
    return query, params.get("engine") or None


def search_text(value: str | None, param: str = "q") -> str:
    """The query text, stripped; blank or longer than MAX_QUERY characters is a 400."""
    found = (value or "").strip()
    if not found:
        raise InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    if len(found) > MAX_QUERY:
        raise InvalidRequest(
            f"'{param}' may be at most {MAX_QUERY} characters long, got {len(found)}.",
            param=param,
        )
    return found


def _integer(param: str, value: str | None, most: int, default: int) -> int:
    if value is None:
        return default
    number = int(value) if re.fullmatch(r"[0-9]{1,6}", value.strip()) else 0
    if not 1 <= number <= most:
        raise InvalidRequest(
            f"'{param}' must be an integer from 1 to {most}, got {value[:50]!r}.", param=param
        )
    return number


def _choice(params: Mapping[str, str], param: str, allowed: tuple[Choice, ...]) -> Choice | None:
    value = params.get(param)
    if value is None:
        return None
    for choice in allowed:
        if value.strip().lower() == choice:
            return choice
    raise InvalidRequest(
        f"'{param}' must be one of {', '.join(allowed)}, got {value[:50]!r}.", param=param
    )


def _region(value: str | None) -> str | None:
    if value is None:
        return None
    region = value.strip().lower()
    if not REGION.fullmatch(region):
        raise InvalidRequest(
            f"'region' must be country-language like us-en, de-de or wt-wt, got {value[:50]!r}.",
            param="region",
        )
    return region

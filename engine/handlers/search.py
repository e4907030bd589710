"""GET /search and GET /search/provider: web search over the engines in providers.yaml.

`GET /search?q=...&engine=NAME&count=N` asks the named engine (else the default) and
answers `{"object": "list", "engine", "query", "data": [{"title", "url", "snippet"}]}`.
`GET /search/provider` lists every declared engine with its kind and status.
"""

from __future__ import annotations

from engine.errors import InvalidRequest
from engine.http.messages import Request, Response

DEFAULT_COUNT = 10
MAX_COUNT = 50


def _count(value: str | None) -> int:
    """`count` as given, else DEFAULT_COUNT; anything but an integer 1..MAX_COUNT is a 400."""
    if value is None:
        return DEFAULT_COUNT
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_COUNT:
        raise InvalidRequest(
            f"count must be an integer from 1 to {MAX_COUNT}, got {value!r}.", param="count"
        )
    return count


async def query(req: Request) -> Response:
    params = req.query()
    text = params.get("q", "").strip()
    if not text:
        raise InvalidRequest("Missing required parameter: 'q'.", param="q")
    count = _count(params.get("count"))
    engine = req.snapshot.search.engine(params.get("engine") or None)
    results = await engine.search(req.services.upstream, text, count)
    return Response.json(
        {
            "object": "list",
            "engine": engine.name,
            "query": text,
            "data": [result.public() for result in results],
        },
        headers={"x-patchbay-provider": engine.name, "x-patchbay-attempts": "1"},
    )


async def list_engines(req: Request) -> Response:
    search = req.snapshot.search
    default = search.default_name()
    data = [
        {**engine.spec.public(), "default": name == default}
        for name, engine in search.engines.items()
    ]
    return Response.json({"object": "list", "default": default, "data": data})

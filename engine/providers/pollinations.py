"""The `pollinations` kind: keyless text (OpenAI-compatible) and images (a GET per image).

Text goes to `POST {base_url}/openai`, whose body and answer are OpenAI chat, so they are
relayed. An image is `GET {image_base_url}/prompt/{prompt}?width=..&height=..` answering
the image bytes; `images()` wraps them (or their URL) in an OpenAI ImagesResponse.
"""

from __future__ import annotations

import asyncio
import base64
import random
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from engine.errors import InvalidRequest, UpstreamFailed
from engine.providers.base import BEARER, Call, Provider, ProviderKind, request_headers
from engine.providers.openai import relay_openai_stream
from engine.upstream.client import UpstreamResponse

DEFAULT_TEXT_URL = "https://text.pollinations.ai"
DEFAULT_IMAGE_URL = "https://image.pollinations.ai"
DEFAULT_SIZE = (1024, 1024)
MAX_IMAGES = 10

# OpenAI image parameters that are not Pollinations query parameters; the rest of the body
# (seed, enhance, nologo, private, safe, negative_prompt, ...) passes through.
_OPENAI_IMAGE_KEYS = frozenset(
    [
        "prompt",
        "model",
        "n",
        "size",
        "response_format",
        "user",
        "quality",
        "style",
        "background",
        "moderation",
        "output_format",
        "output_compression",
        "stream",
        "partial_images",
    ]
)
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*$")


def parse_size(size: Any) -> tuple[int, int]:
    """`"WxH"` -> (W, H); absent or "auto" -> 1024x1024; anything else is a 400 on `size`."""
    if size is None or size == "auto":
        return DEFAULT_SIZE
    match = _SIZE.match(size) if isinstance(size, str) else None
    if match is None or not all(int(g) > 0 for g in match.groups()):
        raise InvalidRequest(
            f"size must look like '1024x1024' (width x height), got {size!r}.", param="size"
        )
    return int(match.group(1)), int(match.group(2))


def _query_value(value: Any) -> str | None:
    """How a body extra reads in a query string; None for values that cannot be one."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def image_query(body: Mapping[str, Any], model: str, seed: int) -> dict[str, str]:
    """The query parameters of one image request: size, model, seed, then the extras."""
    width, height = parse_size(body.get("size"))
    query = {"width": str(width), "height": str(height), "model": model, "nologo": "true"}
    for key, value in body.items():
        text = _query_value(value)
        if key not in _OPENAI_IMAGE_KEYS and text is not None:
            query[key] = text
    query["seed"] = str(seed)
    return query


def image_url(base: str, prompt: str, query: Mapping[str, str]) -> str:
    """The image's URL: the prompt is one path segment, so `/` and `?` are escaped too."""
    return f"{base.rstrip('/')}/prompt/{quote(prompt, safe='')}?{urlencode(query)}"


def _seeds(body: Mapping[str, Any], n: int) -> list[int]:
    # A given seed makes the first image reproducible; the others count up from it.
    seed = body.get("seed")
    first = (
        seed if isinstance(seed, int) and not isinstance(seed, bool) else random.randrange(1 << 31)
    )
    return [first + i for i in range(n)]


class Pollinations(ProviderKind):
    """Pollinations.ai: chat relayed as OpenAI, images fetched by URL. No key needed."""

    name = "pollinations"

    def __init__(self, provider: Provider) -> None:
        super().__init__(provider)
        # Built once per snapshot. A token goes in a header, never in a URL a client may
        # be handed (image URLs are).
        json = {"Accept": "application/json", "Content-Type": "application/json"}
        self._chat_headers = provider.fixed_headers(json, BEARER)
        self._image_headers = provider.fixed_headers({"Accept": "image/*"}, BEARER)

    @property
    def text_url(self) -> str:
        return (self.provider.base_url or DEFAULT_TEXT_URL).rstrip("/")

    @property
    def image_base_url(self) -> str:
        return str(self.provider.options.get("image_base_url") or DEFAULT_IMAGE_URL)

    async def _post_chat(self, call: Call) -> UpstreamResponse:
        return await call.upstream.open(
            "POST",
            self.provider.with_query(self.text_url + "/openai"),
            provider=self.provider.name,
            headers=request_headers(self._chat_headers, call),
            body=orjson.dumps({**call.body, "model": call.model.id}),
            timeout=self.provider.timeout,
            secret=self.provider.api_key,
        )

    async def chat(self, call: Call) -> bytes:
        return await (await self._post_chat(call)).read()

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        return relay_openai_stream(await self._post_chat(call), self.provider)

    async def images(self, call: Call) -> bytes:
        """One GET per image, concurrently; each is fetched even for `url`, so a failure
        is reported here rather than as a broken link, and the client's fetch is cached."""
        prompt = call.body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidRequest("prompt must be a non-empty string.", param="prompt")
        n = 1 if call.body.get("n") is None else call.body["n"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_IMAGES:
            raise InvalidRequest(f"n must be an integer from 1 to {MAX_IMAGES}.", param="n")
        response_format = call.body.get("response_format") or "url"
        if response_format not in ("url", "b64_json"):
            raise InvalidRequest(
                "response_format must be 'url' or 'b64_json'.", param="response_format"
            )
        urls = [
            image_url(self.image_base_url, prompt, image_query(call.body, call.model.id, seed))
            for seed in _seeds(call.body, n)
        ]
        images = await asyncio.gather(*(self._fetch(call, url) for url in urls))
        if response_format == "url":
            data = [{"url": url} for url in urls]
        else:
            data = [{"b64_json": base64.b64encode(image).decode()} for image in images]
        return orjson.dumps({"created": int(time.time()), "data": data})

    async def _fetch(self, call: Call, url: str) -> bytes:
        resp = await call.upstream.open(
            "GET",
            url,
            provider=self.provider.name,
            headers=request_headers(self._image_headers, call),
            timeout=self.provider.timeout,
            secret=self.provider.api_key,
        )
        content_type = resp.headers.get("Content-Type", "")
        image = await resp.read()
        if not content_type.startswith("image/") or not image:
            raise UpstreamFailed(
                f"Provider '{self.provider.name}' answered {content_type or 'no content type'} "
                "instead of an image."
            )
        return image

"""The OpenAPI 3.1 document of what a Snapshot serves, so the docs cannot drift.

Paths come from the snapshot's enabled routes (a disabled route vanishes at the next
reload), request bodies from the schemas the handlers validate with, and everything
else from OPERATIONS: one entry per handler name that routes.yaml may use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from engine.modeltypes import MODEL_TYPES
from engine.search.base import SAFESEARCH, SEARCH_TYPES, TIME_RANGES
from engine.site.response_schemas import SCHEMAS, SSE_EVENT, Schema
from engine.snapshot.model import PATH_PARAM, Route, Snapshot

SEARCH_QUERY = (
    {
        "name": "q",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "pattern": "\\S", "maxLength": 400},
    },
    {"name": "engine", "in": "query", "schema": {"type": "string"}},
    {"name": "type", "in": "query", "schema": {"enum": list(SEARCH_TYPES), "default": "text"}},
    {
        "name": "max_results",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
    },
    {"name": "count", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}},
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10}},
    {
        "name": "region",
        "in": "query",
        "schema": {"type": "string", "pattern": "^[a-zA-Z]{2}-[a-zA-Z]{2}$"},
    },
    {"name": "safesearch", "in": "query", "schema": {"enum": list(SAFESEARCH)}},
    {"name": "time_range", "in": "query", "schema": {"enum": list(TIME_RANGES)}},
)
EXPLAIN_QUERY = (
    {
        "name": "model",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    },
    {"name": "key", "in": "query", "schema": {"type": "string"}},
    {"name": "type", "in": "query", "schema": {"enum": list(MODEL_TYPES)}},
)
TYPE_QUERY = (
    {
        "name": "type",
        "in": "query",
        "description": "only models of this type (a route's fixed `type` wins)",
        "schema": {"enum": list(MODEL_TYPES)},
    },
)
CONFIG_QUERY = (
    {
        "name": "variables",
        "in": "query",
        "description": "Comma-separated variable names: the answer says which are set.",
        "schema": {"type": "string"},
    },
)

# How an upload's `file` part is sent: audio, under a file name whose extension names it.
UPLOAD_ENCODING = {
    "file": {
        "contentType": "audio/*, video/mp4, video/webm, application/octet-stream",
        "headers": {
            "Content-Disposition": {
                "schema": {
                    "type": "string",
                    "example": 'form-data; name="file"; filename="clip.wav"',
                }
            }
        },
    }
}

ANTHROPIC_VERSION = {
    "name": "anthropic-version",
    "in": "header",
    "description": "sent by Anthropic's SDKs: the answer takes Anthropic's shape",
    "schema": {"type": "string"},
}


USAGE_QUERY = (
    {"name": "start", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "end", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "key", "in": "query", "schema": {"type": "string"}},
)


@dataclass(frozen=True, slots=True)
class Operation:
    """What the docs say about one handler, wherever routes.yaml mounts it.

    `request` and `response` name entries of SCHEMAS; a response of None is any JSON.
    """

    summary: str
    tag: str
    response: str | None = None
    request: str | None = None
    stream: bool = False  # `"stream": true` answers text/event-stream
    query: tuple[dict[str, Any], ...] = ()
    media: Literal["application/json", "text/plain", "text/html", "audio/*"] = "application/json"
    text: bool = False  # it may also answer text/plain (a transcript as text, srt or vtt)
    upload: bool = False  # its body is multipart/form-data, spooled (max_upload_size)
    admin: bool = False
    admin_if_set: bool = False  # open while no admin key is set; else it wants it (or Basic)
    store: bool = False  # served only while a responses_store is configured
    description: str = ""
    headers: tuple[dict[str, Any], ...] = ()  # header parameters
    error: str = "Error"  # the schema of its error answers (the route's wire format)


OPERATIONS: dict[str, Operation] = {
    "chat.completions": Operation(
        "Create a chat completion",
        "Chat",
        "ChatCompletion",
        "ChatCompletionRequest",
        stream=True,
        description="OpenAI's chat completions. With `stream: true` the answer is "
        "server-sent events, `data: {chunk}` ... `data: [DONE]`; a failure after the "
        'first event is a `data: {"error": ...}` event.',
    ),
    "responses.create": Operation(
        "Create a model response",
        "Responses",
        "Response",
        "ResponsesRequest",
        stream=True,
        description="OpenAI's Responses API over every provider: a provider declared "
        "`responses: native` is asked as it is, any other gets it as chat completions. "
        "With `stream: true` the answer is the Responses event stream (`response.created` "
        "... `response.completed`); a failure after the first event is an `error` event "
        "and `response.failed`. `previous_response_id`, and `store: true` keeping the "
        "answer, need a `responses_store` in config/server.yaml.",
    ),
    "responses.get": Operation(
        "Retrieve a stored response",
        "Responses",
        "Response",
        store=True,
        description="A response this client key stored (`store: true`).",
    ),
    "responses.delete": Operation(
        "Delete a stored response",
        "Responses",
        "ResponseDeleted",
        store=True,
        description="Forgets a response this client key stored.",
    ),
    "messages.create": Operation(
        "Create a message (Anthropic's Messages API)",
        "Messages",
        "Message",
        "MessagesRequest",
        stream=True,
        error="AnthropicError",
        description="Anthropic's Messages API over every provider: passed through to "
        "`anthropic` providers (with `anthropic-version` and `anthropic-beta`), translated "
        "to chat completions for the others. With `stream: true` the answer is Anthropic's "
        "named events, `message_start` ... `message_stop`; a failure after the first event "
        "is an `event: error`.",
    ),
    "messages.count_tokens": Operation(
        "Count a message's input tokens",
        "Messages",
        "MessageTokensCount",
        "CountTokensRequest",
        error="AnthropicError",
        description="Asked of `anthropic` providers. For other models: an estimate when "
        "`count_tokens_estimate` is on (marked `x-patchbay-estimate: true`), else a 400.",
    ),
    "embeddings.create": Operation(
        "Create embeddings", "Embeddings", "EmbeddingList", "EmbeddingsRequest"
    ),
    "images.generations": Operation("Generate images", "Images", "ImagesResponse", "ImagesRequest"),
    "audio.speech": Operation(
        "Create speech",
        "Audio",
        request="SpeechRequest",
        media="audio/*",
        stream=True,
        description="Text to speech: the upstream's audio (mp3, opus, aac, flac, wav or "
        "pcm, with its Content-Type) is relayed as it arrives. With `stream_format: sse`, "
        "`speech.audio.delta` events then `speech.audio.done`. The `echo` provider answers "
        "a WAV with the text in its ICMT chunk.",
    ),
    "audio.transcriptions": Operation(
        "Create a transcription",
        "Audio",
        "Transcription",
        "TranscriptionRequest",
        stream=True,
        text=True,
        upload=True,
        description="Speech to text from a multipart upload, spooled to a temporary file "
        "(never held in memory) and sent upstream with only `model` changed; above "
        "`max_upload_size` a 413. `response_format` text, srt and vtt answer text/plain; "
        "`stream: true`, `transcript.text.delta` events then `transcript.text.done`.",
    ),
    "audio.translations": Operation(
        "Create a translation",
        "Audio",
        "Transcription",
        "TranscriptionRequest",
        stream=True,
        text=True,
        upload=True,
        description="Speech in any language to English text; the upload and the answer "
        "as for transcriptions.",
    ),
    "models.list": Operation(
        "List models",
        "Models",
        "ModelLists",
        query=TYPE_QUERY,
        headers=(ANTHROPIC_VERSION,),
        description="Every enabled, usable `PROVIDER/MODEL` id, then the aliases. With "
        "`anthropic-version`, Anthropic's list, paged by `limit`, `after_id`, `before_id`.",
    ),
    "models.get": Operation(
        "Retrieve a model",
        "Models",
        "Models",
        headers=(ANTHROPIC_VERSION,),
        description="The id may contain `/`. With `anthropic-version`, Anthropic's shape.",
    ),
    "providers.list": Operation(
        "List providers",
        "Providers",
        "ProviderList",
        query=TYPE_QUERY,
        description="Never shows a key. With a model `type`, the providers declaring "
        "models of it, with those models alone.",
    ),
    "search.query": Operation(
        "Search the web",
        "Search",
        "SearchResults",
        query=SEARCH_QUERY,
        description="Asks `engine` (else the default engine, then `search.fallback`) for "
        "`max_results` results of `type`; `x-patchbay-cache` says HIT or MISS.",
    ),
    "search.providers": Operation(
        "List search engines",
        "Search",
        "SearchEngineList",
        description="With kind, status, types and parameters.",
    ),
    "usage.report": Operation(
        "Spend and tokens by key, model and day",
        "Usage",
        query=USAGE_QUERY,
        description="The admin key sees every client key (`key` narrows it to one); a "
        "client key sees its own, with its budgets. Rows: `date`, `key`, `model`, "
        "`requests`, `cache_hits`, `prompt_tokens`, `completion_tokens`, "
        "`unpriced_requests`, `cost_usd` (null when no request of the row had a price).",
    ),
    "health.live": Operation("Liveness: the process answers", "Health"),
    "health.ready": Operation("Readiness: a config is loaded", "Health"),
    "metrics.scrape": Operation("Prometheus metrics", "Health", media="text/plain"),
    "admin.reload": Operation("Re-read the config now", "Admin", admin=True),
    "admin.config": Operation(
        "Config status: hash, load time, last error, what is served",
        "Admin",
        query=CONFIG_QUERY,
        admin=True,
        description="`config` describes what the snapshot serves (secrets stay references), "
        "for `patchbay check --against`.",
    ),
    "dashboard.page": Operation(
        "The operator dashboard",
        "Dashboard",
        media="text/html",
        admin_if_set=True,
        description="A page that polls the dashboard data every 2 s and draws requests "
        "per second, error rate, latency and time to first token (p50, p95), tokens per "
        "minute by model, providers' health and the reload history. Open while no admin "
        "key is set; with one, a missing or wrong key is a 401 with a Basic challenge, so "
        "a browser asks for it (any user name, the admin key as password).",
    ),
    "dashboard.data": Operation(
        "The dashboard's data",
        "Dashboard",
        "DashboardData",
        admin_if_set=True,
        description="Cumulative counts of every worker (requests, 5xx and 4xx, latency and "
        "time-to-first-token buckets, tokens by model and type, upstream attempts by "
        "provider and outcome) and the state now (providers' health, shared state, the "
        "config, the last 20 reloads with a rejected edit's problems). Open while no admin "
        "key is set; with one, it wants it as a bearer token, `x-admin-key` or Basic auth.",
    ),
    "admin.explain": Operation(
        "How a model name resolves",
        "Admin",
        query=EXPLAIN_QUERY,
        admin=True,
        description="Alias or model, its targets in order with strategy, each target's "
        "provider status, cooldown state and parameter policy, and whether a client key "
        "may use it (`patchbay explain`).",
    ),
}

_COMPONENT = "#/components/schemas/"


def openapi_document(snapshot: Snapshot) -> dict[str, Any]:
    """The whole document for `snapshot`: info from server.yaml, paths from routes.yaml."""
    settings = snapshot.settings
    served = _served_models(snapshot)
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for route in snapshot.routes.routes:
        if not route.enabled or not _served(route, snapshot):
            continue
        path = PATH_PARAM.sub(r"{\1}", snapshot.routes.prefix + route.path)
        for method in sorted(route.methods - {"HEAD"}):
            operation = _operation(route, method, used_ids, served)
            paths.setdefault(path, {})[method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": settings.api.title,
            "description": settings.api.description,
            "version": settings.api.version,
        },
        "paths": paths,
        "components": {
            "schemas": _with_model_examples(_used_schemas(paths), served),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
    }
    if settings.auth.required:
        document["security"] = [{"bearer": []}, {"apiKey": []}]  # either header
    return document


def _served(route: Route, snapshot: Snapshot) -> bool:
    """Admin routes answer 404 while no admin key is set, stored responses while no
    responses_store is: the document leaves them out then."""
    doc = OPERATIONS.get(route.handler)
    if doc is None:
        return True
    settings = snapshot.settings
    if doc.admin and not settings.auth.admin_key:
        return False
    return not (doc.store and settings.responses_store.backend == "none")


def _served_models(snapshot: Snapshot) -> dict[str, list[str]]:
    """Request schema name -> the model ids of its type that the snapshot serves."""
    return {
        kind.request: [
            i for i in snapshot.model_ids() if snapshot.plans[i].targets[0].model.type == name
        ]
        for name, kind in MODEL_TYPES.items()
    }


def _operation(
    route: Route, method: str, used_ids: set[str], served: dict[str, list[str]]
) -> dict[str, Any]:
    doc = OPERATIONS.get(route.handler) or Operation(route.handler, "Other")
    responses: dict[str, Any] = {"200": _success(doc)}
    op: dict[str, Any] = {
        "operationId": _unique(re.sub(r"\W", "_", route.handler), used_ids),
        "summary": doc.summary,
        "tags": [doc.tag],
        "responses": responses,
    }
    if doc.description:
        op["description"] = doc.description
    parameters = [_path_parameter(m) for m in PATH_PARAM.finditer(route.path)]
    parameters += [*doc.query, *doc.headers]
    if parameters:
        op["parameters"] = parameters
    if doc.request is not None and method in ("POST", "PUT", "PATCH"):
        body = _ref(doc.request)
        models = served.get(doc.request)
        if models:
            example = next(t.example for t in MODEL_TYPES.values() if t.request == doc.request)
            body["example"] = {"model": models[0], **example}
        media = "multipart/form-data" if doc.upload else "application/json"
        if doc.upload:
            body["encoding"] = UPLOAD_ENCODING
        op["requestBody"] = {"required": True, "content": {media: body}}
        responses["400"] = _error(
            "Bad JSON or multipart, or the body breaks the schema (it names the field)",
            doc.error,
        )
        limit = "max_upload_size" if doc.upload else "max_request_size"
        responses["413"] = _error(f"The body is larger than `{limit}`", doc.error)
    if doc.admin or doc.admin_if_set:
        op["security"] = [{"bearer": []}, {"basic": []}] if doc.admin_if_set else [{"bearer": []}]
        responses["401"] = _error("The admin key is missing or wrong")
    if doc.admin:
        responses["404"] = _error("No admin key is configured")
    shape = (
        "An Anthropic-shaped error" if doc.error == "AnthropicError" else "An OpenAI-shaped error"
    )
    responses["default"] = _error(shape, doc.error)
    return op


def _ref(name: str) -> dict[str, Any]:
    return {"schema": {"$ref": _COMPONENT + name}}


def _success(doc: Operation) -> dict[str, Any]:
    if doc.response is not None:
        body = _ref(doc.response)
    elif doc.media == "audio/*":
        body = {"schema": {"type": "string", "format": "binary"}}
    else:
        body = {"schema": {"type": "object" if doc.media == "application/json" else "string"}}
    content: dict[str, Any] = {doc.media: body}
    if doc.text:
        content["text/plain"] = {"schema": {"type": "string"}}
    if doc.stream:
        # Before OpenAPI 3.2 (`itemSchema`), an event stream's schema describes one event.
        content["text/event-stream"] = {"schema": SSE_EVENT}
    return {"description": "OK", "content": content}


def _error(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": _ref(schema)}}


def _used_schemas(paths: dict[str, Any]) -> dict[str, Schema]:
    """The SCHEMAS entries the paths refer to, directly or through other schemas."""
    used: set[str] = set()
    pending = list(_refs(paths))
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending += _refs(SCHEMAS[name])
    return {name: schema for name, schema in SCHEMAS.items() if name in used}


def _with_model_examples(
    schemas: dict[str, Schema], served: dict[str, list[str]]
) -> dict[str, Schema]:
    """Request schemas whose `model` lists the ids served now, so examples are real."""
    out = dict(schemas)
    for name, ids in served.items():
        if name in out and ids:
            properties = out[name]["properties"]
            model = {**properties["model"], "examples": ids[:10]}
            out[name] = {**out[name], "properties": {**properties, "model": model}}
    return out


def _refs(node: Any) -> Iterator[str]:
    """Names of the components that `node` refers to, at any depth."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_COMPONENT):
            yield ref[len(_COMPONENT) :]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _path_parameter(match: re.Match[str]) -> dict[str, Any]:
    name, converter = match.group(1), match.group(2) or "str"
    schema: Schema = {"type": "integer"} if converter == "int" else {"type": "string"}
    parameter: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": schema}
    if converter == "path":
        parameter["description"] = "may contain '/'"
    return parameter


def _unique(name: str, used: set[str]) -> str:
    """Operation ids are unique even when two routes share a handler."""
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name}_{n}"
    used.add(candidate)
    return candidate

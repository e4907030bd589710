"""POST /v1/audio/speech, /v1/audio/transcriptions and /v1/audio/translations.

Speech is relayed as the upstream sends it, bytes and Content-Type (or its
`speech.audio.*` events), so the first sound reaches the client as soon as the
upstream's does. Transcriptions take a multipart upload that the front door spooled
to a file (engine/http/uploads.py): its fields are checked here, and each attempt
re-sends it from the file with only `model` changed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import orjson

from engine.errors import InvalidRequest, UpstreamFailed
from engine.formats.multipart import Form, read_form
from engine.handlers.body import BodySchema
from engine.handlers.schemas import (
    AUDIO_FILE_TYPES,
    SPEECH_REQUEST,
    TRANSCRIPTION_FORMATS,
)
from engine.http.messages import Request, Response, Stream
from engine.providers.base import Call, ProviderKind, Relayed
from engine.routing.dispatch import dispatch, plan_for

GRANULARITIES = ("word", "segment")


class Speech:
    def __init__(self) -> None:
        self.body = BodySchema(SPEECH_REQUEST)

    async def __call__(self, req: Request) -> Stream:
        body = self.body(req)
        body.setdefault("model", "auto")
        plan = plan_for(req, body, "speech")
        (relayed, head), served = await dispatch(req, plan, body, _first_bytes)
        req.services.metrics.count_audio("speech_characters", len(body["input"]))
        sse = relayed.content_type.startswith("text/event-stream")
        return Stream(
            head,
            relayed.chunks,
            served.headers(),
            content_type=relayed.content_type,
            raw=not sse,
        )


async def _first_bytes(kind: ProviderKind, call: Call) -> tuple[Relayed, bytes]:
    """The answer and its first bytes: a failure until then may still be retried."""
    relayed = await kind.speech(call)
    return relayed, await anext(relayed.chunks, b"")


class Transcriptions:
    """`task` is "transcriptions" (in the spoken language) or "translations" (English)."""

    def __init__(self, task: str) -> None:
        self.task = task

    async def __call__(self, req: Request) -> Response | Stream:
        if req.upload is None:  # the route was mounted on a handler table without uploads
            raise InvalidRequest("This route takes a multipart/form-data upload.")
        content_type = req.headers.get("content-type", "")
        form = await asyncio.to_thread(read_form, req.upload, content_type)
        fields = form_fields(form)
        plan = plan_for(req, fields, "transcription")

        async def transcribe(kind: ProviderKind, call: Call) -> Relayed:
            return await kind.transcription(call, form, self.task)

        relayed, served = await dispatch(req, plan, fields, transcribe)
        if fields.get("stream"):
            return Stream(b"", relayed.chunks, served.headers(), content_type=relayed.content_type)
        limit = req.snapshot.settings.max_response_size
        body = await _whole(relayed.chunks, limit, served.target.provider.name)
        _count_seconds(req, body, relayed.content_type)
        return Response(body, headers=served.headers(), content_type=relayed.content_type)


def form_fields(form: Form) -> dict[str, Any]:
    """The form's text fields as a request body; a bad field is a 400 naming it."""
    for part in form.parts:
        if part.filename is not None and part.name != "file":
            raise _bad(part.name, f"'{part.name}' must be a text field, not a file.")
    file = form.file("file")
    if file is None:
        wrong = "file" in form.fields
        message = "'file' must be a file upload, not a text field." if wrong else None
        raise _bad("file", message or "Missing required parameter: 'file'.")
    # A name without an extension (SDKs send raw bytes as "upload") is left to the upstream.
    _, dot, extension = (file.filename or "").rpartition(".")
    if dot and extension.lower() not in AUDIO_FILE_TYPES:
        raise _bad(
            "file",
            f"Unsupported file format '{extension}'; use one of {', '.join(AUDIO_FILE_TYPES)}.",
        )
    if file.size == 0:
        raise _bad("file", "The uploaded file is empty.")
    fields: dict[str, Any] = {name: form.value(name) for name in form.fields}
    fields.pop("timestamp_granularities[]", None)
    fields.setdefault("model", "auto")
    if not fields["model"]:
        raise _bad("model", "'model' must not be empty.")
    _choices(fields, "response_format", TRANSCRIPTION_FORMATS)
    if "temperature" in fields:
        fields["temperature"] = _temperature(fields["temperature"])
    if "stream" in fields:
        fields["stream"] = _flag(fields["stream"], "stream")
    granularities = form.fields.get("timestamp_granularities[]", ())
    for value in granularities:
        if value not in GRANULARITIES:
            raise _bad("timestamp_granularities[]", f"'{value}' is not one of word, segment.")
    if granularities:
        fields["timestamp_granularities[]"] = list(granularities)
    return fields


def _choices(fields: dict[str, Any], name: str, allowed: list[str]) -> None:
    if name in fields and fields[name] not in allowed:
        raise _bad(name, f"'{fields[name]}' is not one of {', '.join(allowed)}.")


def _temperature(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise _bad("temperature", "'temperature' must be a number from 0 to 1.")
    return value


def _flag(raw: str, name: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise _bad(name, f"'{name}' must be true or false.")
    return raw.lower() == "true"


def _bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


async def _whole(chunks: AsyncIterator[bytes], limit: int, provider: str) -> bytes:
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            await chunks.aclose()  # type: ignore[attr-defined]
            raise UpstreamFailed(
                f"Provider '{provider}' sent a transcript larger than max_response_size."
            )
        parts.append(chunk)
    return b"".join(parts)


def _count_seconds(req: Request, body: bytes, content_type: str) -> None:
    """Seconds of audio transcribed, when the answer says (`usage` or `duration`)."""
    if not content_type.startswith("application/json"):
        return
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return
    if not isinstance(answer, dict):
        return
    usage = answer.get("usage")
    seconds = usage.get("seconds") if isinstance(usage, dict) else answer.get("duration")
    if isinstance(seconds, int | float) and seconds > 0:
        req.services.metrics.count_audio("transcribed_seconds", float(seconds))

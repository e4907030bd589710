"""A fake OpenAI audio upstream: POST /v1/audio/speech, /transcriptions and /translations.

Speech answers `audio/mpeg` in CLIP_CHUNKS chunks (or `speech.audio.*` events for
`stream_format: sse`). The model name scripts the behaviour: `held` sends its first
chunk, then waits for `release()` before the rest; `broken` drops the connection after
its first chunk; `fail-500` answers 500. Transcriptions
answer in the `response_format` asked and remember each upload's fields and file digest.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import threading
import time
from typing import Any

from aiohttp import web

from tests.fakes import FakeUpstream

API_KEY = "sk-audio-Q8vT2mWz5Lx1"
CLIP_CHUNKS = [bytes([0xFF, 0xFB, 0x90, 0x00]) + bytes([i]) * 4092 for i in range(8)]
HOLD_LIMIT = 20.0  # seconds a `held` clip waits for release() at most


class FakeAudio(FakeUpstream):
    prefix = "/v1"
    client_max_size = 64 * 1024**2  # uploads of tens of MiB

    def __init__(self) -> None:
        super().__init__()
        self.uploads: list[dict[str, Any]] = []  # per transcription: fields, size, sha256
        self.finished: list[float] = []  # when each clip's last byte was sent
        self._release = threading.Event()

    def release(self) -> None:
        self._release.set()

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/v1/audio/speech", self.speech)
        app.router.add_post("/v1/audio/transcriptions", self.transcriptions)
        app.router.add_post("/v1/audio/translations", self.transcriptions)

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _error(401, "Incorrect API key provided.")
        return None

    async def speech(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        if body["model"] == "fail-500":
            return _error(500, "the speech server fell over")
        if body.get("stream_format") == "sse":
            return await self._speech_events(request)
        answer = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        await answer.prepare(request)
        if body["model"] == "broken":  # the first chunk, then the connection drops
            await answer.write(CLIP_CHUNKS[0])
            await asyncio.sleep(0.05)
            assert request.transport is not None
            request.transport.close()
            return answer
        for index, chunk in enumerate(CLIP_CHUNKS):
            await answer.write(chunk)
            if index == 0 and body["model"] == "held":
                await self._until_released()
        self.finished.append(time.monotonic())
        await answer.write_eof()
        return answer

    async def _speech_events(self, request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await answer.prepare(request)
        for chunk in CLIP_CHUNKS[:2]:
            audio = base64.b64encode(chunk).decode()
            await answer.write(
                b'data: {"type":"speech.audio.delta","audio":"' + audio.encode() + b'"}\n\n'
            )
        usage = b'{"input_tokens":3,"output_tokens":9,"total_tokens":12}'
        await answer.write(b'data: {"type":"speech.audio.done","usage":' + usage + b"}\n\n")
        await answer.write_eof()
        return answer

    async def _until_released(self) -> None:
        deadline = time.monotonic() + HOLD_LIMIT
        while not self._release.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def transcriptions(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)
        if refused is not None:
            return refused
        fields, files, granularities = _form(request.content_type, await request.read(), request)
        if "file" not in files:
            return _error(400, "file is required")
        filename, data = files["file"]
        self.uploads.append(
            {
                "fields": fields,
                "granularities": granularities,
                "filename": filename,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "content_length": request.headers.get("Content-Length"),
            }
        )
        if fields.get("model", "").startswith("fail-500"):
            return _error(500, "the transcription server fell over")
        text = f"{len(data)} bytes heard by {fields.get('model')}"
        fmt = fields.get("response_format", "json")
        if fmt == "text":
            return web.Response(text=text + "\n", content_type="text/plain")
        if fmt == "verbose_json":
            segment = {"id": 0, "start": 0.0, "end": 1.5, "text": text}
            verbose = {
                "task": "translate" if request.path.endswith("translations") else "transcribe",
                "language": fields.get("language", "english"),
                "duration": 1.5,
                "text": text,
                "segments": [segment],
            }
            return web.json_response(verbose)
        return web.json_response({"text": text, "usage": {"type": "duration", "seconds": 2}})


def _form(
    content_type: str, body: bytes, request: web.Request
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]], list[str]]:
    """Text fields, files and granularities of a multipart body (the stdlib's parser)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + body, policy=email.policy.HTTP)
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    granularities: list[str] = []
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, data)
        elif name == "timestamp_granularities[]":
            granularities.append(data.decode())
        else:
            fields[name] = data.decode()
    return fields, files, granularities


def _error(status: int, message: str) -> web.Response:
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    return web.json_response(body, status=status)

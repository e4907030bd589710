"""Responses API streams: chat chunks translated into the documented event lifecycle, and
a native upstream's own events watched as they pass.

A translated stream reads, numbered from 0: `response.created`, `response.in_progress`;
then for each output item `response.output_item.added`, its content
(`response.content_part.added`, `response.output_text.delta`..., `response.output_text.done`,
`response.content_part.done`) or its arguments (`response.function_call_arguments.delta`...,
`.done`), and `response.output_item.done`; last `response.completed` (or
`response.incomplete`) with the whole Response and its usage. A failure is an `error`
event followed by `response.failed`.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.errors import GatewayError, UpstreamFailed
from engine.formats.responses import (
    Json,
    ResponseHead,
    call_item,
    error_event,
    event_frame,
    failure,
    finish_status,
    message_item,
    new_id,
    refusal_part,
    text_part,
    usage_from_chat,
)
from engine.formats.sse import payloads

DELTA = {"output_text": "response.output_text.delta", "refusal": "response.refusal.delta"}


class ResponseEvents:
    """Feed chat completion chunks (SSE-framed, as a kind yields them); get the framed
    Responses events they stand for. One output item is streamed at a time."""

    def __init__(self, head: ResponseHead, provider: str) -> None:
        self.head = head
        self.provider = provider
        self.response: Json | None = None  # the final Response, once closed
        self._sequence = 0
        self._output: list[Json] = []  # every item so far, the open one last
        self._open: Json | None = None  # the item being streamed
        self._part: str | None = None  # the open content part's type
        self._chunks: list[str] = []  # the open part's text, or the open call's arguments
        self._call = -1  # the chat tool-call index of the open function_call
        self._finished_calls: set[int] = set()
        self._finish: Any = None
        self._usage: Json | None = None

    def start(self) -> bytes:
        snapshot = self.head.snapshot("in_progress", [])
        return self._event("response.created", response=snapshot) + self._event(
            "response.in_progress", response=snapshot
        )

    def feed(self, framed: bytes) -> bytes:
        out = b""
        for payload in payloads(framed):
            if payload.strip() == b"[DONE]":
                continue
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                chunk = None
            if not isinstance(chunk, dict):
                raise UpstreamFailed(f"Provider '{self.provider}' sent an event that is not JSON.")
            out += self._chunk(chunk)
        return out

    def close(self) -> bytes:
        """The end of the stream: the open item done, then the final Response."""
        status, reason = finish_status(self._finish)
        out = self._close_item("incomplete" if status == "incomplete" else "completed")
        if not self._output:  # a text answer always has a message, even an empty one
            out += self._open_part("output_text") + self._close_item("completed")
        self.response = self.head.snapshot(status, self._output, usage=self._usage, reason=reason)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event(kind, response=self.response)

    def fail(self, err: GatewayError) -> bytes:
        """The stream broke: an `error` event, then the Response as failed, what was said kept."""
        if self._open is not None:
            if self._part is not None:
                self._open["content"].append(self._finished_part())
            elif self._open["type"] == "function_call":
                self._open["arguments"] = "".join(self._chunks)
            self._open["status"] = "incomplete"
        snapshot = self.head.snapshot("failed", self._output, error=failure(err))
        out = event_frame(error_event(err, self._next()))
        return out + self._event("response.failed", response=snapshot)

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence - 1

    def _event(self, kind: str, **fields: Any) -> bytes:
        """One event, framed at once (the items it shows change later)."""
        return event_frame({"type": kind, "sequence_number": self._next(), **fields})

    def _chunk(self, chunk: Json) -> bytes:
        if chunk.get("usage"):
            self._usage = usage_from_chat(chunk["usage"])
        out = b""
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            for kind in ("output_text", "refusal"):
                text = delta.get("content" if kind == "output_text" else "refusal")
                if isinstance(text, str) and text:
                    out += self._text(kind, text)
            for call in delta.get("tool_calls") or []:
                out += self._tool_call(call)
            self._finish = choice.get("finish_reason") or self._finish
        return out

    def _text(self, kind: str, text: str) -> bytes:
        out = self._open_part(kind)
        self._chunks.append(text)
        extra: Json = {"logprobs": []} if kind == "output_text" else {}
        return out + self._event(DELTA[kind], **self._where(), delta=text, **extra)

    def _open_part(self, kind: str) -> bytes:
        """A message item open, with a content part of `kind` open in it."""
        out = b""
        if self._open is None or self._open["type"] != "message":
            out += self._close_item("completed")
            self._open = message_item(new_id("msg"), [], "in_progress")
            out += self._added()
        if self._part != kind:
            out += self._close_part()
            self._part, self._chunks = kind, []
            part = text_part("") if kind == "output_text" else refusal_part("")
            out += self._event("response.content_part.added", **self._where(), part=part)
        return out

    def _tool_call(self, call: Any) -> bytes:
        index = call.get("index", 0) if isinstance(call, dict) else 0
        function = (call.get("function") if isinstance(call, dict) else None) or {}
        out = b""
        if self._open is None or self._open["type"] != "function_call" or self._call != index:
            if index in self._finished_calls:
                raise UpstreamFailed(
                    f"Provider '{self.provider}' streamed arguments for a tool call it had finished."
                )
            out += self._close_item("completed")
            call_id = call.get("id") or new_id("call")
            self._open = call_item(
                new_id("fc"), call_id, function.get("name") or "", "", "in_progress"
            )
            self._call, self._chunks = index, []
            out += self._added()
        elif function.get("name"):  # a few upstreams spell the name over several chunks
            self._open["name"] += function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._chunks.append(arguments)
            out += self._event(
                "response.function_call_arguments.delta",
                item_id=self._open["id"],
                output_index=len(self._output) - 1,
                delta=arguments,
            )
        return out

    def _added(self) -> bytes:
        assert self._open is not None
        self._output.append(self._open)
        return self._event(
            "response.output_item.added", output_index=len(self._output) - 1, item=self._open
        )

    def _where(self) -> Json:
        assert self._open is not None
        return {
            "item_id": self._open["id"],
            "output_index": len(self._output) - 1,
            "content_index": len(self._open["content"]),
        }

    def _finished_part(self) -> Json:
        text = "".join(self._chunks)
        return text_part(text) if self._part == "output_text" else refusal_part(text)

    def _close_part(self) -> bytes:
        if self._part is None or self._open is None:
            return b""
        part, where = self._finished_part(), self._where()
        if self._part == "output_text":
            out = self._event("response.output_text.done", **where, text=part["text"], logprobs=[])
        else:
            out = self._event("response.refusal.done", **where, refusal=part["refusal"])
        out += self._event("response.content_part.done", **where, part=part)
        self._open["content"].append(part)
        self._part, self._chunks = None, []
        return out

    def _close_item(self, status: str) -> bytes:
        item, index = self._open, len(self._output) - 1
        if item is None:
            return b""
        out = b""
        if item["type"] == "message":
            out += self._close_part()
        else:
            item["arguments"] = "".join(self._chunks)
            self._finished_calls.add(self._call)
            out += self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
        item["status"] = status
        self._open, self._chunks = None, []
        return out + self._event("response.output_item.done", output_index=index, item=item)


class NativeEvents:
    """A native upstream's events, relayed as they are; what Patchbay needs of them: the
    last sequence number, the Response as created, and the Response as it ended."""

    def __init__(self) -> None:
        self.response: Json | None = None  # from response.completed or response.incomplete
        self._created: Json | None = None
        self._last = -1

    def see(self, framed: bytes) -> None:
        for payload in payloads(framed):
            try:
                event = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(event, dict):
                continue
            sequence = event.get("sequence_number")
            if isinstance(sequence, int):
                self._last = max(self._last, sequence)
            kind, response = event.get("type"), event.get("response")
            if kind == "response.created" and isinstance(response, dict):
                self._created = response
            elif kind in ("response.completed", "response.incomplete"):
                self.response = response if isinstance(response, dict) else None

    def fail(self, err: GatewayError) -> bytes:
        """The connection broke: an `error` event and, once a Response was created, its failure."""
        out = event_frame(error_event(err, self._last + 1))
        if self._created is not None:
            failed = {**self._created, "status": "failed", "error": failure(err)}
            event = {
                "type": "response.failed",
                "sequence_number": self._last + 2,
                "response": failed,
            }
            out += event_frame(event)
        return out

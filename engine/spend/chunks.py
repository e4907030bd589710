"""Chat completions as chunks and back: a stored answer replayed as a stream, a stream
assembled into the answer it stands for, and a stream without the usage chunk a client
did not ask for. OpenAI's wire format throughout (the chat handler's)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from engine.formats.sse import DONE, frame, payloads
from engine.formats.tally import event_around, usage_at

Json = dict[str, Any]
COMPLETE = ("stop", "length")  # the only endings an answer is stored with
_NO_CHOICES = re.compile(rb'"choices"\s*:\s*\[\s*\]')  # OpenAI's usage chunk
_DELTA_TEXT = ("content", "refusal")


def replay(completion: Json, include_usage: bool) -> bytes:
    """A stored chat.completion as the SSE stream that would have produced it."""
    head = {
        "id": completion.get("id", "chatcmpl-cached"),
        "object": "chat.completion.chunk",
        "created": completion.get("created", 0),
        "model": completion.get("model", ""),
    }
    if completion.get("system_fingerprint"):
        head["system_fingerprint"] = completion["system_fingerprint"]
    events = []
    for choice in completion.get("choices", []):
        index = choice.get("index", 0)
        events.append(_chunk(head, index, _delta(choice.get("message") or {}), None))
        events.append(_chunk(head, index, {}, choice.get("finish_reason")))
    if include_usage and isinstance(completion.get("usage"), dict):
        events.append({**head, "choices": [], "usage": completion["usage"]})
    return b"".join(frame(orjson.dumps(event)) for event in events) + DONE


def _chunk(head: Json, index: int, delta: Json, finish: str | None) -> Json:
    choice = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
    return {**head, "choices": [choice]}


def _delta(message: Json) -> Json:
    delta: Json = {"role": "assistant", "content": message.get("content") or ""}
    if message.get("refusal"):
        delta["refusal"] = message["refusal"]
    calls = message.get("tool_calls")
    if calls:
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(calls)]
    return delta


class Assembler:
    """Feed a stream's events; `completion()` is the answer they stand for, or None when
    it cannot be stored: an error, a stream cut short, an ending other than stop or
    length, or a delta this rebuild would lose (tool calls, audio, log probabilities)."""

    def __init__(self) -> None:
        self.head: Json = {}
        self.choices: dict[int, Json] = {}
        self.usage: Json | None = None
        self.done = False
        self.broken = False

    def feed(self, framed: bytes) -> None:
        for payload in payloads(framed):
            if payload == b"[DONE]":
                self.done = True
            elif not self.broken:
                self._chunk(payload)

    def _chunk(self, payload: bytes) -> None:
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            chunk = None
        if not isinstance(chunk, dict) or "error" in chunk:
            self.broken = True
            return
        if not self.head:
            self.head = {
                k: chunk[k]
                for k in ("id", "created", "model", "system_fingerprint")
                if chunk.get(k)
            }
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            self._choice(choice)

    def _choice(self, choice: Json) -> None:
        delta = choice.get("delta") or {}
        kept = self.choices.setdefault(choice.get("index", 0), {"content": "", "refusal": ""})
        unknown = [k for k, v in delta.items() if v is not None and k not in (*_DELTA_TEXT, "role")]
        if unknown or choice.get("logprobs") is not None:
            self.broken = True
            return
        for name in _DELTA_TEXT:
            kept[name] += delta.get(name) or ""
        if choice.get("finish_reason"):
            kept["finish_reason"] = choice["finish_reason"]

    def completion(self) -> bytes | None:
        ends = [c.get("finish_reason") for c in self.choices.values()]
        if not self.done or self.broken or not ends or any(e not in COMPLETE for e in ends):
            return None
        choices = [
            {
                "index": index,
                "message": {
                    "role": "assistant",
                    "content": kept["content"],
                    "refusal": kept["refusal"] or None,
                },
                "finish_reason": kept["finish_reason"],
                "logprobs": None,
            }
            for index, kept in sorted(self.choices.items())
        ]
        answer: Json = {**self.head, "object": "chat.completion", "choices": choices}
        if self.usage is not None:
            answer["usage"] = self.usage
        return orjson.dumps(answer)


def without_usage(framed: bytes) -> bytes:
    """Whole events as a client that did not ask for usage gets them: the usage chunk
    Patchbay asked for on its behalf taken out (the guard has read it already), a usage
    on a chunk with choices dropped from it. Only events with a usage object are
    looked at; the `"usage": null` an upstream may put in other chunks stays (the
    chunk schema allows it, and taking it out would rewrite every event)."""
    at = usage_at(framed)
    while at >= 0:
        start, end = event_around(framed, at)
        event = framed[start:end]
        kept = b"" if _NO_CHOICES.search(event) else _usage_dropped(event)
        framed = framed[:start] + kept + framed[end:]
        at = usage_at(framed, start + len(kept))
    return framed


def _usage_dropped(event: bytes) -> bytes:
    try:
        chunk = orjson.loads(b"\n".join(payloads(event)) or b"null")
    except orjson.JSONDecodeError:
        return event
    if not isinstance(chunk, dict):
        return event
    chunk.pop("usage", None)
    return frame(orjson.dumps(chunk))

"""OpenAI chat answers as Anthropic Messages answers (pure, no I/O).

`to_message` turns a ChatCompletion into a Message; `EventTranslator` turns
`chat.completion.chunk`s into the Messages stream, in the order the SDKs expect:
`message_start`, then per content block `content_block_start`, its deltas and
`content_block_stop`, then `message_delta` (stop reason, usage) and `message_stop`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from engine.errors import UpstreamFailed
from engine.formats.anthropic import STOP_REASONS, event

Json = dict[str, Any]
CHARS_PER_TOKEN = 4  # output tokens are estimated so when an upstream reports none


def message_id(completion_id: Any) -> str:
    return "msg_" + str(completion_id or "").removeprefix("chatcmpl-")


def stop_reason(
    choice: Mapping[str, Any], sequences: Sequence[str], called: bool = False
) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for a chat choice's finish_reason.

    An answer that calls tools is `tool_use` (some upstreams say "stop" there: an agent
    told `end_turn` would stop mid-task). "stop" is `stop_sequence` only when the
    upstream says which sequence matched (vLLM and SGLang do, as `stop_reason` /
    `matched_stop`); otherwise `end_turn`.
    """
    finish = choice.get("finish_reason")
    if called and finish in (None, "stop", "tool_calls", "function_call"):
        return "tool_use", None
    if finish == "stop":
        matched = choice.get("stop_reason") or choice.get("matched_stop")
        if isinstance(matched, str) and matched in sequences:
            return "stop_sequence", matched
    return STOP_REASONS.get(str(finish), "end_turn"), None


def usage(chat_usage: Any) -> Json | None:
    """Anthropic's usage for OpenAI's; None when there is none. Cached prompt tokens are
    counted apart from `input_tokens`, as Anthropic counts them."""
    if not isinstance(chat_usage, dict):
        return None
    prompt = int(chat_usage.get("prompt_tokens") or 0)
    details = chat_usage.get("prompt_tokens_details")
    cached = int((details or {}).get("cached_tokens") or 0) if isinstance(details, dict) else 0
    counts: Json = {
        "input_tokens": prompt - cached,
        "output_tokens": int(chat_usage.get("completion_tokens") or 0),
    }
    if cached:
        counts["cache_read_input_tokens"] = cached
    return counts


def to_message(completion: Mapping[str, Any], *, model: str, sequences: Sequence[str]) -> Json:
    """A Message for a ChatCompletion (its first choice)."""
    try:
        choice = completion["choices"][0]
        reply = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise UpstreamFailed("The upstream sent a chat completion without a choice.") from None
    content: list[Json] = []
    if reply.get("content"):
        content.append({"type": "text", "text": str(reply["content"])})
    for call in reply.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": function.get("name") or "",
                "input": _arguments(function.get("arguments")),
            }
        )
    called = any(block["type"] == "tool_use" for block in content)
    reason, sequence = stop_reason(choice, sequences, called)
    counts = usage(completion.get("usage")) or {"input_tokens": 0, "output_tokens": 0}
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model") or model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": counts,
    }


def _arguments(raw: Any) -> Json:
    if raw is None or raw == "":
        return {}
    try:
        parsed = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamFailed(
            f"The upstream sent tool arguments that are not a JSON object: {raw!r:.200}"
        )
    return parsed


class EventTranslator:
    """Feed chat chunks in order, get the Messages stream's framed events for each.

    One content block is open at a time: text, or one tool call whose arguments
    stream as `input_json_delta`s that join into its whole input. Tool calls arrive
    one after another in every known upstream; arguments for a call whose block was
    already closed are an upstream fault, not something to reorder silently.
    """

    def __init__(self, *, model: str, sequences: Sequence[str] = ()) -> None:
        self.model = model
        self.sequences = sequences
        self.started = False
        self.blocks = 0  # content blocks opened so far
        self.open: str | None = None  # "text", or the tool-call index of the open block
        self.calls: dict[int, int] = {}  # tool-call index -> its block index
        self.choice: Json = {}  # the finishing choice (finish_reason, matched stop)
        self.usage: Json | None = None
        self.chars = 0

    def feed(self, chunk: Mapping[str, Any]) -> bytes:
        out = b"" if self.started else self._start(chunk)
        counts = usage(chunk.get("usage"))
        if counts is not None:
            self.usage = counts
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out += self._text(str(delta["content"]))
            for call in delta.get("tool_calls") or ():
                out += self._tool(call)
            if choice.get("finish_reason"):
                self.choice = choice
        return out

    def end(self) -> bytes:
        """The closing events: the open block's stop, message_delta and message_stop."""
        out = (b"" if self.started else self._start({})) + self._close()
        reason, sequence = stop_reason(self.choice, self.sequences, bool(self.calls))
        counts = self.usage or {"output_tokens": math.ceil(self.chars / CHARS_PER_TOKEN)}
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out += event("message_delta", {"type": "message_delta", "delta": delta, "usage": counts})
        return out + event("message_stop", {"type": "message_stop"})

    def _start(self, chunk: Mapping[str, Any]) -> bytes:
        self.started = True
        message: Json = {
            "id": message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},  # the totals come at the end
        }
        return event("message_start", {"type": "message_start", "message": message})

    def _text(self, text: str) -> bytes:
        out = b""
        if self.open != "text":
            out = self._close() + self._open({"type": "text", "text": ""})
            self.open = "text"
        self.chars += len(text)
        delta = {"type": "text_delta", "text": text}
        return out + self._delta(delta)

    def _tool(self, call: Any) -> bytes:
        index = call.get("index", 0) if isinstance(call, dict) else None
        if not isinstance(index, int):
            raise UpstreamFailed("The upstream streamed a tool call without an index.")
        function = call.get("function") or {}
        out = b""
        if index not in self.calls:
            out = self._close()
            self.calls[index] = self.blocks
            name = function.get("name") or ""
            out += self._open(
                {"type": "tool_use", "id": call.get("id") or "", "name": name, "input": {}}
            )
            self.open = str(index)
        elif self.open != str(index):
            raise UpstreamFailed("The upstream streamed tool-call arguments out of order.")
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self.chars += len(arguments)
            out += self._delta({"type": "input_json_delta", "partial_json": arguments})
        return out

    def _open(self, block: Json) -> bytes:
        self.blocks += 1
        data = {"type": "content_block_start", "index": self.blocks - 1, "content_block": block}
        return event("content_block_start", data)

    def _delta(self, delta: Json) -> bytes:
        data = {"type": "content_block_delta", "index": self.blocks - 1, "delta": delta}
        return event("content_block_delta", data)

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self.blocks - 1})

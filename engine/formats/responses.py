"""OpenAI's Responses API as a wire format: the Response object and how its answers read.

Errors before the first byte are OpenAI's `{"error": {...}}`, as for chat. Usage reads
`input_tokens` and `output_tokens`, at the top of a Response or inside a stream's
`response.completed` event. A failure after the first byte is an `error` event and then
`response.failed`, numbered in the stream's sequence (engine/formats/responses_stream.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from engine.errors import GatewayError, RateLimited, UpstreamFailed
from engine.formats.openai import OpenAIFormat
from engine.formats.usage import Usage

Json = dict[str, Any]
DELTA_EVENTS = ("response.output_text.delta", "response.function_call_arguments.delta")


class ResponsesFormat(OpenAIFormat):
    """Bearer keys and JSON errors as OpenAI's chat; usage and streams as the Responses API."""

    name: ClassVar[str] = "responses"

    def error_event(self, err: GatewayError) -> bytes:
        """A failure outside any numbered stream (a stream numbers its own, see above)."""
        return event_frame(error_event(err, 0))

    def usage_tokens(self, payload: Mapping[str, Any]) -> int | None:
        """input + output tokens of a Response's `usage`, or of the Response an event carries."""
        usage = payload.get("usage")
        response = payload.get("response")
        if usage is None and isinstance(response, dict):
            usage = response.get("usage")
        if not isinstance(usage, dict):
            return None
        parts = [usage.get("input_tokens"), usage.get("output_tokens")]
        if any(isinstance(p, int) for p in parts):
            return sum(p for p in parts if isinstance(p, int))
        total = usage.get("total_tokens")
        return total if isinstance(total, int) else None

    def usage(self, payload: Mapping[str, Any]) -> Usage | None:
        """A Response's usage, or that of the Response an event (`response.completed`)
        carries; OpenAI's reading of input/output tokens and cached input tokens."""
        response = payload.get("response")
        if "usage" not in payload and isinstance(response, dict):
            return super().usage(response)
        return super().usage(payload)

    def generated_chars(self, payload: Mapping[str, Any]) -> int:
        """Characters of text and function-call arguments in one delta event."""
        delta = payload.get("delta")
        if payload.get("type") in DELTA_EVENTS and isinstance(delta, str):
            return len(delta)
        return 0


def new_id(prefix: str) -> str:
    """A fresh id in OpenAI's style: `resp_...`, `msg_...`, `fc_...`."""
    return f"{prefix}_{uuid.uuid4().hex}"


def event_frame(event: Mapping[str, Any]) -> bytes:
    """One stream event, named as its `type` (as OpenAI sends them)."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def error_event(err: GatewayError, sequence: int) -> Json:
    return {
        "type": "error",
        "sequence_number": sequence,
        "code": err.code,
        "message": err.message,
        "param": err.param,
    }


def failure(err: GatewayError) -> Json:
    """A failed Response's `error` (its code is one the Responses API defines)."""
    code = "rate_limit_exceeded" if isinstance(err, RateLimited) else "server_error"
    return {"code": code, "message": err.message}


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """What every snapshot of one Response shares: its identity and what it echoes of
    its request."""

    id: str
    created_at: int
    model: str
    request: Mapping[str, Any]
    store: bool

    def snapshot(
        self,
        status: str,
        output: Iterable[Json],
        *,
        usage: Json | None = None,
        error: Json | None = None,
        reason: str | None = None,
    ) -> Json:
        """The Response as it stands: `status` is in_progress, completed, incomplete or
        failed; `reason` says why an incomplete one stopped."""
        req = self.request
        answer: Json = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": {"reason": reason} if reason else None,
            "instructions": req.get("instructions"),
            "max_output_tokens": req.get("max_output_tokens"),
            "model": self.model,
            "output": list(output),
            "parallel_tool_calls": req.get("parallel_tool_calls") is not False,
            "previous_response_id": req.get("previous_response_id"),
            "reasoning": _reasoning(req.get("reasoning")),
            "store": self.store,
            "temperature": _number(req.get("temperature"), 1.0),
            "text": {"format": (req.get("text") or {}).get("format") or {"type": "text"}},
            "tool_choice": req.get("tool_choice") or "auto",
            "tools": [_tool(tool) for tool in req.get("tools") or []],
            "top_p": _number(req.get("top_p"), 1.0),
            "truncation": req.get("truncation") or "disabled",
            "metadata": req.get("metadata") or {},
        }
        if usage is not None:
            answer["usage"] = usage
        if isinstance(req.get("user"), str):
            answer["user"] = req["user"]
        return answer


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) else default


def _reasoning(reasoning: Any) -> Json | None:
    if not isinstance(reasoning, dict):
        return None
    return {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")}


def _tool(tool: Any) -> Any:
    """A function tool as a Response lists it (every field present); others as given."""
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return tool
    return {
        "type": "function",
        "name": tool.get("name"),
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict"),
    }


def text_part(text: str) -> Json:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_part(text: str) -> Json:
    return {"type": "refusal", "refusal": text}


def message_item(item_id: str, parts: list[Json], status: str) -> Json:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": parts,
    }


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Json:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def usage_from_chat(usage: Any) -> Json | None:
    """Chat's `usage` in the Responses API's terms; None when the upstream sent none."""
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    cached = _count((usage.get("prompt_tokens_details") or {}).get("cached_tokens"))
    reasoning = _count((usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": _count(usage.get("total_tokens")) or prompt + completion,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) else 0


def finish_status(finish_reason: Any) -> tuple[str, str | None]:
    """(status, incomplete reason) for a chat finish_reason."""
    if finish_reason == "length":
        return "incomplete", "max_output_tokens"
    if finish_reason == "content_filter":
        return "incomplete", "content_filter"
    return "completed", None


def from_chat_completion(chat: Any, head: ResponseHead, provider: str) -> Json:
    """A chat completion (first choice) as the Response it stands for."""
    choices = chat.get("choices") if isinstance(chat, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
        raise UpstreamFailed(f"Provider '{provider}' sent a chat completion without a message.")
    status, reason = finish_status(choice.get("finish_reason"))
    item_status = "incomplete" if status == "incomplete" else "completed"
    message = choice["message"]
    calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    parts = _parts(message.get("content"), message.get("refusal"), bool(calls))
    output = [message_item(new_id("msg"), parts, item_status)] if parts else []
    for call in calls:
        function = call.get("function") or {}
        output.append(
            call_item(
                new_id("fc"),
                str(call.get("id") or new_id("call")),
                str(function.get("name") or ""),
                str(function.get("arguments") or ""),
                "completed",
            )
        )
    usage = usage_from_chat(chat.get("usage"))
    return head.snapshot(status, output, usage=usage, reason=reason)


def _parts(content: Any, refusal: Any, calls: bool) -> list[Json]:
    """The content parts of an assistant message; a text answer always has one."""
    if isinstance(content, list):  # a few upstreams answer with parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    parts = [text_part(content)] if isinstance(content, str) and (content or not calls) else []
    if isinstance(refusal, str) and refusal:
        parts.append(refusal_part(refusal))
    if not parts and not calls:
        parts.append(text_part(""))
    return parts

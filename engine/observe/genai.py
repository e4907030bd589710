"""What a request's spans say, after OpenTelemetry's GenAI semantic conventions (pure).

Attribute names and values come from the conventions (`gen_ai.*`, `http.*`, `server.*`,
`error.type`); Patchbay's own facts are `patchbay.*`. Content (the prompt, the answer)
is read here only when `capture_content` asks for it, and is then recorded as the
conventions' `gen_ai.system_instructions`, `gen_ai.input.messages` and
`gen_ai.output.messages`: JSON text of `{role, parts: [...]}` messages, whatever the
wire format (OpenAI's chat and Responses API, Anthropic's Messages). Text, tool calls
and tool results are kept; an image is its URL, or only its kind when it is inline data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from engine.observe.exchange import Exchange

Attributes = dict[str, str | bool | int | float | list[str]]
Json = dict[str, Any]
TEXT_BLOCKS = ("text", "input_text", "output_text")
RESPONSES_FINISH = {"completed": "stop", "failed": "error"}  # else incomplete_details.reason


def server_name(exchange: Exchange, operation: str | None) -> str:
    """`chat gpt-4o` for a model's request, `GET /v1/models` for the rest."""
    if operation and exchange.model_asked:
        return f"{operation} {exchange.model_asked}"
    return f"{exchange.method} {exchange.route}"


def server_attributes(exchange: Exchange, operation: str | None) -> Attributes:
    """The server span's attributes, once the request is answered."""
    found: Attributes = {
        "http.request.method": exchange.method,
        "http.route": exchange.route,
        "http.response.status_code": exchange.status,
        "patchbay.request_id": exchange.request_id,
    }
    if exchange.status >= 500:
        found["error.type"] = str(exchange.status)
    if operation:
        found["gen_ai.operation.name"] = operation
    if exchange.model_asked:
        found["gen_ai.request.model"] = exchange.model_asked
    if exchange.key:
        found["patchbay.key"] = exchange.key
    if exchange.attempts:
        found["patchbay.attempts"] = len(exchange.attempts)
    if exchange.provider:
        found["gen_ai.provider.name"] = exchange.provider
        found["gen_ai.response.model"] = exchange.model
        found.update(_usage(exchange))
    if exchange.first_token is not None:
        found["gen_ai.response.time_to_first_chunk"] = exchange.first_token
    if exchange.disconnected:
        found["patchbay.client_disconnected"] = True
    return found


def _usage(exchange: Exchange) -> Attributes:
    tokens = exchange.tokens
    if not (tokens.prompt or tokens.completion):
        return {}
    usage: Attributes = {
        "gen_ai.usage.input_tokens": tokens.prompt,
        "gen_ai.usage.output_tokens": tokens.completion,
    }
    if tokens.cached:
        usage["gen_ai.usage.cache_read.input_tokens"] = tokens.cached
    if tokens.reasoning:
        usage["gen_ai.usage.reasoning.output_tokens"] = tokens.reasoning
    if tokens.estimated:
        usage["patchbay.usage.estimated"] = True
    return usage


def answer_attributes(wire: str, answer: bytes, capture: bool) -> Attributes:
    """What a model's JSON answer says: its id, finish reasons and (`capture`) messages."""
    data = _object(answer)
    if data is None:
        return {}
    found: Attributes = {}
    if isinstance(data.get("id"), str):
        found["gen_ai.response.id"] = data["id"]
    messages = _answer_messages(wire, data)
    reasons = [m["finish_reason"] for m in messages if isinstance(m.get("finish_reason"), str)]
    if reasons:
        found["gen_ai.response.finish_reasons"] = reasons
    if capture and messages:
        found["gen_ai.output.messages"] = _json(messages)
    return found


def request_attributes(body: bytes) -> Attributes:
    """The prompt of a request body, in any wire format (only when content is captured).

    The body is the client's, read after any answer, a 400 included: any shape is taken.
    """
    data = _object(body)
    if data is None:
        return {}
    found: Attributes = {}
    system = data.get("system", data.get("instructions"))  # Anthropic's, the Responses API's
    if system_parts := list(_parts(system)):
        found["gen_ai.system_instructions"] = _json(system_parts)
    if isinstance(data.get("messages"), list):
        turns = [_message(turn) for turn in _dicts(data["messages"])]
    else:
        turns = _inputs(data.get("input", data.get("prompt")))
    if turns:
        found["gen_ai.input.messages"] = _json(turns)
    return found


def _inputs(given: Any) -> list[Json]:
    """`input` (the Responses API's items, texts to embed or speak) or an image `prompt`."""
    turns: list[Json] = []
    for item in given if isinstance(given, list) else [given]:
        if isinstance(item, dict) and item.get("role"):
            turns.append(_message(item))
        elif isinstance(item, dict):  # a Responses API item: a function call or its output
            role = "tool" if "output" in item else "assistant"
            turns.append({"role": role, "parts": [_part(item)]})
        elif parts := list(_parts(item)):  # text; token arrays say nothing
            turns.append({"role": "user", "parts": parts})
    return turns


def _answer_messages(wire: str, data: Json) -> list[Json]:
    if wire == "anthropic":
        return [_message({**data, "finish_reason": data.get("stop_reason")})]
    if wire == "responses":
        reason = RESPONSES_FINISH.get(str(data.get("status")))
        if reason is None:
            reason = _dict(data.get("incomplete_details")).get("reason")
        items = _dicts(data.get("output"))
        parts = [part for item in items for part in _parts(item.get("content", item))]
        return [{"role": "assistant", "parts": parts, "finish_reason": reason}]
    return [
        {**_message(_dict(choice.get("message"))), "finish_reason": choice.get("finish_reason")}
        for choice in _dicts(data.get("choices"))
    ]


def _message(turn: Mapping[str, Any]) -> Json:
    """One chat, Responses or Messages turn as `{role, parts}`."""
    parts = list(_parts(turn.get("content")))
    for call in _dicts(turn.get("tool_calls")):  # OpenAI chat's
        function = _dict(call.get("function"))
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )
    if turn.get("role") == "tool":
        call_id = turn.get("tool_call_id")
        parts = [{"type": "tool_call_response", "id": call_id, "response": _text(parts)}]
    message: Json = {"role": turn.get("role", "assistant"), "parts": parts}
    if "finish_reason" in turn:
        message["finish_reason"] = turn["finish_reason"]
    return message


def _parts(content: Any) -> Iterator[Json]:
    if isinstance(content, str):
        yield {"type": "text", "content": content}
    elif isinstance(content, dict):
        yield _part(content)
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, str):
                yield {"type": "text", "content": block}
            elif isinstance(block, dict):
                yield _part(block)


def _part(block: Mapping[str, Any]) -> Json:
    kind = block.get("type")
    if kind in TEXT_BLOCKS and isinstance(block.get("text"), str):
        return {"type": "text", "content": block["text"]}
    if kind in ("tool_use", "function_call"):  # Anthropic's, the Responses API's
        call_id = block.get("id") if kind == "tool_use" else block.get("call_id")
        arguments = block.get("input", block.get("arguments"))
        return {
            "type": "tool_call",
            "id": call_id,
            "name": block.get("name"),
            "arguments": arguments,
        }
    if kind in ("tool_result", "function_call_output"):
        call_id = block.get("tool_use_id", block.get("call_id"))
        response = _text(list(_parts(block.get("content", block.get("output")))))
        return {"type": "tool_call_response", "id": call_id, "response": response}
    if kind in ("image_url", "input_image", "image"):
        return _image(block)
    return {"type": str(kind)}


def _image(block: Mapping[str, Any]) -> Json:
    """An image as its URL; inline data only as what it is (it would swell every trace)."""
    url = block.get("image_url")  # OpenAI chat's {url}, the Responses API's string
    if isinstance(url, dict):
        url = url.get("url")
    if isinstance(source := block.get("source"), dict):  # Anthropic's {type: url, url}
        url = source.get("url")
    if isinstance(url, str) and not url.startswith("data:"):
        return {"type": "uri", "modality": "image", "uri": url}
    return {"type": "blob", "modality": "image"}


def _text(parts: list[Json]) -> str:
    return "".join(p["content"] for p in parts if p.get("type") == "text")


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[Json]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _object(raw: bytes) -> Json | None:
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()

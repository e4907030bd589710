"""Pure translation between OpenAI chat completions and Anthropic's Messages API.

No I/O here: `to_messages_request` builds the upstream body, `to_chat_completion` turns a
Message into a ChatCompletion, and `ChunkTranslator` turns Messages stream events into
`chat.completion.chunk` dicts. Client mistakes raise InvalidRequest naming the field.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from engine.errors import InvalidRequest
from engine.formats.anthropic import FINISH_REASONS

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_response"  # the forced tool that carries a JSON-mode answer

Json = dict[str, Any]


def to_messages_request(body: Mapping[str, Any], model: str) -> Json:
    """The Messages API body for an OpenAI chat request; `body` is left untouched."""
    if (body.get("n") or 1) != 1:
        raise InvalidRequest("This provider returns one choice per request; set n to 1.", param="n")
    system, messages = convert_messages(body.get("messages"))
    request: Json = {
        "model": model,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens")
        or body.get("max_tokens")
        or DEFAULT_MAX_TOKENS,
    }
    if system:
        request["system"] = system
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            request[key] = body[key]
    stop = body.get("stop")
    if stop:
        request["stop_sequences"] = [stop] if isinstance(stop, str) else _array(stop, "stop")
    request.update(_tool_fields(body))
    if isinstance(body.get("user"), str):
        request["metadata"] = {"user_id": body["user"]}
    if body.get("stream"):
        request["stream"] = True
    return request


def convert_messages(messages: Any) -> tuple[str, list[Json]]:
    """(system text, alternating turns): system/developer hoisted, same-role turns merged."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty array.", param="messages")
    system: list[str] = []
    turns: list[Json] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where} must be an object.", param=where)
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_plain_text(message.get("content"), where))
            continue
        if role == "user":
            turn_role, blocks = "user", _user_blocks(message.get("content"), where)
        elif role == "assistant":
            turn_role, blocks = "assistant", _assistant_blocks(message, where)
        elif role == "tool":
            turn_role, blocks = "user", [_tool_result(message, where)]
        else:
            raise InvalidRequest(f"{where}.role {role!r} is not supported.", param=f"{where}.role")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    return "\n\n".join(s for s in system if s), turns


def _plain_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "\n".join(
            _text_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)
        )
    raise InvalidRequest(f"{where}.content must be a string or an array.", param=f"{where}.content")


def _text_part(part: Any, where: str) -> str:
    if isinstance(part, dict) and part.get("type") in ("text", "refusal"):
        return str(part.get("text") or part.get("refusal") or "")
    raise InvalidRequest(f"{where} must be a text part here.", param=where)


def _user_blocks(content: Any, where: str) -> list[Json]:
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(
            f"{where}.content must be a string or an array.", param=f"{where}.content"
        )
    blocks = [_user_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]
    return [b for b in blocks if b.get("type") != "text" or b["text"]]


def _user_part(part: Any, where: str) -> Json:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return {"type": "image", "source": _source(url, f"{where}.image_url.url", "image/")}
    if kind == "file":
        file = part.get("file")
        data = file.get("file_data") if isinstance(file, dict) else None
        return {"type": "document", "source": _source(data, f"{where}.file.file_data", "")}
    raise InvalidRequest(f"{where}: content part type {kind!r} is not supported.", param=where)


def _source(url: Any, where: str, media_prefix: str) -> Json:
    """An Anthropic content source for an http(s) URL or a base64 data URL."""
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return {"type": "url", "url": url}
    if isinstance(url, str) and url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if comma and encoding == "base64" and media_type.startswith(media_prefix):
            try:
                base64.b64decode(data, validate=True)
            except binascii.Error:
                raise InvalidRequest(f"{where} holds invalid base64.", param=where) from None
            return {"type": "base64", "media_type": media_type, "data": data}
    raise InvalidRequest(f"{where} must be an http(s) URL or a base64 data URL.", param=where)


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[Json]:
    text = _plain_text(message.get("content"), where)
    blocks: list[Json] = [{"type": "text", "text": text}] if text else []
    for j, call in enumerate(_array(message.get("tool_calls") or [], f"{where}.tool_calls")):
        at = f"{where}.tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name") or not call.get("id"):
            raise InvalidRequest(f"{at} needs an id and a function name.", param=at)
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": function["name"],
                "input": _arguments(function.get("arguments"), f"{at}.function.arguments"),
            }
        )
    return blocks


def _arguments(raw: Any, where: str) -> Json:
    if raw is None or raw == "":
        return {}
    try:
        parsed = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"{where} is not valid JSON.", param=where) from None
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"{where} must be a JSON object.", param=where)
    return parsed


def _tool_result(message: Mapping[str, Any], where: str) -> Json:
    if not message.get("tool_call_id"):
        raise InvalidRequest(f"{where}.tool_call_id is required.", param=f"{where}.tool_call_id")
    content = message.get("content")
    result: Json = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
    if isinstance(content, list):
        result["content"] = _user_blocks(content, where)
    else:
        result["content"] = _plain_text(content, where)
    return result


def _array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest(f"{where} must be an array.", param=where)
    return value


def _tool_fields(body: Mapping[str, Any]) -> Json:
    """`tools` and `tool_choice`: the client's tools, or the one tool of JSON mode."""
    answer_tool = json_answer_tool(body)
    if answer_tool is not None:
        return {"tools": [answer_tool], "tool_choice": {"type": "tool", "name": JSON_TOOL}}
    if not body.get("tools"):
        return {}
    fields: Json = {"tools": [_tool(t, i) for i, t in enumerate(_array(body["tools"], "tools"))]}
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None:
        fields["tool_choice"] = choice
    return fields


def json_answer_tool(body: Mapping[str, Any]) -> Json | None:
    """The tool Claude must call when `response_format` asks for JSON, else None.

    Claude has no JSON mode: the schema becomes a forced tool whose input is the answer,
    handed back to the client as the message content (`unwrap_json_answer`).
    """
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("json_object", "json_schema"):
        return None
    if body.get("tools"):
        raise InvalidRequest(
            "This provider cannot combine a JSON response_format with tools.",
            param="response_format",
        )
    spec = fmt.get("json_schema") if isinstance(fmt, dict) and kind == "json_schema" else None
    schema = (spec.get("schema") if isinstance(spec, dict) else None) or {"type": "object"}
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        where = "response_format.json_schema.schema"
        raise InvalidRequest(f"{where} must describe a JSON object.", param=where)
    description = "Give your answer as this tool's input."
    return {"name": JSON_TOOL, "description": description, "input_schema": schema}


def _tool(tool: Any, i: int) -> Json:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or tool.get("type", "function") != "function":
        raise InvalidRequest(f"tools[{i}] must be a function tool.", param=f"tools[{i}]")
    if not function.get("name"):
        raise InvalidRequest(
            f"tools[{i}].function.name is required.", param=f"tools[{i}].function.name"
        )
    spec: Json = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        spec["description"] = function["description"]
    return spec


def _tool_choice(choice: Any, parallel: Any) -> Json | None:
    if choice is None:
        translated: Json | None = {"type": "auto"} if parallel is False else None
    elif choice in ("auto", "none"):
        translated = {"type": choice}
    elif choice == "required":
        translated = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        translated = {"type": "tool", "name": choice["function"].get("name")}
    else:
        raise InvalidRequest(f"tool_choice {choice!r} is not supported.", param="tool_choice")
    if translated is not None and parallel is False and translated["type"] != "none":
        translated["disable_parallel_tool_use"] = True
    return translated


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(str(stop_reason), "stop")


def usage(anthropic_usage: Mapping[str, Any]) -> Json:
    """OpenAI usage; Anthropic counts cache reads and writes apart from `input_tokens`."""
    cached = int(anthropic_usage.get("cache_read_input_tokens") or 0)
    prompt = (
        int(anthropic_usage.get("input_tokens") or 0)
        + cached
        + int(anthropic_usage.get("cache_creation_input_tokens") or 0)
    )
    completion = int(anthropic_usage.get("output_tokens") or 0)
    result: Json = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached:
        result["prompt_tokens_details"] = {"cached_tokens": cached}
    return result


def unwrap_json_answer(message: Mapping[str, Any]) -> Json:
    """`message` with the JSON-mode tool call turned back into text and a plain stop."""
    blocks = [
        {"type": "text", "text": orjson.dumps(b.get("input", {})).decode()}
        if b.get("type") == "tool_use" and b.get("name") == JSON_TOOL
        else b
        for b in message.get("content") or []
    ]
    stop = message.get("stop_reason")
    return {**message, "content": blocks, "stop_reason": "end_turn" if stop == "tool_use" else stop}


def to_chat_completion(message: Mapping[str, Any], *, model: str, created: int) -> Json:
    """A ChatCompletion for a Messages API `message` object."""
    blocks = message.get("content") or []
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    calls = [
        {
            "id": b["id"],
            "type": "function",
            "function": {"name": b["name"], "arguments": orjson.dumps(b.get("input", {})).decode()},
        }
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    reply: Json = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{message.get('id', '')}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "finish_reason": finish_reason(message.get("stop_reason")),
                "logprobs": None,
            }
        ],
        "usage": usage(message.get("usage") or {}),
    }

"""An Anthropic Messages request as an OpenAI chat completions request (pure, no I/O).

For targets that speak only OpenAI's chat: system prompts, turns, tool use and results,
images, documents, tools and tool_choice are translated; `thinking` and `top_k`, which
chat completions has no place for, are left out rather than sent where they would be
refused. What cannot be translated is a 400 naming the field, as Anthropic writes it
(`messages.1.content.0.type`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from engine.errors import InvalidRequest

Json = dict[str, Any]
DROPPED_BLOCKS = ("thinking", "redacted_thinking")  # a model's own reasoning: not resent
USER_BLOCKS = ("text", "image", "document", "tool_result")
ASSISTANT_BLOCKS = ("text", "tool_use", *DROPPED_BLOCKS)
RESULT_BLOCKS = ("text", "image", "document")  # what a tool_result may hold
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
CHARS_PER_TOKEN = 4  # about, for English text and JSON
TOKENS_PER_IMAGE = 1600  # Anthropic's count for an image of about a megapixel, its most


def to_chat_request(body: Mapping[str, Any]) -> Json:
    """The chat completions body for a validated Messages body; `body` is left untouched."""
    messages = _system(body.get("system"))
    previous_calls: set[str] = set()
    for i, turn in enumerate(body["messages"]):
        converted, previous_calls = _turn(turn, f"messages.{i}", previous_calls)
        messages += converted
    request: Json = {"model": body["model"], "messages": messages, "max_tokens": body["max_tokens"]}
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            request[key] = body[key]
    if body.get("stop_sequences"):
        request["stop"] = list(body["stop_sequences"])
    request.update(_tools(body.get("tools"), body.get("tool_choice")))
    user = (body.get("metadata") or {}).get("user_id")
    if isinstance(user, str) and user:
        request["user"] = user
    if body.get("stream"):
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}  # message_delta needs usage
    return request


def _system(system: Any) -> list[Json]:
    if not system:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    texts = [_text(block, f"system.{j}") for j, block in enumerate(system)]
    return [{"role": "system", "content": "\n".join(texts)}]


def _text(block: Any, where: str) -> str:
    if not isinstance(block, dict) or block.get("type") != "text":
        raise InvalidRequest(f"{where}: only text blocks may appear here.", param=where)
    return str(block.get("text") or "")


def _blocks(turn: Mapping[str, Any]) -> list[Any]:
    content = turn.get("content")
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])


def _turn(turn: Mapping[str, Any], where: str, calls: set[str]) -> tuple[list[Json], set[str]]:
    """The chat messages for one turn, and the tool calls a next turn may answer."""
    blocks = _blocks(turn)
    allowed = USER_BLOCKS if turn["role"] == "user" else ASSISTANT_BLOCKS
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in allowed:
            raise _unknown_block(kind, f"{where}.content.{j}", f"a {turn['role']} turn", allowed)
    if turn["role"] == "assistant":
        message = _assistant(blocks, where)
        made = {c["id"] for c in message.get("tool_calls", [])}
        return [message], made
    return _user(blocks, where, calls), set()


def _unknown_block(kind: Any, where: str, place: str, known: tuple[str, ...]) -> InvalidRequest:
    return InvalidRequest(
        f"{where}.type: {kind!r} is not a content block type this model can be sent in "
        f"{place} (one of {', '.join(known)}).",
        param=f"{where}.type",
    )


def _assistant(blocks: list[Json], where: str) -> Json:
    text = "".join(str(b.get("text") or "") for b in blocks if b["type"] == "text")
    message: Json = {"role": "assistant", "content": text or None}
    calls = [
        _call(b, f"{where}.content.{j}") for j, b in enumerate(blocks) if b["type"] == "tool_use"
    ]
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _call(block: Json, where: str) -> Json:
    if not block.get("id") or not block.get("name") or not isinstance(block.get("input"), dict):
        raise InvalidRequest(
            f"{where}: tool_use needs an id, a name and an input object.", param=where
        )
    arguments = orjson.dumps(block["input"]).decode()
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": arguments},
    }


def _user(blocks: list[Json], where: str, calls: set[str]) -> list[Json]:
    """Tool results first (chat wants them right after the call), then the rest."""
    results: list[Json] = []
    parts: list[Json] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content.{j}"
        if block["type"] == "tool_result":
            result, images = _tool_result(block, at, calls)
            results.append(result)
            parts += images
        else:
            parts.append(_part(block, at))
    parts = [p for p in parts if p["type"] != "text" or p["text"]]
    if not parts:
        return results
    if len(parts) == 1 and parts[0]["type"] == "text":
        return [*results, {"role": "user", "content": parts[0]["text"]}]
    return [*results, {"role": "user", "content": parts}]


def _tool_result(block: Json, where: str, calls: set[str]) -> tuple[Json, list[Json]]:
    """The tool message for a tool_result, and the images it carried (chat's tool
    messages hold text only: images follow in the user message)."""
    call_id = block.get("tool_use_id")
    if call_id not in calls:
        raise InvalidRequest(
            f"{where}.tool_use_id: {call_id!r} answers no tool_use block of the previous "
            "assistant turn; each tool_result must follow the tool_use it answers.",
            param=f"{where}.tool_use_id",
        )
    content = block.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
    texts: list[str] = []
    images: list[Json] = []
    for k, inner in enumerate(blocks):
        kind = inner.get("type") if isinstance(inner, dict) else None
        if kind == "text":
            texts.append(str(inner.get("text") or ""))
        elif kind in RESULT_BLOCKS:
            images.append(_part(inner, f"{where}.content.{k}"))
        else:
            raise _unknown_block(kind, f"{where}.content.{k}", "a tool_result", RESULT_BLOCKS)
    text = "\n".join(texts)
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _part(block: Json, where: str) -> Json:
    """A chat content part for a text, image or document block."""
    if block["type"] == "text":
        return {"type": "text", "text": str(block.get("text") or "")}
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if block["type"] == "image" and kind == "base64":
        url = f"data:{source['media_type']};base64,{source['data']}"  # type: ignore[index]
        return {"type": "image_url", "image_url": {"url": url}}
    if block["type"] == "image" and kind == "url":
        return {"type": "image_url", "image_url": {"url": source["url"]}}  # type: ignore[index]
    if block["type"] == "document" and kind == "base64":
        data = f"data:{source['media_type']};base64,{source['data']}"  # type: ignore[index]
        name = str(block.get("title") or "document.pdf")
        return {"type": "file", "file": {"file_data": data, "filename": name}}
    if block["type"] == "document" and kind == "text":
        return {"type": "text", "text": str(source.get("data") or "")}  # type: ignore[union-attr]
    raise InvalidRequest(
        f"{where}.source: a {block['type']} source of type {kind!r} can be sent only to an "
        "anthropic provider (others take base64 or url images, base64 or text documents).",
        param=f"{where}.source",
    )


def _tools(tools: Any, choice: Any) -> Json:
    """`tools` and `tool_choice`: custom tools only (server tools run at Anthropic)."""
    if not tools:
        return {}
    functions = [_function(tool, f"tools.{i}") for i, tool in enumerate(tools)]
    fields: Json = {"tools": functions}
    if not choice:
        return fields
    if choice["type"] == "tool":
        names = {f["function"]["name"] for f in functions}
        if choice.get("name") not in names:
            raise InvalidRequest(
                f"tool_choice.name: {choice.get('name')!r} is not one of the tools.",
                param="tool_choice.name",
            )
        fields["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        fields["tool_choice"] = TOOL_CHOICES[choice["type"]]
    if choice.get("disable_parallel_tool_use") and choice["type"] != "none":
        fields["parallel_tool_calls"] = False
    return fields


def _function(tool: Json, where: str) -> Json:
    if tool.get("type", "custom") != "custom":
        raise InvalidRequest(
            f"{where}.type: {tool['type']!r} is a tool Anthropic runs itself; only an anthropic "
            "provider can offer it.",
            param=f"{where}.type",
        )
    function: Json = {"name": tool["name"], "parameters": tool["input_schema"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """About how many input tokens a Messages request holds: its text, tool calls and
    results, and tool definitions at four characters a token, images and documents at
    TOKENS_PER_IMAGE each. An estimate (for targets that cannot count), never exact."""
    chars = len(orjson.dumps(body.get("tools") or [])) if body.get("tools") else 0
    system = body.get("system")
    chars += len(system) if isinstance(system, str) else sum(_chars(b)[0] for b in system or [])
    pictures = 0
    for turn in body["messages"]:
        for block in _blocks(turn):
            text, images = _chars(block)
            chars += text
            pictures += images
    return max(1, -(-chars // CHARS_PER_TOKEN)) + pictures * TOKENS_PER_IMAGE


def _chars(block: Any) -> tuple[int, int]:
    """(characters of text, images and documents) in one content block."""
    if not isinstance(block, dict):
        return 0, 0
    kind = block.get("type")
    if kind in ("image", "document"):
        return 0, 1
    if kind == "tool_use":
        return len(orjson.dumps(block.get("input"))), 0
    content = block.get("content")
    if kind == "tool_result" and isinstance(content, list):
        counts = [_chars(inner) for inner in content]
        return sum(c for c, _ in counts), sum(i for _, i in counts)
    if kind == "tool_result":
        return len(str(content or "")), 0
    return len(str(block.get("text") or block.get("thinking") or "")), 0

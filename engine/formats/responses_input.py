"""A Responses API request as the Chat Completions request that stands for it (pure).

`input` (a string, or items: messages, `function_call`, `function_call_output`),
`instructions`, function `tools`, `tool_choice`, `text.format`, `max_output_tokens`,
`temperature`, `top_p` and `user` translate; `reasoning` items from an earlier answer
are dropped (no other upstream can replay them). Anything that cannot be translated is
a 400 naming the field, never a silent drop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import InvalidRequest

Json = dict[str, Any]
ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
TEXT_PARTS = ("input_text", "output_text", "text")
NATIVE_HINT = "or serve the model from a provider declared `responses: native`"
REFUSED_FIELDS = {"background": "background responses", "conversation": "conversations"}


def input_items(body: Mapping[str, Any]) -> list[Json]:
    """The request's `input` as items; a string is one user message."""
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    return list(given or [])


def to_chat_request(body: Mapping[str, Any], items: Sequence[Any], earlier: int = 0) -> Json:
    """The chat request for `body` whose conversation is `items`: the first `earlier` of
    them come from a stored response (previous_response_id), the rest are `input`."""
    _refuse_untranslatable(body)
    conversation = _Conversation()
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        conversation.messages.append({"role": "system", "content": instructions})
    elif isinstance(instructions, list):
        for i, item in enumerate(instructions):
            conversation.add(item, f"instructions[{i}]")
    for i, item in enumerate(items):
        where = f"input[{i - earlier}]" if i >= earlier else "previous_response_id"
        conversation.add(item, where)
    chat: Json = {"model": body["model"], "messages": conversation.messages}
    chat.update(_tools(body))
    chat.update(_sampling(body))
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def reasoning_effort(body: Mapping[str, Any]) -> str | None:
    """`reasoning.effort`, for the upstreams that take chat's `reasoning_effort`."""
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    return effort if isinstance(effort, str) else None


def _invalid(param: str, message: str, code: str | None = None) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{param}': {message}", param=param, code=code)


def _refuse_untranslatable(body: Mapping[str, Any]) -> None:
    for field, what in REFUSED_FIELDS.items():
        if body.get(field):
            raise _invalid(field, f"Patchbay does not translate {what}; {NATIVE_HINT}.")
    if body.get("prompt") is not None:
        raise _invalid("prompt", f"prompt templates live at OpenAI; {NATIVE_HINT}.")


class _Conversation:
    """Chat messages built item by item; remembers which function calls were made."""

    def __init__(self) -> None:
        self.messages: list[Json] = []
        self.calls: set[str] = set()

    def add(self, item: Any, where: str) -> None:
        if not isinstance(item, dict):
            raise _invalid(where, "an input item is an object.")
        kind = item.get("type", "message")
        if kind == "message":
            self.messages.append(_message(item, where))
        elif kind == "function_call":
            self._call(item, where)
        elif kind == "function_call_output":
            self._output(item, where)
        elif kind != "reasoning":  # an upstream's own reasoning: nothing else can replay it
            raise _invalid(
                f"{where}.type",
                f"'{kind}' items are not supported; Patchbay translates message, "
                f"function_call and function_call_output items ({NATIVE_HINT}).",
                "unsupported_item",
            )

    def _call(self, item: Json, where: str) -> None:
        call_id, name = _text_field(item, "call_id", where), _text_field(item, "name", where)
        arguments = item.get("arguments", "")
        if not isinstance(arguments, str):
            raise _invalid(f"{where}.arguments", "arguments are a JSON string.")
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        last = self.messages[-1] if self.messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)  # one assistant turn, as chat has it
        else:
            self.messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        self.calls.add(call_id)

    def _output(self, item: Json, where: str) -> None:
        call_id = _text_field(item, "call_id", where)
        if call_id not in self.calls:
            raise _invalid(
                f"{where}.call_id",
                f"no function_call with call_id '{call_id}' comes before this output.",
                "unknown_call_id",
            )
        output = item.get("output")
        if isinstance(output, list):
            output = _text(output, f"{where}.output")
        if not isinstance(output, str):
            raise _invalid(f"{where}.output", "an output is a string or a list of text parts.")
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": output})


def _text_field(item: Json, name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"Missing required parameter: '{where}.{name}'.", param=f"{where}.{name}"
        )
    return value


def _message(item: Json, where: str) -> Json:
    role = ROLES.get(str(item.get("role")))
    if role is None:
        raise _invalid(f"{where}.role", "a message's role is user, assistant, system or developer.")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise _invalid(f"{where}.content", "content is a string or a list of parts.")
    if role != "user" or all(_is_text(part) for part in content):
        return {"role": role, "content": _text(content, f"{where}.content")}
    return {
        "role": role,
        "content": [_part(p, f"{where}.content[{i}]") for i, p in enumerate(content)],
    }


def _is_text(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") in TEXT_PARTS


def _text(parts: list[Any], where: str) -> str:
    """Text parts (and an assistant's refusals) joined into one string."""
    texts = []
    for i, part in enumerate(parts):
        if _is_text(part) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part, dict) and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise _invalid(f"{where}[{i}]", f"a '{kind}' part cannot go here; text parts can.")
    return "".join(texts)


def _part(part: Any, where: str) -> Json:
    """One part of a user message: text, or an image given by URL (or data URL)."""
    if _is_text(part) and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if isinstance(part, dict) and part.get("type") == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise _invalid(f"{where}.image_url", "images are sent as image_url (https or data:).")
        image: Json = {"url": url}
        if isinstance(part.get("detail"), str):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    kind = part.get("type") if isinstance(part, dict) else type(part).__name__
    raise _invalid(f"{where}.type", f"'{kind}' parts are not supported; text and input_image are.")


def _tools(body: Mapping[str, Any]) -> Json:
    fields: Json = {}
    tools = body.get("tools") or []
    if tools:
        fields["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
        if isinstance(body.get("parallel_tool_calls"), bool):
            fields["parallel_tool_calls"] = body["parallel_tool_calls"]
    choice = body.get("tool_choice")
    if choice is not None:
        fields["tool_choice"] = _tool_choice(choice)
    return fields


def _tool(tool: Json, where: str) -> Json:
    if tool.get("type") != "function":
        raise _invalid(
            f"{where}.type",
            f"'{tool.get('type')}' tools are not supported; function tools are ({NATIVE_HINT}).",
        )
    function: Json = {"name": _text_field(tool, "name", where)}
    for field in ("description", "parameters", "strict"):
        if tool.get(field) is not None:
            function[field] = tool[field]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice in ("none", "auto", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {
            "type": "function",
            "function": {"name": _text_field(choice, "name", "tool_choice")},
        }
    raise _invalid("tool_choice", "must be none, auto, required or {type: function, name}.")


def _sampling(body: Mapping[str, Any]) -> Json:
    fields = {k: body[k] for k in ("temperature", "top_p") if body.get(k) is not None}
    if body.get("max_output_tokens") is not None:
        fields["max_tokens"] = body["max_output_tokens"]
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str):
        fields["user"] = user
    return fields


def _response_format(text: Any) -> Json | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise _invalid("text.format.type", "must be text, json_object or json_schema.")

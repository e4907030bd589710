"""What echo answers when it plays an agent: tool calls, structured output, tool results.

The plain echo replies with the last user message. A chat request may ask for more, and
echo answers as a model would, offline and deterministically:

- `tools` with `tool_choice` "required" or naming a function, or a last user message that
  names tools (tool_choice "auto" or absent): `tool_calls`, one per tool named (in the
  order mentioned; the named or first tool when none is), whose `arguments` are an
  instance of the tool's `parameters` (engine/providers/echo_schema.py): the last user
  message itself when it is a JSON object valid against them, else one drawn from them;
- `response_format` `json_schema`: an instance of the schema as the content;
  `json_object`: `{"message": <the last user message>}`;
- a conversation that ends with a tool result: that result is the reply;
- `stop`: a reply ends before the first stop sequence in it.

Each of the `n` choices draws from its own generator, seeded by `seed` (else by the
messages), so one request always gets the same answer.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.config.client_schema import instance_problem, schema_problem
from engine.errors import InvalidRequest
from engine.providers.echo_schema import Unsatisfiable, instance_of

NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI sends it


@dataclass(frozen=True, slots=True)
class Turn:
    """One choice of the answer: text, or tool calls, and why it ended."""

    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    parameters: Mapping[str, Any]
    param: str  # where the tool sits in the request, for error messages


def last_text(body: Mapping[str, Any], role: str = "user") -> str:
    """The text of the last message of `role`, whether a string or a list of parts."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == role:
            content = message.get("content")
            if isinstance(content, list):
                parts = [str(p.get("text", "")) for p in content if isinstance(p, dict)]
                return " ".join(parts).strip()
            return content if isinstance(content, str) else ""
    return ""


def agent_turns(body: Mapping[str, Any], choices: int) -> list[Turn] | None:
    """The turns for tool calls or structured output; None when the reply is text."""
    said = last_text(body)
    tools = _tools_to_call(body, said)
    answer_format = body.get("response_format") or {}
    if not tools and answer_format.get("type") not in ("json_schema", "json_object"):
        return None
    seed = _seed(body)
    if tools:
        return [
            Turn(
                None,
                tuple(_call(tool, said, seed, i, at) for at, tool in enumerate(tools)),
                "tool_calls",
            )
            for i in range(choices)
        ]
    if answer_format.get("type") == "json_schema":
        schema = answer_format["json_schema"].get("schema", {"type": "object"})
        where = "response_format.json_schema.schema"
        return [
            Turn(_dumps(_instance(schema, said, _rng(seed, i, "response_format"), where)))
            for i in range(choices)
        ]
    return [Turn(_dumps({"message": said}))] * choices  # json_object


def said_last(body: Mapping[str, Any]) -> str:
    """What the plain echo repeats: a tool result when the conversation ends with one,
    else the last user message."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else None
    if isinstance(last, dict) and last.get("role") == "tool":
        return last_text(body, "tool")
    return last_text(body)


def cut_at_stop(text: str, stop: Any) -> tuple[str, bool]:
    """`text` up to the first of the `stop` sequences in it, and whether one was found."""
    sequences = [stop] if isinstance(stop, str) else list(stop or [])
    found = [text.find(s) for s in sequences if s and s in text]
    return (text[: min(found)], True) if found else (text, False)


def _tools_to_call(body: Mapping[str, Any], said: str) -> list[Tool]:
    tools = [
        Tool(
            t["function"]["name"],
            t["function"].get("parameters") or NO_PARAMETERS,
            f"tools[{i}].function.parameters",
        )
        for i, t in enumerate(body.get("tools") or [])
        if t.get("type") == "function" and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return []
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        forced = [t for t in tools if t.name == name]
        if not forced:
            raise InvalidRequest(
                f"tool_choice names the function {name!r}, which is not among the tools.",
                param="tool_choice",
            )
        return forced
    named = sorted(
        (found.start(), tool)
        for tool in tools
        if (found := re.search(rf"(?<![\w-]){re.escape(tool.name)}(?![\w-])", said))
    )
    chosen = [tool for _, tool in named]
    if not chosen and choice == "required":
        chosen = tools[:1]
    if body.get("parallel_tool_calls") is False:
        chosen = chosen[:1]
    if chosen and not _asked_by_user(body) and choice != "required":
        return []  # after a tool result, "auto" answers in words
    return chosen


def _asked_by_user(body: Mapping[str, Any]) -> bool:
    messages = body.get("messages") or []
    return bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "user"


def _call(tool: Tool, said: str, seed: str, choice: int, position: int) -> ToolCall:
    arguments = _instance(tool.parameters, said, _rng(seed, choice, tool.name), tool.param)
    digest = hashlib.sha256(f"{seed}:{choice}:{position}:{tool.name}".encode()).hexdigest()
    return ToolCall(id="call_" + digest[:24], name=tool.name, arguments=_dumps(arguments))


def _instance(schema: Any, said: str, rng: random.Random, param: str) -> Any:
    """An instance of a client's schema, checked against it; a 400 naming `param` when
    the schema is invalid or asks for what echo cannot produce."""
    problem = schema_problem(schema)
    if problem is not None:
        raise InvalidRequest(f"Invalid schema at '{param}': {problem}", param=param)
    written = _json_object(said)
    if written is not None and instance_problem(schema, written) is None:
        return written  # the user wrote the instance: a test controls the arguments
    try:
        instance = instance_of(schema, said, rng)
    except Unsatisfiable as exc:
        raise _unsupported(param, str(exc)) from None
    problem = instance_problem(schema, instance)
    if problem is not None:
        raise _unsupported(param, f"its best attempt fails at {problem}")
    return instance


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _unsupported(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"The echo provider cannot produce an instance of the schema at '{param}': {why}.",
        param=param,
        code="unsupported_schema",
    )


def _seed(body: Mapping[str, Any]) -> str:
    if isinstance(body.get("seed"), int):
        return str(body["seed"])
    return hashlib.sha256(_dumps(body.get("messages")).encode()).hexdigest()


def _rng(seed: str, choice: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{choice}:{name}")  # a str seed is stable across runs


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

"""OpenAI's Responses API as the fake OpenAI upstream speaks it (POST /v1/responses).

Deterministic, as OpenAI's reference documents the wire: a function_call when function
tools are offered and the last input item is not a function_call_output, otherwise a
message quoting the last user text. It refuses what the real API refuses when nothing
is stored (`previous_response_id`, a function_call_output without its call). Model
`fail-500` answers 500; `break-stream` drops the connection after the first delta.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

Json = dict[str, Any]


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }
    return web.json_response(body, status=status)


def _problem(body: Json) -> tuple[str, str | None] | None:
    if body.get("previous_response_id"):
        return (
            "Previous response cannot be used for this organization (store is off).",
            "previous_response_id",
        )
    items = body.get("input")
    if isinstance(items, str):
        return None
    calls: set[str] = set()
    for i, item in enumerate(items or []):
        if item.get("type") == "function_call":
            calls.add(item["call_id"])
        if item.get("type") == "function_call_output" and item.get("call_id") not in calls:
            return (
                f"No tool call found for function call output with call_id {item.get('call_id')}.",
                f"input[{i}]",
            )
    return None


def _last_text(items: Any) -> str:
    if isinstance(items, str):
        return items
    for item in reversed(items):
        content = item.get("content")
        if item.get("role") == "user" and isinstance(content, str):
            return content
        if item.get("role") == "user" and isinstance(content, list):
            return " ".join(p.get("text", "") for p in content)
    return ""


def _output(body: Json) -> list[Json]:
    items = body["input"]
    last = items[-1] if isinstance(items, list) and items else {}
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    if tools and last.get("type") != "function_call_output":
        call = {"type": "function_call", "id": "fc_fake1", "call_id": "call_fake1"}
        return [
            {
                **call,
                "name": tools[0]["name"],
                "arguments": '{"city": "Paris"}',
                "status": "completed",
            }
        ]
    text = f"native says: {_last_text(items)}"
    if last.get("type") == "function_call_output":
        text = f"native saw the tool say: {last['output']}"
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return [
        {
            "type": "message",
            "id": "msg_fake1",
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
    ]


def response(body: Json, status: str = "completed", output: list[Json] | None = None) -> Json:
    done = status == "completed"
    answer = {
        "id": "resp_fake" + str(abs(hash(orjson.dumps(body["input"]))) % 10**8),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "completed_at": int(time.time()) if done else None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": _output(body) if output is None else output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": None,
        "store": bool(body.get("store", True)),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "metadata": {},
    }
    if done:
        answer["usage"] = {
            "input_tokens": 11,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 6,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 17,
        }
    return answer


def stream_events(body: Json) -> list[Json]:
    """The documented lifecycle of the answer, numbered from 0."""
    final = response(body)
    started = response(body, "in_progress", [])
    events: list[Json] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    for index, item in enumerate(final["output"]):
        events += _item_events(index, item)
    events.append({"type": "response.completed", "response": final})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def _item_events(index: int, item: Json) -> list[Json]:
    where = {"item_id": item["id"], "output_index": index}
    if item["type"] == "function_call":
        opened = {**item, "arguments": "", "status": "in_progress"}
        half = len(item["arguments"]) // 2
        deltas = [item["arguments"][:half], item["arguments"][half:]]
        return [
            {"type": "response.output_item.added", "output_index": index, "item": opened},
            *(
                {"type": "response.function_call_arguments.delta", **where, "delta": d}
                for d in deltas
            ),
            {
                "type": "response.function_call_arguments.done",
                **where,
                "name": item["name"],
                "arguments": item["arguments"],
            },
            {"type": "response.output_item.done", "output_index": index, "item": item},
        ]
    part = item["content"][0]
    at = {**where, "content_index": 0}
    words = part["text"].split(" ")
    deltas = [w if i == 0 else " " + w for i, w in enumerate(words)]
    return [
        {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "content": [], "status": "in_progress"},
        },
        {"type": "response.content_part.added", **at, "part": {**part, "text": ""}},
        *({"type": "response.output_text.delta", **at, "delta": d, "logprobs": []} for d in deltas),
        {"type": "response.output_text.done", **at, "text": part["text"], "logprobs": []},
        {"type": "response.content_part.done", **at, "part": part},
        {"type": "response.output_item.done", "output_index": index, "item": item},
    ]


async def answer(request: web.Request, body: Json) -> web.StreamResponse:
    if body.get("model") == "fail-500":
        return _error(500, "the native upstream failed")
    problem = _problem(body)
    if problem is not None:
        return _error(400, *problem)
    if not body.get("stream"):
        return web.json_response(response(body), dumps=lambda o: orjson.dumps(o).decode())
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for event in stream_events(body):
        await resp.write(f"event: {event['type']}\ndata: ".encode() + orjson.dumps(event) + b"\n\n")
        if body["model"] == "break-stream" and event["type"].endswith(".delta"):
            assert request.transport is not None
            request.transport.close()  # the connection drops mid-answer
            return resp
    return resp

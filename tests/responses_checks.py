"""Checks for Responses API answers: each against OpenAI's published schema, and every
stream against the documented order of its events."""

from __future__ import annotations

import json
from typing import Any

from tests.openapi_schemas import validate

Json = dict[str, Any]
EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.refusal.delta": "ResponseRefusalDeltaEvent",
    "response.refusal.done": "ResponseRefusalDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
    "error": "ResponseErrorEvent",
}
FINAL = ("response.completed", "response.incomplete")


def parse_stream(raw: bytes) -> list[Json]:
    """The events of a raw SSE body; each `event:` line must name its data's type."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        event = json.loads(fields["data"])
        assert fields.get("event") == event["type"], block[:200]
        events.append(event)
    return events


def check_stream(events: list[Json]) -> Json:
    """Validate every event and the order; the last Response (completed, incomplete or failed)."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        validate(EVENT_SCHEMAS[event["type"]], event)
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    response_id = events[0]["response"]["id"]
    done = _items(events[2:], response_id)
    last = events[-1]
    assert last["response"]["id"] == response_id
    if last["type"] == "response.failed":
        assert events[-2]["type"] == "error"
    else:
        assert last["type"] in FINAL
        assert last["response"]["output"] == done
        assert "usage" in last["response"] and last["response"]["model"]
    return last["response"]  # type: ignore[no-any-return]


def _items(events: list[Json], response_id: str) -> list[Json]:
    """Walk the item events (one item at a time); the items as output_item.done gave them."""
    done: list[Json] = []
    at = 0
    while at < len(events) and events[at]["type"] == "response.output_item.added":
        added = events[at]
        assert added["output_index"] == len(done)
        at += 1
        kind = added["item"]["type"]
        if kind == "message":
            parts, at = _parts(events, at, added["item"]["id"], len(done))
        else:
            parts, at = _arguments(events, at, added["item"], len(done))
        if at == len(events):
            return done  # a stream that failed mid-item
        closing = events[at]
        if closing["type"] != "response.output_item.done":
            return done
        assert closing["output_index"] == len(done)
        assert closing["item"]["id"] == added["item"]["id"]
        if kind == "message":
            assert closing["item"]["content"] == parts
        else:
            assert closing["item"]["arguments"] == parts[0]["arguments"]
        done.append(closing["item"])
        at += 1
    rest = [e["type"] for e in events[at:]]
    assert rest in (
        ["response.completed"],
        ["response.incomplete"],
        ["error", "response.failed"],
    ), rest
    return done


def _parts(events: list[Json], at: int, item_id: str, index: int) -> tuple[list[Json], int]:
    parts: list[Json] = []
    while at < len(events) and events[at]["type"] == "response.content_part.added":
        kind = events[at]["part"]["type"]
        where = {"item_id": item_id, "output_index": index, "content_index": len(parts)}
        assert {k: events[at][k] for k in where} == where
        at += 1
        delta_type = f"response.{'output_text' if kind == 'output_text' else 'refusal'}.delta"
        text = ""
        while at < len(events) and events[at]["type"] == delta_type:
            assert {k: events[at][k] for k in where} == where
            text += events[at]["delta"]
            at += 1
        if at == len(events) or events[at]["type"] == "error":
            return parts, at
        done_type = delta_type.replace(".delta", ".done")
        assert events[at]["type"] == done_type
        assert events[at]["text" if kind == "output_text" else "refusal"] == text
        assert events[at + 1]["type"] == "response.content_part.done"
        part = events[at + 1]["part"]
        assert part["text" if kind == "output_text" else "refusal"] == text
        parts.append(part)
        at += 2
    return parts, at


def _arguments(events: list[Json], at: int, item: Json, index: int) -> tuple[list[Json], int]:
    arguments = ""
    while at < len(events) and events[at]["type"] == "response.function_call_arguments.delta":
        assert events[at]["item_id"] == item["id"] and events[at]["output_index"] == index
        arguments += events[at]["delta"]
        at += 1
    if at == len(events) or events[at]["type"] == "error":
        return [{"arguments": arguments}], at
    done = events[at]
    assert done["type"] == "response.function_call_arguments.done"
    assert done["arguments"] == arguments and done["name"] == item["name"]
    return [{"arguments": arguments}], at + 1


def check_response(response: Json) -> None:
    """A non-stream answer against OpenAI's Response component."""
    validate("Response", response)
    assert response["object"] == "response"

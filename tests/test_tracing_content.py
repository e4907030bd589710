"""What spans say of a request's content, read from bodies in every wire format (pure).

engine/observe/genai.py reads the client's body after any answer (a 400 included) and
the upstream's answer: whatever their shape, it must give attributes, never fail.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.observe.genai import answer_attributes, request_attributes

ATTRIBUTE_TYPES = (str, bool, int, float)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "role",
                    "content",
                    "type",
                    "text",
                    "tool_calls",
                    "function",
                    "messages",
                    "input",
                    "system",
                    "instructions",
                    "output",
                    "choices",
                    "message",
                    "source",
                    "image_url",
                    "call_id",
                    "id",
                    "stop_reason",
                    "status",
                    "incomplete_details",
                    "prompt",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=30,
)


def messages(attributes: dict[str, Any], name: str = "gen_ai.input.messages") -> Any:
    return json.loads(str(attributes[name]))


@settings(max_examples=400, deadline=None)
@given(json_values, st.sampled_from(["openai", "responses", "anthropic"]))
def test_any_body_or_answer_gives_attributes_never_an_error(value: Any, wire: str) -> None:
    raw = orjson.dumps(value)
    for attributes in (request_attributes(raw), answer_attributes(wire, raw, capture=True)):
        for name, found in attributes.items():
            values = found if isinstance(found, list) else [found]
            assert all(isinstance(v, ATTRIBUTE_TYPES) for v in values), name


def test_tool_calls_and_their_results_in_chat() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "rain"},
        ]
    }
    assert messages(request_attributes(orjson.dumps(body))) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "weather?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "c1", "name": "weather", "arguments": '{"city":"Oslo"}'}
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "rain"}]},
    ]


def test_anthropic_tool_use_images_and_system() -> None:
    body = {
        "system": [{"type": "text", "text": "be brief"}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                    {"type": "image", "source": {"type": "base64", "data": "iVBORw0KGgo"}},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "done"}],
            },
        ],
    }
    found = request_attributes(orjson.dumps(body))
    assert messages(found, "gen_ai.system_instructions") == [
        {"type": "text", "content": "be brief"}
    ]
    user, assistant, result = messages(found)
    assert user["parts"] == [
        {"type": "uri", "modality": "image", "uri": "https://x.test/a.png"},
        {"type": "blob", "modality": "image"},  # inline data is not copied into traces
    ]
    assert assistant["parts"] == [
        {"type": "tool_call", "id": "t1", "name": "f", "arguments": {"a": 1}}
    ]
    assert result["parts"] == [{"type": "tool_call_response", "id": "t1", "response": "done"}]
    answer = {"id": "msg_1", "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}
    said = answer_attributes("anthropic", orjson.dumps(answer), capture=False)
    assert said == {"gen_ai.response.id": "msg_1", "gen_ai.response.finish_reasons": ["end_turn"]}


def test_responses_items_and_an_incomplete_answer() -> None:
    body = {
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ],
    }
    assert messages(request_attributes(orjson.dumps(body))) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "f", "arguments": "{}"}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "42"}]},
    ]
    answer = {
        "id": "resp_1",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "par"}]}],
    }
    said = answer_attributes("responses", orjson.dumps(answer), capture=True)
    assert said["gen_ai.response.finish_reasons"] == ["max_output_tokens"]
    assert messages(said, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "par"}],
            "finish_reason": "max_output_tokens",
        }
    ]


def test_texts_to_embed_are_user_turns_and_token_arrays_are_left_out() -> None:
    found = request_attributes(orjson.dumps({"input": ["one", [1, 2, 3], "two"]}))
    assert [turn["parts"][0]["content"] for turn in messages(found)] == ["one", "two"]
    assert request_attributes(orjson.dumps({"input": [[1, 2, 3]]})) == {}
    assert request_attributes(b"not json") == request_attributes(b"[1]") == {}

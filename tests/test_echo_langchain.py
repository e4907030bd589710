"""LangChain against the echo provider, with no key: a tool loop and structured output."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from tests.harness import gateway, write_config


@tool
def get_weather(city: str, days: int = 1) -> str:
    """The forecast for a city, for a number of days."""
    return f"Sunny in {city} for {days} day(s)"


class Person(BaseModel):
    """Someone mentioned in the text."""

    name: str = Field(description="full name")
    age: int = Field(ge=0, le=150)
    languages: list[str] = Field(min_length=1)
    email: str | None = None


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatOpenAI]:
    config = write_config(
        tmp_path_factory.mktemp("lc") / "cfg",
        {"providers": {"echo": {"kind": "echo", "models": ["echo-1"]}}},
    )
    with gateway(config) as url:
        yield ChatOpenAI(base_url=url + "/v1", api_key="unused", model="echo/echo-1", max_retries=0)


def test_bind_tools_invoke_returns_a_tool_call_and_the_loop_ends(llm: ChatOpenAI) -> None:
    agent = llm.bind_tools([get_weather])
    question = HumanMessage("What is the weather in Paris? Ask get_weather.")
    reply = agent.invoke([question])
    (call,) = reply.tool_calls
    assert call["name"] == "get_weather"
    assert isinstance(call["args"]["city"], str) and isinstance(call["args"]["days"], int)
    result = get_weather.invoke(call["args"])
    final = agent.invoke([question, reply, ToolMessage(result, tool_call_id=call["id"])])
    assert final.tool_calls == [] and final.content == result


def test_bind_tools_with_a_required_choice_and_streaming(llm: ChatOpenAI) -> None:
    agent = llm.bind_tools([get_weather], tool_choice="any")
    chunks = list(agent.stream("hello"))
    assert len(chunks) > 3
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert [c["name"] for c in merged.tool_calls] == ["get_weather"]


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_with_structured_output_returns_a_valid_object(llm: ChatOpenAI, method: str) -> None:
    person = llm.with_structured_output(Person, method=method).invoke(
        "Ada Lovelace, 36, wrote in English and French."
    )
    assert isinstance(person, Person)
    assert 0 <= person.age <= 150 and person.languages

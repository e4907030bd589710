"""Search-grounded chat with the OpenAI SDK: `web_search_options` or an alias with
`search:`, against `echo` (whose reply shows the context it was given) and a fake
OpenAI upstream, streamed and not; the citations' URLs are the search results'."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import gateway, write_config
from tests.search_harness import Fakes, running_fakes, search, search_config

QUESTION = "what is python"


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(("gpt-test",)).in_thread() as fake:
        yield fake


@pytest.fixture(scope="module")
def base(
    fakes: Fakes, upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    config = search_config(fakes)
    config["providers"]["up"] = {
        "kind": "openai",
        "base_url": upstream.url,
        "api_key": "${FAKE_UPSTREAM_KEY}",
        "models": ["gpt-test"],
    }
    config["aliases"] = {
        "wiki-echo": {
            "targets": [{"model": "echo/echo-1"}],
            "search": {"engine": "wiki", "max_results": 2},
        },
        "web-up": {"targets": [{"model": "up/gpt-test"}], "search": {}},
    }
    directory = write_config(tmp_path_factory.mktemp("cfg"), config)
    with gateway(directory, environ={"FAKE_UPSTREAM_KEY": API_KEY}) as url:
        yield url


@pytest.fixture
def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0, timeout=20)


def ask(question: str = QUESTION) -> list[Any]:
    return [{"role": "user", "content": question}]


def result_urls(base: str, **params: Any) -> list[str]:
    status, _, body = search(base, **params)
    assert status == 200
    return [result["url"] for result in body["results"]]


def check_citations(content: str, annotations: list[Any], urls: list[str]) -> None:
    """Every annotation marks an `[n]` in the content and carries source n's URL."""
    assert annotations, "no citations"
    for note in annotations:
        assert note.type == "url_citation"
        cited = note.url_citation
        number = int(content[cited.start_index : cited.end_index].strip("[]"))
        assert cited.url == urls[number - 1]
    assert sorted({note.url_citation.url for note in annotations}) == sorted(urls)


def test_echo_shows_the_numbered_sources_and_cites_them(client: openai.OpenAI, base: str) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="echo/echo-1", messages=ask(), web_search_options={}
    )
    assert raw.headers["x-patchbay-search-engine"] == "ddg"
    message = raw.parse().choices[0].message
    urls = result_urls(base, q=QUESTION, max_results=5)
    content = message.content or ""
    assert content.startswith(f'Web search results for "{QUESTION}", numbered as sources:\n\n')
    assert f"[1] {QUESTION} result 1\n{urls[0]}\nSnippet 1 about {QUESTION} & friends.\n" in content
    assert f"[5] {QUESTION} result 5\n{urls[4]}\n" in content
    assert "[6]" not in content
    assert content.endswith(f"\n\n{QUESTION}")
    check_citations(content, message.annotations or [], urls)


def test_echo_stream_gets_its_citations_before_the_finish(client: openai.OpenAI, base: str) -> None:
    stream = client.chat.completions.create(
        model="echo/echo-1",
        messages=ask(),
        web_search_options={"search_context_size": "low"},
        stream=True,
        stream_options={"include_usage": True},
    )
    content, annotations, finished_after_notes = "", [], False
    for chunk in stream:
        if not chunk.choices:
            continue  # the usage chunk
        delta = chunk.choices[0].delta
        content += delta.content or ""
        notes = getattr(delta, "annotations", None)
        if notes:
            annotations += [
                openai.types.chat.chat_completion_message.Annotation(**n) for n in notes
            ]
        if chunk.choices[0].finish_reason:
            finished_after_notes = bool(annotations)
    assert finished_after_notes
    urls = result_urls(base, q=QUESTION, max_results=3)
    assert len(re.findall(r"^\[\d\] ", content, re.MULTILINE)) == 3
    check_citations(content, annotations, urls)


def test_openai_upstream_gets_the_context_and_not_the_option(
    client: openai.OpenAI, base: str, upstream: FakeOpenAI
) -> None:
    reply = client.chat.completions.create(
        model="up/gpt-test", messages=ask(), web_search_options={"search_context_size": "high"}
    )
    sent = upstream.requests[-1].json()
    assert "web_search_options" not in sent
    assert sent["messages"][-1]["content"].startswith("Web search results for")
    message = reply.choices[0].message
    assert (message.content or "").startswith("upstream says: Web search results for")
    check_citations(message.content or "", message.annotations or [], result_urls(base, q=QUESTION))


def test_openai_upstream_stream_through_a_search_alias(
    client: openai.OpenAI, base: str, upstream: FakeOpenAI
) -> None:
    stream = client.chat.completions.create(model="web-up", messages=ask(), stream=True)
    content, annotations = "", []
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for note in getattr(delta, "annotations", None) or []:
            annotations.append(openai.types.chat.chat_completion_message.Annotation(**note))
    assert "web_search_options" not in upstream.requests[-1].json()
    assert content.startswith("upstream says: Web search results for")
    check_citations(content, annotations, result_urls(base, q=QUESTION, max_results=5))


def test_alias_names_its_engine_and_count(client: openai.OpenAI, base: str, fakes: Fakes) -> None:
    before = fakes.hits()
    reply = client.chat.completions.create(model="wiki-echo", messages=ask("monty python"))
    after = fakes.hits()
    assert (after["wiki"] - before["wiki"], after["ddg"] - before["ddg"]) == (1, 0)
    message = reply.choices[0].message
    urls = result_urls(base, q="monty python", engine="wiki", max_results=2)
    assert urls[0].endswith("/wiki/Monty_Python_result_1")
    check_citations(message.content or "", message.annotations or [], urls)


def test_a_plain_chat_is_not_grounded(client: openai.OpenAI, fakes: Fakes) -> None:
    before = fakes.hits()
    raw = client.chat.completions.with_raw_response.create(model="echo/echo-1", messages=ask())
    assert raw.parse().choices[0].message.content == QUESTION
    assert raw.parse().choices[0].message.annotations is None
    assert "x-patchbay-search-engine" not in raw.headers
    assert fakes.hits() == before


def test_multimodal_question_gets_the_sources_as_its_first_part(client: openai.OpenAI) -> None:
    parts = [{"type": "text", "text": QUESTION}]
    reply = client.chat.completions.create(
        model="echo/echo-1", messages=[{"role": "user", "content": parts}], web_search_options={}
    )
    content = reply.choices[0].message.content or ""
    assert content.startswith("Web search results for") and content.endswith(QUESTION)


def test_a_failed_search_fails_the_chat_before_any_upstream(
    client: openai.OpenAI, fakes: Fakes, upstream: FakeOpenAI
) -> None:
    before = len(upstream.requests)
    fakes.ddg.down = True
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="web-up", messages=ask())
    finally:
        fakes.ddg.down = False
    assert caught.value.status_code == 502
    assert len(upstream.requests) == before


def test_nothing_to_search_for_goes_on_without_a_search(
    client: openai.OpenAI, fakes: Fakes
) -> None:
    before = fakes.hits()
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "  "}]
    raw = client.chat.completions.with_raw_response.create(
        model="echo/echo-1", messages=messages, web_search_options={}
    )
    assert raw.parse().choices[0].message.content == "  "
    assert "x-patchbay-search-engine" not in raw.headers
    assert fakes.hits() == before


def test_unknown_context_size_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="echo/echo-1",
            messages=ask(),
            web_search_options={"search_context_size": "huge"},  # type: ignore[typeddict-item]
        )
    assert caught.value.body["param"] == "web_search_options.search_context_size"  # type: ignore[index]

"""docs/providers.md cannot drift: every YAML block in it is a providers.yaml that loads,
validates and serves; the Azure recipe is sent to a fake Azure OpenAI that insists on
its api-key header and api-version query, the OpenRouter one to a fake that records
its attribution headers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.config import env_refs, read_sources
from engine.handlers import WIRE_FORMATS
from engine.live.reload import build_snapshot
from tests.fakes.azure_server import API_KEY as AZURE_KEY
from tests.fakes.azure_server import FakeAzureOpenAI
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import gateway, write_config
from tests.test_chat import post

DOC = Path(__file__).resolve().parent.parent / "docs" / "providers.md"
RECIPES = ("Azure OpenAI", "Gemini", "Groq", "OpenRouter", "Ollama", "vLLM")


BLOCK = re.compile(r"^#+ ([^\n]+)$|^```yaml\n(.*?)^```$", flags=re.M | re.S)


def blocks() -> dict[str, str]:
    """Every ```yaml block of the page, by the heading above it."""
    found: dict[str, str] = {}
    heading = ""
    for match in BLOCK.finditer(DOC.read_text()):
        if match.group(1) is not None:
            heading = match.group(1)
        else:
            found[heading] = match.group(2)
    return found


def settings_for(text: str) -> dict[str, str]:
    """A value for every variable a block refers to: a loopback URL or a key."""
    names = set(env_refs(text))
    return {n: "http://127.0.0.1:9" if n.endswith(("_URL", "_ENDPOINT")) else "k" for n in names}


def test_every_recipe_is_on_the_page() -> None:
    found = blocks()
    assert {name.split(" (")[0] for name in found} >= set(RECIPES)
    assert len(found) == len(RECIPES) + 2  # and the parameter and header examples


@pytest.mark.parametrize("heading", list(blocks()))
def test_each_block_loads_and_serves_every_provider_and_alias(tmp_path: Path, heading: str) -> None:
    text = blocks()[heading]
    directory = write_config(tmp_path / "cfg", {"providers": {}})
    (directory / "providers.yaml").write_text(text)
    snapshot = build_snapshot(read_sources(directory), WIRE_FORMATS, settings_for(text), {})
    declared = yaml.safe_load(text)
    assert {n: p.status for n, p in snapshot.providers.items()} == dict.fromkeys(
        declared["providers"], "active"
    )
    assert set(snapshot.aliases) == set(declared.get("aliases", {}))


def recipe(tmp_path: Path, heading: str, environ: dict[str, str]) -> Path:
    directory = write_config(tmp_path / "cfg", {"providers": {}})
    (directory / "providers.yaml").write_text(blocks()[heading])
    assert set(environ) <= set(env_refs(blocks()[heading]))
    return directory


def chat(url: str, model: str, **extra: Any) -> tuple[int, dict[str, str], Any]:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}
    status, headers, raw = post(url + "/v1/chat/completions", json.dumps(body).encode())
    return status, headers, raw


def test_the_azure_recipe_against_a_resource_that_insists_on_key_and_version(
    tmp_path: Path,
) -> None:
    deployments = {"gpt-4o": "gpt-4o-2024-08-06", "text-embedding-3-small": "te3s"}
    with FakeAzureOpenAI(deployments).in_thread() as azure:
        environ = {"AZURE_OPENAI_ENDPOINT": azure.endpoint, "AZURE_OPENAI_API_KEY": AZURE_KEY}
        directory = recipe(tmp_path, "Azure OpenAI", environ)
        with gateway(directory, environ=environ) as url:
            status, _, raw = chat(url, "gpt-4o")
            assert status == 200, raw
            assert json.loads(raw)["choices"][0]["message"]["content"] == "azure says: hello"
            status, _, raw = chat(url, "azure-gpt-4o/gpt-4o", stream=True)
            assert status == 200 and b"azure says: hello" in raw
            assert raw.endswith(b"data: [DONE]\n\n")
            embed = {"model": "azure-embeddings/text-embedding-3-small", "input": ["a", "b"]}
            status, _, raw = post(url + "/v1/embeddings", json.dumps(embed).encode())
            assert status == 200 and len(json.loads(raw)["data"]) == 2
        sent = list(azure.requests)
    assert [r.path for r in sent] == [
        "/openai/deployments/gpt-4o/chat/completions",
        "/openai/deployments/gpt-4o/chat/completions",
        "/openai/deployments/text-embedding-3-small/embeddings",
    ]
    for request in sent:
        assert request.query == {"api-version": "2024-10-21"}
        lowered = {k.lower(): v for k, v in request.headers.items()}
        assert lowered["api-key"] == AZURE_KEY
        assert "authorization" not in lowered


def test_the_fake_azure_refuses_a_bearer_key_and_a_missing_version(tmp_path: Path) -> None:
    """Without `auth` or `query` the same provider fails: the fake does insist."""
    with FakeAzureOpenAI().in_thread() as azure:
        base = {"kind": "openai", "api_key": AZURE_KEY, "models": ["gpt-4o"]}
        url = f"{azure.endpoint}/openai/deployments/gpt-4o"
        providers = {
            "bearer": {**base, "base_url": url, "query": {"api-version": "2024-10-21"}},
            "unversioned": {
                **base,
                "base_url": url,
                "auth": {"type": "header", "header": "api-key"},
            },
        }
        write_config(tmp_path / "cfg", {"providers": providers})
        with gateway(tmp_path / "cfg") as gateway_url:
            bearer, _, _ = chat(gateway_url, "bearer/gpt-4o")
            unversioned, _, _ = chat(gateway_url, "unversioned/gpt-4o")
    assert (bearer, unversioned) == (401, 404)


def test_the_openrouter_recipe_sends_its_attribution_headers(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    environ = {"OPENROUTER_API_KEY": API_KEY, "OPENROUTER_SITE_URL": "https://app.example"}
    directory = recipe(tmp_path, "OpenRouter", environ)
    text = (directory / "providers.yaml").read_text()
    (directory / "providers.yaml").write_text(
        text.replace("https://openrouter.ai/api/v1", fake_openai.url)
    )
    with gateway(directory, environ=environ) as url:
        status, _, _ = chat(url, "openrouter/openai/gpt-4o-mini")
    assert status == 200
    sent = fake_openai.requests[-1]
    lowered = {k.lower(): v for k, v in sent.headers.items()}
    assert (lowered["http-referer"], lowered["x-title"]) == ("https://app.example", "Patchbay")
    assert sent.json()["provider"] == {"data_collection": "deny"}
    assert sent.json()["model"] == "openai/gpt-4o-mini"


def test_an_unset_referer_variable_sends_no_referer(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    environ = {"OPENROUTER_API_KEY": API_KEY}
    directory = recipe(tmp_path, "OpenRouter", environ)
    text = (directory / "providers.yaml").read_text()
    (directory / "providers.yaml").write_text(
        text.replace("https://openrouter.ai/api/v1", fake_openai.url)
    )
    with gateway(directory, environ=environ) as url:
        assert chat(url, "openrouter/openai/gpt-4o-mini")[0] == 200
    lowered = {k.lower() for k in fake_openai.requests[-1].headers}
    assert "x-title" in lowered and "http-referer" not in lowered

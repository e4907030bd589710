"""Every example in the README and on the landing page runs as written.

The examples run against Patchbay serving the shipped config, with the search engines
played by fakes on loopback. The one thing changed is the address: the README says
http://127.0.0.1:8000, the server here listens on a free port. The landing page's
snippets are taken from the page as a browser renders them (they carry the page's own
address). YAML examples are merged into the shipped files and must pass
`patchbay check`. The Quick start's set-up and test commands are tried by .ci/run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import sync_playwright

from engine.cli import main as patchbay
from engine.config.yamlfile import parse_yaml
from tests.fakes.search_servers import BRAVE_TOKEN
from tests.harness import gateway
from tests.pages_harness import SHIPPED
from tests.search_harness import running_fakes

README = (SHIPPED / "README.md").read_text()
ADDRESS = "http://127.0.0.1:8000"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
NODE_MODULES = SHIPPED / "tests" / "js" / "node_modules"
CHROMIUM = Path("/usr/bin/chromium")
NOT_RUN_HERE = ("docker ", "PATCHBAY_REDIS_URL=redis://redis:6379/0 docker ")  # need Docker


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README) if lang == language]


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [body.strip() for lang, body in BLOCK.findall(section) if lang == "bash"][:2]


def curl_examples() -> list[str]:
    """The bash examples to run: all but the Quick start commands and Docker's."""
    skipped = quick_start_commands()
    examples = []
    for body in blocks("bash"):
        if body.strip() in skipped or body.startswith(NOT_RUN_HERE):
            continue
        assert body.startswith("curl "), f"an example this test does not know how to run:\n{body}"
        examples.append(body)
    return examples


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Patchbay on the shipped config, with no provider key, and the shipped search
    engines played by fakes on loopback (Brave with its key)."""
    config = tmp_path_factory.mktemp("readme") / "cfg"
    (config / "config").mkdir(parents=True)
    for name in ("routes.yaml", "config/server.yaml"):
        shutil.copy(SHIPPED / name, config / name)
    environ = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    environ["BRAVE_API_KEY"] = BRAVE_TOKEN
    with running_fakes() as fakes:
        providers = yaml.safe_load((SHIPPED / "providers.yaml").read_text())
        engines = providers["search"]["engines"]
        for name, fake in (
            ("brave", fakes.brave),
            ("duckduckgo", fakes.ddg),
            ("wikipedia", fakes.wiki),
        ):
            engines[name]["base_url"] = fake.url
        (config / "providers.yaml").write_text(yaml.safe_dump(providers, sort_keys=False))
        with gateway(config, environ=environ) as base:
            yield base


def run(command: list[str], url: str, cwd: Path | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd)
    assert result.returncode == 0, f"{command[:2]} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def test_the_quick_start_commands_use_a_virtual_environment() -> None:
    setup, test = quick_start_commands()
    assert setup.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")
    assert test == "scripts/test"


@pytest.mark.parametrize("index", range(len(curl_examples())))
def test_readme_curl_examples(url: str, index: int) -> None:
    example = curl_examples()[index].replace(ADDRESS, url)
    answers = _json_values(run(["bash", "-c", example], url))
    assert answers and all("error" not in answer for answer in answers), answers


def _json_values(output: str) -> list[Any]:
    """Every JSON value in `output` (curl prints one answer after another)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(output, at)) < len(output):
        value, at = decoder.raw_decode(output, at)
        values.append(value)
    return values


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_readme_python_examples(url: str, index: int) -> None:
    example = blocks("python")[index].replace(ADDRESS, url)
    assert "127.0.0.1:8000" not in example
    output = run([sys.executable, "-c", example], url)
    assert output.strip(), "the example printed nothing"


def test_readme_stream_example_ends_with_the_usage(url: str) -> None:
    example = blocks("python")[0].replace(ADDRESS, url)
    output = run([sys.executable, "-c", example], url)
    assert output.splitlines() == ["hello", "stream me", "4 tokens"]


@pytest.mark.parametrize("index", range(len(blocks("yaml"))))
def test_readme_yaml_examples_are_valid_config(tmp_path: Path, index: int) -> None:
    example = _yaml("README.md", blocks("yaml")[index].encode())
    config = tmp_path / "cfg"
    (config / "config").mkdir(parents=True)
    shutil.copy(SHIPPED / "routes.yaml", config / "routes.yaml")
    server_keys = set(_yaml("server.yaml", (SHIPPED / "config" / "server.yaml").read_bytes()))
    for_server = set(example) <= server_keys
    for name, takes in (("providers.yaml", not for_server), ("config/server.yaml", for_server)):
        shipped = _yaml(name, (SHIPPED / name).read_bytes())
        merged = _merged(shipped, example) if takes else shipped
        (config / name).write_text(yaml.safe_dump(merged, sort_keys=False))
    assert patchbay(["check", "--config-dir", str(config)]) == 0


def _yaml(name: str, text: bytes) -> Any:
    """YAML read as Patchbay reads it (`on` is a string, as in YAML 1.2)."""
    return parse_yaml(name, text).data


def _merged(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in extra.items()}}
    return extra


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_landing_page_snippets(url: str, tmp_path: Path) -> None:
    snippets = _landing_snippets(url)
    answer = json.loads(run(["bash", "-c", snippets["curl"]], url))
    assert answer["choices"][0]["message"]["content"] == "Hello!"
    assert run([sys.executable, "-c", snippets["python"]], url) == "Hello!"
    if not NODE_MODULES.is_dir():
        pytest.fail("the OpenAI JavaScript SDK is missing: npm ci --prefix tests/js")
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    (tmp_path / "example.mjs").write_text(snippets["javascript"])
    assert run(["node", "example.mjs"], url, cwd=tmp_path) == "Hello!"


def _landing_snippets(url: str) -> dict[str, str]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.wait_for_function("document.getElementById('snippet-python').textContent")
            return {
                name: page.eval_on_selector(f"#snippet-{name}", "e => e.textContent")
                for name in ("curl", "python", "javascript")
            }
        finally:
            browser.close()

"""Descriptions are Markdown, rendered as Swagger UI renders them, and never raw HTML."""

from __future__ import annotations

from pathlib import Path

from tests.harness import gateway, write_config
from tests.pages_harness import echo_providers, fetch

DESCRIPTION = "Use `auto` or **any** model. <script>alert(1)</script> [x](javascript:alert(1))"


def test_the_api_description_is_rendered_with_html_escaped(tmp_path: Path) -> None:
    config = write_config(tmp_path, echo_providers(), server={"api": {"description": DESCRIPTION}})
    with gateway(config) as url:
        _, _, raw = fetch(url + "/")
    lede = raw.decode().split('<p class="lede">', 1)[1].split("</p>", 1)[0]
    assert lede.startswith("Use <code>auto</code> or <strong>any</strong> model.")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in lede
    assert "<script" not in lede and "href=" not in lede  # the unsafe link stays text

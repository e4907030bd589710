"""The shipped price list (engine/config/prices.yaml), read and checked like a config file."""

from __future__ import annotations

from importlib import resources
from typing import Any

from engine.config.problems import ConfigInvalid
from engine.config.schema import load_schema, validate
from engine.config.yamlfile import parse_yaml

PRICE_FILE = "prices.yaml"


def shipped_prices() -> dict[str, dict[str, Any]]:
    """`PROVIDER/MODEL` -> its `price:` mapping, from the price list shipped in the package.

    Raises ConfigInvalid when the shipped file is broken (a packaging mistake).
    """
    raw = resources.files("engine.config").joinpath(PRICE_FILE).read_bytes()
    document = parse_yaml(PRICE_FILE, raw)
    problems = document.problems or validate(document, load_schema("prices"))
    if problems:
        raise ConfigInvalid(problems)
    return {
        f"{provider}/{model}": price
        for provider, models in document.data["providers"].items()
        for model, price in models.items()
    }

"""What a model costs: prices per unit, and the cost in US dollars of one answer's usage.

Prices are data (providers.yaml `price:`, else the shipped price list, see
engine/config/prices.yaml); a model with neither has no Price, and its cost is unknown
(None), never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from engine.formats.usage import Usage

PER_MTOK = 1_000_000
NANO = 1_000_000_000  # counters of spend hold billionths of a US dollar


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million input, cached-input and output tokens, per image, per
    second of audio and per character. `cached_input_per_mtok` unset: cached input
    tokens cost what other input tokens do."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    cached_input_per_mtok: float | None = None
    per_image: float = 0.0
    per_audio_second: float = 0.0
    per_character: float = 0.0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Price:
        """A `price:` mapping as the schemas allow it (every member optional)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in spec.items() if k in names})

    @property
    def free(self) -> bool:
        """Nothing this model does costs money (a budget never blocks it)."""
        return not any(getattr(self, f.name) for f in fields(self))

    def cost(self, usage: Usage) -> float:
        """The cost of `usage` at these prices, in US dollars."""
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        cached_rate = self.input_per_mtok
        if self.cached_input_per_mtok is not None:
            cached_rate = self.cached_input_per_mtok
        tokens = (
            (usage.input_tokens - cached) * self.input_per_mtok
            + cached * cached_rate
            + usage.output_tokens * self.output_per_mtok
        )
        return (
            tokens / PER_MTOK
            + usage.images * self.per_image
            + usage.audio_seconds * self.per_audio_second
            + usage.characters * self.per_character
        )


def usd(amount: float) -> str:
    """A cost as headers and logs show it: plain decimal, no exponent, no trailing zeros."""
    text = f"{amount:.10f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def nano(dollars: float) -> int:
    """Dollars in billionths, as spend counters hold them."""
    return round(dollars * NANO)

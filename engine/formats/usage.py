"""What an answer says it consumed, in the units providers bill by."""

from __future__ import annotations

from typing import NamedTuple


class Usage(NamedTuple):
    """The billable counts one answer reports (a wire format reads them, engine/formats).
    A tuple: it is made for every answer, and tuples are cheap to make."""

    input_tokens: int = 0  # prompt tokens, the cached ones included
    cached_input_tokens: int = 0  # of input_tokens, those the provider served from its cache
    output_tokens: int = 0
    images: int = 0
    audio_seconds: float = 0.0
    characters: int = 0
    reasoning_output_tokens: int = 0  # of output_tokens, those the model spent thinking

    @property
    def tokens(self) -> int:
        """Input and output tokens together, as rate limits count them."""
        return self.input_tokens + self.output_tokens

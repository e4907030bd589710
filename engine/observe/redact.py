"""Secrets out of the text that leaves the process: error messages, pages, status, logs.

A secret is a value that came from a `${VAR}`, or was set as an upstream key or header
(engine/snapshot/secrets.py collects them). Any run of FRAGMENT or more of a secret's
characters, in any case, becomes `***`: an upstream that quotes a key back, cut, or
upper-cased, gives nothing away. Values shorter than FRAGMENT hide too little to be
worth blanking every word they match, and are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

FRAGMENT = 8  # characters: the shortest run of a secret that is taken out
PROBE = FRAGMENT // 2
MASK = "***"
# The text cut into PROBE-long pieces at every PROBE-th position, in one C-level pass.
PIECES = re.compile(f".{{{PROBE}}}", re.DOTALL)


class Redactor:
    """Calling it returns the text with every FRAGMENT-long run of any secret masked.

    The scan reads every PROBE-th position of the text only: any FRAGMENT-long run holds
    a PROBE-long piece starting at one of them, so only there is a full look taken. Most
    text holds no secret, and that is found out first at C speed: by looking for each
    fragment in the text when there are fewer fragments than pieces (a few secrets, a
    log line), else by one set comparison of all the text's pieces.
    """

    __slots__ = ("_grams", "_probes")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        grams: set[str] = set()
        for secret in secrets:
            folded = _fold(secret)
            grams.update(folded[i : i + FRAGMENT] for i in range(len(folded) - FRAGMENT + 1))
        self._grams = frozenset(grams)
        self._probes = frozenset(
            g[i : i + PROBE] for g in grams for i in range(FRAGMENT - PROBE + 1)
        )

    def __call__(self, text: str) -> str:
        if not self._grams or len(text) < FRAGMENT:
            return text
        folded = _fold(text)
        grams, probes = self._grams, self._probes
        if len(grams) * PROBE < len(folded) and not any(g in folded for g in grams):
            return text
        pieces = PIECES.findall(folded)
        if probes.isdisjoint(pieces):
            return text
        hits = [i * PROBE for i, piece in enumerate(pieces) if piece in probes]
        spans = self._spans(folded, hits)
        if not spans:
            return text
        out, last = [], 0
        for start, end in spans:
            out += [text[last:start], MASK]
            last = end
        out.append(text[last:])
        return "".join(out)

    def _spans(self, folded: str, hits: list[int]) -> list[list[int]]:
        """Merged [start, end) ranges of `folded` covered by a secret's fragments, looked
        for around `hits`, the positions of pieces that are part of one."""
        spans: list[list[int]] = []
        grams = self._grams
        checked = -1  # starts already looked at
        for probe in hits:
            first = max(probe - (FRAGMENT - PROBE), checked + 1)
            for i in range(first, min(probe, len(folded) - FRAGMENT) + 1):
                checked = i
                if folded[i : i + FRAGMENT] not in grams:
                    continue
                if spans and spans[-1][1] >= i:
                    spans[-1][1] = i + FRAGMENT
                else:
                    spans.append([i, i + FRAGMENT])
        return spans


def redact_all(value: Any, redact: Callable[[str], str]) -> Any:
    """`value` (JSON-like data) with every string in it, keys too, passed through `redact`."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_all(k, redact): redact_all(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_all(item, redact) for item in value]
    return value


def _fold(text: str) -> str:
    """Lower case, one character for one (so positions in `text` still hold)."""
    folded = text.lower()
    if len(folded) == len(text):
        return folded
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)

"""The redactor masks every FRAGMENT-long run of any secret, whichever way it finds out
first that a text holds none (looking for each fragment, or comparing pieces): checked
against a plain reading of the rule on generated secrets and texts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.observe.redact import FRAGMENT, MASK, Redactor

ALPHABET = "abcAB-_/ 0123"  # small, so that texts and secrets share runs often


def masked_spans(text: str, secrets: list[str]) -> list[tuple[int, int]]:
    """The rule, read plainly: every position covered by a FRAGMENT-long run that some
    secret holds (case aside), merged."""
    grams = {s.lower()[i : i + FRAGMENT] for s in secrets for i in range(len(s) - FRAGMENT + 1)}
    covered = [False] * len(text)
    for i in range(len(text) - FRAGMENT + 1):
        if text[i : i + FRAGMENT].lower() in grams:
            covered[i : i + FRAGMENT] = [True] * FRAGMENT
    spans, start = [], None
    for i, hit in enumerate([*covered, False]):
        if hit and start is None:
            start = i
        elif not hit and start is not None:
            spans.append((start, i))
            start = None
    return spans


def expected(text: str, secrets: list[str]) -> str:
    out, last = [], 0
    for start, end in masked_spans(text, secrets):
        out += [text[last:start], MASK]
        last = end
    return "".join(out) + text[last:]


@settings(max_examples=400, deadline=None)
@given(
    secrets=st.lists(st.text(ALPHABET, min_size=FRAGMENT, max_size=24), min_size=1, max_size=4),
    parts=st.lists(st.text(ALPHABET, max_size=60), max_size=6),
    picks=st.lists(st.integers(0, 3), max_size=6),
)
def test_the_redactor_follows_the_rule(
    secrets: list[str], parts: list[str], picks: list[int]
) -> None:
    # Texts with pieces of the secrets (some upper-cased) between random runs, short
    # and long, so that both first looks are taken.
    pieces = [secrets[p % len(secrets)][1:-1] for p in picks]
    text = "".join(
        a + (b.upper() if i % 2 else b) for i, (a, b) in enumerate(zip(parts, pieces, strict=False))
    )
    for sample in (text, text * 8, "x" * 500 + text):
        assert Redactor(secrets)(sample) == expected(sample, secrets)


def test_a_line_without_secrets_comes_back_as_it_is() -> None:
    line = "POST /v1/chat/completions 200 2.0ms id=abc route=/v1/chat/completions" * 3
    assert Redactor(["sk-7Qm2Xr9LpT4wZ8vNc3Kd"])(line) is line

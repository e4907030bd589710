"""A target's parameter policy applied to one request body, before it is sent.

Pure: the client's body is never changed (fallbacks reuse it); each target gets its own
copy with its own policy applied. What was dropped from the client's request is named
in the `x-patchbay-params-dropped` response header.
"""

from __future__ import annotations

from typing import Any

from engine.snapshot.params import ParamPolicy

DROPPED_HEADER = "x-patchbay-params-dropped"


def apply_params(
    policy: ParamPolicy, body: dict[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The body to send under `policy`, and the client's fields it dropped, in name order.

    `drop` removes fields, `defaults` fill fields the client left out (or sent as null,
    which OpenAI's API reads as "not given"), `override` sets fields. A field appears in
    one section only, so the order says nothing more than that.
    """
    if not policy:
        return body, ()
    sent = {k: v for k, v in body.items() if k not in policy.drop}
    for name, value in policy.defaults.items():
        if sent.get(name) is None:
            sent[name] = value
    sent.update(policy.override)
    return sent, tuple(sorted(k for k in body if k in policy.drop))


def name_dropped(headers: dict[str, str], dropped: tuple[str, ...]) -> None:
    """Add the header naming the dropped fields to `headers`, if any were dropped."""
    if dropped:
        headers[DROPPED_HEADER] = ", ".join(dropped)

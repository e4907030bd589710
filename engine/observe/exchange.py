"""One request's record, filled in as it passes each stage and read once it is answered.

The front door opens an Exchange for every routed request; the guard names the client
key, dispatch the model asked for, each upstream attempt and who served, the meter
the tokens, the front door the status and the time to first token. When the answer
is out, the metrics (engine/observe/metrics.py), the access log and the trace read it.
Nothing here is shared between requests, so filling it in needs no lock.

Names that become metric labels come from the config (a key's name, a model's
`PROVIDER/MODEL`, a route's path); what a client wrote (the model asked for) is kept
for the log only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

UNKNOWN_MODEL = "unknown"  # the `model` label of a request whose model did not resolve


@dataclass(slots=True)
class Tokens:
    """What the answer reported (or what was estimated for it); zeros until settled."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0  # of prompt, those the provider served from its cache
    reasoning: int = 0  # of completion, those spent thinking
    estimated: bool = False


@dataclass(slots=True)
class Attempt:
    """One call to one upstream: who, how long, and how it ended (`ok` or a failure class)."""

    provider: str
    model: str  # `PROVIDER/MODEL`
    seconds: float
    outcome: str
    cooled: bool = False  # its failure started a cooldown


class Trace(Protocol):
    """A request's trace while telemetry is on (engine/observe/tracing.py makes them)."""

    def begin_attempt(self, provider: str, model: str) -> Mapping[str, str]:
        """Open the span of an upstream attempt; the headers that carry it upstream."""
        ...

    def end_attempt(self, attempt: Attempt) -> None:
        """Close the span `begin_attempt` opened."""
        ...

    def end(self, exchange: Exchange) -> None:
        """Close the request's span with what the exchange says."""
        ...


@dataclass(slots=True)
class Exchange:
    request_id: str
    route: str  # the route's path pattern, as routes.yaml writes it
    method: str
    wire: str  # the inbound format: openai, responses or anthropic
    started: float = field(default_factory=time.perf_counter)
    key: str = ""  # the client key's name; "" for an anonymous client
    model_asked: str = ""  # as the client wrote it (logged, never a label)
    plan: str = ""  # the model or alias it resolved to, or UNKNOWN_MODEL
    provider: str = ""  # who served the answer ("" when no provider was reached)
    model: str = ""  # the model served, `PROVIDER/MODEL`
    attempts: list[Attempt] = field(default_factory=list)
    fallbacks: int = 0  # moves to another target after a failure
    retries: int = 0  # further attempts at the same target
    cooldowns: int = 0  # targets this request's failures sent into a cooldown
    rate_limited: bool = False
    stream: bool = False
    first_token: float | None = None  # seconds from arrival to the stream's first event
    streamed: float = 0.0  # seconds spent relaying a stream after its first event
    tokens: Tokens = field(default_factory=Tokens)
    status: int = 0
    disconnected: bool = False  # the client hung up before its answer was complete
    trace: Trace | None = None  # set only while telemetry is on
    # Read by the trace alone, and set only while there is one: the request body (its
    # prompt, when content is captured) and a JSON answer's (finish reasons, the answer).
    body: bytes = b""
    answer: bytes = b""

    @property
    def upstream_seconds(self) -> float:
        """Time spent waiting on upstreams: every attempt, and a stream's relay after its
        first event (which is paced by the upstream)."""
        return sum(a.seconds for a in self.attempts) + self.streamed

    def served_by(self, provider: str, model: str) -> None:
        self.provider, self.model = provider, model

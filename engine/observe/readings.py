"""What a scrape reads off the worker that answers it rather than off the counts: the
active config, shared-state health, cooldowns active now."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.metrics_core import GaugeMetricFamily, Metric


@dataclass(frozen=True, slots=True)
class Readings:
    """What a scrape reads off the worker that answers it, rather than off the counts."""

    reloads: Mapping[str, int]  # the worker's reload counts so far, by result
    config_hash: str = ""
    loaded_at: float = 0.0  # Unix time the active config was loaded
    shared_state_up: bool = True
    shared_state_failing_since: float | None = None  # Unix time, while Redis fails
    cooling: Mapping[str, int] = field(default_factory=dict)  # models cooling, by provider


def read_off(readings: Readings) -> list[Metric]:
    """The readings as metric families."""
    info = GaugeMetricFamily(
        "patchbay_config_info",
        "The active config: its hash (1 while it serves).",
        labels=["hash"],
    )
    info.add_metric([readings.config_hash], 1)
    loaded = GaugeMetricFamily(
        "patchbay_config_loaded_timestamp_seconds",
        "Unix time the active config was loaded.",
        value=readings.loaded_at,
    )
    up = GaugeMetricFamily(
        "patchbay_shared_state_up",
        "1 while shared state (Redis at redis_url, or memory) answers; 0 while the "
        "gateway counts on local state instead.",
        value=1 if readings.shared_state_up else 0,
    )
    since = GaugeMetricFamily(
        "patchbay_shared_state_failing_since_timestamp_seconds",
        "Unix time shared state began failing; 0 while it answers.",
        value=readings.shared_state_failing_since or 0,
    )
    cooling = GaugeMetricFamily(
        "patchbay_cooldowns_active",
        "Models of each provider cooling down now.",
        labels=["provider"],
    )
    for provider, count in sorted(readings.cooling.items()):
        cooling.add_metric([provider], count)
    return [info, loaded, up, since, cooling]

"""What GET /dashboard/data answers (engine/handlers/dashboard.py), for /openapi.json."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

COUNT: Schema = {"type": "integer", "minimum": 0}
COUNTS: Schema = {"type": "object", "additionalProperties": COUNT}
HISTOGRAM: Schema = {
    "type": "object",
    "description": "Seconds, summed over every label: `counts[i]` requests took at most "
    "`le[i]` (cumulative, as Prometheus buckets), `count` all of them, `sum` their total",
    "required": ["le", "counts", "count", "sum"],
    "properties": {
        "le": {"type": "array", "items": {"type": "number"}},
        "counts": {"type": "array", "items": COUNT},
        "count": COUNT,
        "sum": {"type": "number"},
    },
}
DASHBOARD_DATA: Schema = {
    "type": "object",
    "description": "Cumulative counts since the workers started, every worker's (requests "
    "to the dashboard itself left out), and the state of things now: a client turns two "
    "readings into rates and quantiles",
    "required": [
        "time",
        "pid",
        "requests",
        "duration_seconds",
        "first_token_seconds",
        "tokens",
        "providers",
        "shared_state",
        "config",
        "reloads",
    ],
    "properties": {
        "time": {"type": "number", "description": "Unix time of the reading"},
        "pid": {"type": "integer", "description": "the worker that answered"},
        "requests": {
            "type": "object",
            "description": "requests answered, and of those with status 5xx and 4xx",
            "required": ["total", "errors_5xx", "errors_4xx"],
            "properties": {"total": COUNT, "errors_5xx": COUNT, "errors_4xx": COUNT},
        },
        "duration_seconds": {**HISTOGRAM, "description": "request to last byte"},
        "first_token_seconds": {**HISTOGRAM, "description": "streams: request to first event"},
        "tokens": {
            "type": "object",
            "description": "PROVIDER/MODEL -> type (prompt, completion, cached, reasoning) -> tokens",
            "additionalProperties": COUNTS,
        },
        "providers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "kind", "status", "health", "models", "unwell", "attempts"],
                "properties": {
                    "name": {"type": "string"},
                    "kind": {"type": "string"},
                    "status": {"enum": ["active", "disabled", "missing_key"]},
                    "health": {
                        "enum": ["ok", "cooling", "failing", None],
                        "description": "cooling while one of its models cools down, "
                        "failing while one has recent failures; null when not active",
                    },
                    "models": {**COUNTS, "description": "models by state: ok, cooling, failing"},
                    "unwell": {
                        "type": "object",
                        "description": "model -> `cooling (N s left)` or `failing`",
                        "additionalProperties": {"type": "string"},
                    },
                    "attempts": {**COUNTS, "description": "upstream attempts by outcome"},
                },
            },
        },
        "shared_state": {
            "type": "object",
            "required": ["backend", "ok", "failing_since"],
            "properties": {
                "backend": {"enum": ["memory", "redis"]},
                "ok": {"type": "boolean"},
                "failing_since": {"type": ["number", "null"], "description": "Unix time"},
            },
        },
        "config": {
            "type": "object",
            "required": ["hash", "loaded_at", "serving_last_good"],
            "properties": {
                "hash": {"type": "string"},
                "loaded_at": {"type": "number", "description": "Unix time"},
                "serving_last_good": {"type": "boolean"},
            },
        },
        "reloads": {
            "type": "object",
            "required": ["counts", "history"],
            "properties": {
                "counts": {
                    **COUNTS,
                    "description": "re-reads by result: applied, unchanged, rejected",
                },
                "history": {
                    "type": "array",
                    "description": "the last 20 applied or rejected reloads, oldest first",
                    "items": {
                        "type": "object",
                        "required": ["at", "result", "config_hash", "changes", "problems"],
                        "properties": {
                            "at": {"type": "number", "description": "Unix time"},
                            "result": {"enum": ["applied", "rejected"]},
                            "config_hash": {
                                "type": "string",
                                "description": "applied: the new config; rejected: the one "
                                "still serving",
                            },
                            "changes": {"type": "array", "items": {"type": "string"}},
                            "problems": {
                                "type": "array",
                                "description": "file:line:col: message, secrets masked",
                                "items": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}


DASHBOARD_SCHEMAS: dict[str, Schema] = {"DashboardData": DASHBOARD_DATA}

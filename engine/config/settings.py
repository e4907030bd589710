"""Server settings: command line > environment > config/server.yaml > built-in default.

Every setting has one name; its environment variable is `PATCHBAY_` + the name in capitals,
and a nested block's member is `PATCHBAY_<BLOCK>_<MEMBER>` (e.g. `PATCHBAY_API_TITLE`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from engine.observe.telemetry import EXTRA_MISSING, tracing_installed

ENV_PREFIX = "PATCHBAY_"
LISTENER_SETTINGS = ("host", "port", "workers", "server", "keep_alive_timeout", "graceful_timeout")
POSITIVE_SETTINGS = (
    "max_request_size",
    "max_upload_size",
    "max_response_size",
    "request_timeout",
    "keep_alive_timeout",
    "graceful_timeout",
    "cache_max_bytes",
)
# The ASGI servers `patchbay serve` can run on; engine/serving/servers.py says how.
SERVERS = ("hypercorn", "uvicorn", "granian")


class SettingError(ValueError):
    """A setting that was given but is invalid; its message names the setting."""


@dataclass(frozen=True, slots=True)
class ApiInfo:
    title: str = "Patchbay"
    description: str = "An OpenAI-compatible API gateway whose whole surface is declared in YAML."
    version: str = "0.1.0"
    docs_url: str = "/docs"
    redoc_url: str = "/redoc"
    openapi_url: str = "/openapi.json"


@dataclass(frozen=True, slots=True)
class Watch:
    enabled: bool = True
    polling: bool = False
    interval: float = 30.0  # seconds between safety-net re-reads


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `usd` US dollars per `window` (day, week, month, or a rolling Nh or Nd),
    spent at every provider, or at `provider` alone."""

    usd: float
    window: str
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A client API key, stored as its SHA-256 hex digest."""

    name: str
    sha256: str = field(repr=False)
    models: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    budgets: tuple[Budget, ...] = ()


@dataclass(frozen=True, slots=True)
class Auth:
    required: bool = False
    admin_key: str | None = field(default=None, repr=False)
    keys: tuple[ClientKey, ...] = ()


@dataclass(frozen=True, slots=True)
class RateLimit:
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class ResponsesStore:
    """Where POST /v1/responses keeps the responses a client asks to store (`store: true`)."""

    backend: str = "none"  # none | memory | redis (the Redis at redis_url)
    ttl: int = 86400  # seconds a stored response is kept
    max_bytes: int = 64 * 1024 * 1024  # memory backend: the oldest go beyond this


@dataclass(frozen=True, slots=True)
class Telemetry:
    """OpenTelemetry traces sent to the collector at `endpoint` over OTLP/HTTP
    (engine/observe/telemetry.py); `headers` go with every export and are secrets."""

    endpoint: str
    service_name: str = "patchbay"
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    capture_content: bool = False  # the prompt and the answer in spans
    sample_ratio: float = 1.0  # of the traces that start here


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8000
    workers: int = 1
    server: str = "hypercorn"
    log_level: str = "info"
    log_format: str = "text"  # text for people, json for machines
    default_provider: str | None = None
    base_url: str = ""
    debug: bool = False
    cors_origins: tuple[str, ...] = ()
    max_request_size: int = 10 * 1024 * 1024
    max_upload_size: int = 25 * 1024 * 1024  # an audio upload, spooled to disk (OpenAI's limit)
    max_response_size: int = 32 * 1024 * 1024  # an upstream answer, decompressed
    request_timeout: float = 300.0
    keep_alive_timeout: float = 5.0  # seconds; Hypercorn's and uvicorn's default
    graceful_timeout: float = 30.0  # seconds requests in flight get after SIGTERM
    request_logging: bool = True
    redis_url: str | None = None
    cache_max_bytes: int = 64 * 1024 * 1024  # cached answers kept in memory, per worker
    state_dir: str = ".patchbay"
    count_tokens_estimate: bool = False  # /v1/messages/count_tokens for non-anthropic targets
    api: ApiInfo = ApiInfo()
    watch: Watch = Watch()
    auth: Auth = Auth()
    rate_limit: RateLimit = RateLimit()
    responses_store: ResponsesStore = ResponsesStore()
    telemetry: Telemetry | None = None  # None: no tracing, and OpenTelemetry is not loaded

    def listener(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in LISTENER_SETTINGS)


_BLOCKS: dict[str, type[Any]] = {
    "api": ApiInfo,
    "watch": Watch,
    "rate_limit": RateLimit,
    "responses_store": ResponsesStore,
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
STORE_BACKENDS = ("none", "memory", "redis")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMATS = ("text", "json")


def _parse(name: str, annotation: str, raw: Any) -> Any:
    """Coerce an environment or command-line string to the setting's declared type."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if "None" in annotation and text.lower() in ("", "null", "none"):
        return None
    try:
        if annotation.startswith("bool"):
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            raise ValueError("expected true or false")
        if annotation.startswith("int"):
            return int(text)
        if annotation.startswith("float"):
            return float(text)
        if annotation.startswith("tuple"):
            return tuple(part.strip() for part in text.split(",") if part.strip())
    except ValueError:
        # The value is not quoted: it may have come from a variable holding a secret.
        raise SettingError(f"{name}: invalid value, expected {_expected(annotation)}") from None
    return text


def _expected(annotation: str) -> str:
    for prefix, what in (("bool", "true or false"), ("int", "an integer"), ("float", "a number")):
        if annotation.startswith(prefix):
            return what
    return "a value"


def _check(settings: Settings) -> None:
    if not 0 <= settings.port <= 65535:
        raise SettingError(f"port: {settings.port} is not a TCP port")
    if settings.workers < 1:
        raise SettingError(f"workers: must be at least 1, got {settings.workers}")
    if settings.server not in SERVERS:
        raise SettingError(f"server: must be one of {', '.join(SERVERS)}")
    # String values are not quoted: one may have come from a variable holding a secret.
    if settings.log_level not in LOG_LEVELS:
        raise SettingError(
            f"log_level: {settings.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
        )
    if settings.log_format not in LOG_FORMATS:
        raise SettingError(
            f"log_format: {settings.log_format!r} is not one of {', '.join(LOG_FORMATS)}"
        )
    if settings.base_url and not settings.base_url.startswith("/"):
        raise SettingError("base_url: must start with '/'")
    for name in POSITIVE_SETTINGS:
        if (value := getattr(settings, name)) <= 0:
            raise SettingError(f"{name}: must be positive, got {value}")
    if settings.redis_url and not settings.redis_url.startswith(REDIS_SCHEMES):
        # Not quoted: a Redis URL may carry a password.
        raise SettingError(f"redis_url: must start with {', '.join(REDIS_SCHEMES)}")
    _check_store(settings.responses_store, settings.redis_url)
    if settings.telemetry is not None:
        _check_telemetry(settings.telemetry)


def _check_store(store: ResponsesStore, redis_url: str | None) -> None:
    if store.backend not in STORE_BACKENDS:
        raise SettingError(
            f"responses_store.backend: {store.backend!r} is not one of {', '.join(STORE_BACKENDS)}"
        )
    if store.backend == "redis" and not redis_url:
        raise SettingError("responses_store.backend: redis keeps responses at redis_url; set it")
    for name in ("ttl", "max_bytes"):
        if (value := getattr(store, name)) <= 0:
            raise SettingError(f"responses_store.{name}: must be positive, got {value}")


def _check_telemetry(telemetry: Telemetry) -> None:
    try:
        parts = urlsplit(telemetry.endpoint)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        usable = False
    if not usable:
        # Not quoted: the URL may have come from a variable, with a token in it.
        raise SettingError("telemetry.endpoint: must be an http:// or https:// URL with a host")
    if not 0 <= telemetry.sample_ratio <= 1:
        raise SettingError(
            f"telemetry.sample_ratio: must be from 0 to 1, got {telemetry.sample_ratio}"
        )
    # Reached for PATCHBAY_TELEMETRY_ENDPOINT: the file's block is checked at its line.
    if not tracing_installed():
        raise SettingError(f"telemetry: {EXTRA_MISSING}")


def resolve_settings(
    file_values: Mapping[str, Any],
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
) -> Settings:
    """Merge the three sources over the defaults; `auth` comes from the file alone.

    `file_values` is server.yaml as validated (with `auth.keys` already hashed);
    `overrides` are command-line values, None meaning "not given".
    """
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        name, annotation = f.name, str(f.type)
        if name in _BLOCKS:
            values[name] = _resolve_block(name, file_values.get(name, {}), environ)
        elif name == "auth":
            values[name] = file_values.get("auth", Auth())
        elif name == "telemetry":
            values[name] = _resolve_telemetry(file_values.get("telemetry"), environ)
        elif overrides.get(name) is not None:
            values[name] = _parse(f"--{name.replace('_', '-')}", annotation, overrides[name])
        elif ENV_PREFIX + name.upper() in environ:
            values[name] = _parse(
                ENV_PREFIX + name.upper(), annotation, environ[ENV_PREFIX + name.upper()]
            )
        elif name in file_values:
            value = file_values[name]
            values[name] = tuple(value) if isinstance(value, list) else value
    if overrides.get("poll"):
        values["watch"] = dataclasses.replace(values["watch"], polling=True)
    if overrides.get("no_watch"):
        values["watch"] = dataclasses.replace(values["watch"], enabled=False)
    settings = Settings(**values)
    _check(settings)
    return dataclasses.replace(settings, base_url=settings.base_url.rstrip("/"))


def check_given_settings(environ: Mapping[str, str], overrides: Mapping[str, Any]) -> None:
    """Raise SettingError for an invalid command-line or PATCHBAY_* value, before any file."""
    resolve_settings({}, environ, overrides)


def _resolve_block(block: str, file_block: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    cls = _BLOCKS[block]
    values = dict(file_block)
    for f in dataclasses.fields(cls):
        env_name = f"{ENV_PREFIX}{block.upper()}_{f.name.upper()}"
        if env_name in environ:
            values[f.name] = _parse(env_name, str(f.type), environ[env_name])
    return cls(**values)


def _resolve_telemetry(
    file_block: Mapping[str, Any] | None, environ: Mapping[str, str]
) -> Telemetry | None:
    """The `telemetry` block (its `${VAR}`s resolved) under its PATCHBAY_TELEMETRY_*
    variables; None when no endpoint is left (none given, or its variable is unset)."""
    values = dict(file_block or {})
    for f in dataclasses.fields(Telemetry):
        env_name = f"{ENV_PREFIX}TELEMETRY_{f.name.upper()}"
        if f.name != "headers" and env_name in environ:
            values[f.name] = _parse(env_name, str(f.type), environ[env_name])
    if not values.get("endpoint"):
        return None
    headers = values.pop("headers", None) or {}
    # A header whose variable is unset is not sent, as with a provider's headers.
    kept = tuple((name, value) for name, value in headers.items() if value is not None)
    return Telemetry(**values, headers=kept)


def overridden_in_file(
    file_values: Mapping[str, Any], environ: Mapping[str, str], overrides: Mapping[str, Any]
) -> list[str]:
    """One line per flat setting that config/server.yaml sets and the command line or a
    PATCHBAY_* variable replaces with another value (logged at start: no silent winner)."""
    lines = []
    for f in dataclasses.fields(Settings):
        name = f.name
        if name in _BLOCKS or name == "auth" or name not in file_values:
            continue
        env_name = ENV_PREFIX + name.upper()
        if overrides.get(name) is not None:
            source, raw = f"--{name.replace('_', '-')}", overrides[name]
        elif env_name in environ:
            source, raw = env_name, environ[env_name]
        else:
            continue
        if _parse(source, str(f.type), raw) != file_values[name]:
            lines.append(
                f"{source}={raw} overrides {name}: {file_values[name]!r} of config/server.yaml"
            )
    return lines

"""Logging: every line Patchbay prints, in one format, on stderr.

`log_format: text` (the default) is for people: time, level, and the message, with the
logger's short name where it says something (`reload`, `access`). `log_format: json` is
for machines: one object per line with `time`, `level`, `logger`, `pid`, `message`, and
the fields a record carries in `extra={"fields": {...}}` (the start-up summary's
providers and URLs, a reload's changes; or a callable that makes them: an access line). With several workers, text lines carry the
worker's process id, so that two workers' lines are never the same line twice.
Whatever the format, the secrets of every config served in this process are masked
from the whole line, traceback included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from engine.observe.redact import Redactor

ROOT = "patchbay"
# Loggers of the libraries that write to the console, taken into the same format
# (`engine.app` is the Quart app's own: tracebacks of page faults; `opentelemetry`
# says when spans cannot be exported).
LIBRARIES = ("quart.app", "quart.serving", "engine.app", "opentelemetry")


class ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler every Patchbay line goes through (stderr); it masks the secrets of
    every config served in this process (`sources`: one current Redactor per app)."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[Callable[[], Redactor]] = []

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for current in self.sources:
            text = current()(text)
        return text


class TextFormatter(logging.Formatter):
    """`2026-01-31 12:00:00 INFO  reload: message` (and `[pid]` with several workers)."""

    def __init__(self, show_pid: bool) -> None:
        super().__init__()
        self.show_pid = show_pid

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        name = record.name.removeprefix(ROOT).lstrip(".")
        where = f"{name}: " if name else ""
        pid = f"[{record.process}] " if self.show_pid else ""
        line = f"{stamp} {pid}{record.levelname:<7} {where}{record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if callable(fields):  # made only for this formatter (engine/observe/access.py)
            fields = fields()
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str, log_format: str = "text", workers: int = 1) -> None:
    """Point Patchbay's loggers (and Quart's) at one stderr handler in `log_format`.

    Called again (on a reload, or for another app in the same process), it changes the
    level and format of that same handler, so no line is ever written twice.
    """
    formatter: logging.Formatter = (
        JsonFormatter() if log_format == "json" else TextFormatter(show_pid=workers > 1)
    )
    handler = _handler()
    handler.setFormatter(formatter)
    for name in (ROOT, *LIBRARIES):
        logger = logging.getLogger(name)
        if handler not in logger.handlers:
            logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger(ROOT).setLevel(level.upper())


def redact_logs(source: Callable[[], Redactor]) -> Callable[[], None]:
    """Mask the secrets `source` returns (read for every line) from now on; returns the undo."""
    handler = _handler()
    handler.sources.append(source)
    return lambda: handler.sources.remove(source)


def server_logger() -> logging.Logger:
    """The logger to hand the HTTP server for its own lines (start, errors)."""
    return logging.getLogger(f"{ROOT}.server")


def _handler() -> ConsoleHandler:
    """The one console handler, created (on Patchbay's root logger) on first use."""
    root = logging.getLogger(ROOT)
    for handler in root.handlers:
        if isinstance(handler, ConsoleHandler):
            return handler
    handler = ConsoleHandler()
    root.addHandler(handler)
    root.propagate = False
    return handler


def _iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"

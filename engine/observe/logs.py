"""Logging set-up: one line per record, level from the settings, secrets masked."""

from __future__ import annotations

import logging
from collections.abc import Callable

from engine.observe.redact import RedactingFormatter, Redactor


def configure_logging(level: str, *also: str) -> None:
    """Patchbay's loggers (and those named in `also`, e.g. the Quart app's, whose records
    are tracebacks of page faults) write through one handler that masks secrets."""
    handler, _ = _handler()
    for name in also:
        logger = logging.getLogger(name)
        if handler not in logger.handlers:
            logger.addHandler(handler)
            logger.propagate = False
    logging.getLogger("patchbay").setLevel(level.upper())


def redact_logs(source: Callable[[], Redactor]) -> Callable[[], None]:
    """Mask the secrets `source` returns (read for every line) from now on; returns the undo."""
    _, formatter = _handler()
    formatter.sources.append(source)
    return lambda: formatter.sources.remove(source)


def _handler() -> tuple[logging.Handler, RedactingFormatter]:
    """The handler of the `patchbay` logger and its formatter, made on first use."""
    root = logging.getLogger("patchbay")
    for handler in root.handlers:
        if isinstance(handler.formatter, RedactingFormatter):
            return handler, handler.formatter
    formatter = RedactingFormatter()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.propagate = False
    return handler, formatter

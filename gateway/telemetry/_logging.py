"""Structured JSON logs: one event per line, request context bound per API call, personal data masked.

Every record, the gateway's and the libraries' (aiohttp, asyncio), is rendered by the same processor chain, so
the masking step in :mod:`gateway.security` sees all of them.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from ..security import redact_mapping

__all__ = ["configure_logging", "mask_event"]


def mask_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask personal data in every key and string of the event."""
    return redact_mapping(event)


def _render(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
    return orjson.dumps(event, default=str).decode()


def _add_logger_name(logger: Any, _: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.setdefault("logger", getattr(logger, "name", ""))
    return event


class _Sink:
    """Where the gateway's own events go; swapped by :func:`configure_logging`, shared by cached loggers.

    ``None`` means whatever ``sys.stderr`` is at the moment of writing.
    """

    stream: TextIO | None = None


class _LineLogger:
    """structlog's logger for the gateway's own events: one rendered line per call, no stdlib record.

    The stdlib path (a LogRecord, a handler, a formatter) cost several hundred microseconds per event; the
    gateway logs three events per request. Libraries' records still go through stdlib and the same processors.
    """

    __slots__ = ("name",)

    def __init__(self, name: str = "") -> None:
        self.name = name

    def msg(self, message: str) -> None:
        # Like logging's own handlers: a closed or full stream must never fail the request being served.
        with contextlib.suppress(OSError, ValueError):
            (_Sink.stream or sys.stderr).write(message + "\n")

    debug = info = warning = warn = error = critical = exception = fatal = msg


def _logger_factory(*args: Any) -> _LineLogger:
    return _LineLogger(str(args[0]) if args else "")


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Render the gateway's events and stdlib logging as JSON lines on ``stream`` (stderr by default)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    _Sink.stream = stream
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.dev.set_exc_info,
        structlog.processors.format_exc_info,
        mask_event,
        # After the masking: the time is the gateway's own, and its digits need no scan.
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]
    structlog.configure(
        processors=[*shared, _add_logger_name, _render],
        logger_factory=_logger_factory,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _render],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # aiohttp's own access log is replaced by the gateway's one-line-per-request event.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

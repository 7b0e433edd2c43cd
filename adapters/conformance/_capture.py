"""Every log line written while the battery runs, from stdlib logging and structlog, rendered as text to search."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import structlog

__all__ = ["CapturedLogs"]

# The kit's own hostile servers log through these; what they write is the kit's, not the adapter's.
_SERVER_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web")
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

# Captures may overlap (batteries of several adapters run concurrently): the global logging state is switched
# once, by the first to enter, and restored by the last to leave; every event goes to every active capture.
_active: list[CapturedLogs] = []
_saved_processors: list[Any] = []
_saved_root_level = logging.NOTSET


class _Handler(logging.Handler):
    def __init__(self, lines: list[tuple[str, str]]) -> None:
        super().__init__(logging.DEBUG)
        self._lines = lines
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_SERVER_LOGGERS):
            return
        try:
            parts = [record.getMessage()]
        except Exception:  # a malformed format string must not hide the arguments from the search
            parts = [repr(record.msg), repr(record.args)]
        if record.exc_info:
            parts.append(self._formatter.formatException(record.exc_info))
        if record.stack_info:
            parts.append(record.stack_info)
        extras = {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES}
        if extras:
            parts.append(repr(extras))
        self._lines.append((record.name, " ".join(parts)))


def _capture_structlog(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
    rendered = repr(structlog.processors.format_exc_info(logger, method, dict(event)))
    name = str(event.get("logger", "structlog"))
    for capture in _active:
        capture.lines.append((name, rendered))
    raise structlog.DropEvent


class CapturedLogs:
    """A context manager that records every stdlib log record (at any level) and every structlog event.

    structlog's processors are replaced for the duration, in place (the list object is kept, as
    ``structlog.testing.capture_logs`` does, so that loggers cached on first use are captured too); the events are
    rendered with their exception text and dropped. Overlapping captures each see everything. Not thread-safe,
    like structlog's own helper.
    """

    def __init__(self) -> None:
        #: ``(logger name, rendered line)`` pairs, in the order they were written.
        self.lines: list[tuple[str, str]] = []
        self._handler = _Handler(self.lines)

    def __enter__(self) -> CapturedLogs:
        global _saved_root_level
        root = logging.getLogger()
        if not _active:
            _saved_root_level = root.level
            processors: list[Any] = structlog.get_config()["processors"]
            _saved_processors[:] = processors
            processors[:] = [_capture_structlog]
            structlog.configure(processors=processors)
            root.setLevel(logging.DEBUG)
        _active.append(self)
        root.addHandler(self._handler)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        root = logging.getLogger()
        root.removeHandler(self._handler)
        _active.remove(self)
        if not _active:
            processors: list[Any] = structlog.get_config()["processors"]
            processors[:] = _saved_processors
            structlog.configure(processors=processors)
            _saved_processors.clear()
            root.setLevel(_saved_root_level)

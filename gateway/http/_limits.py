"""Limits on what a caller may send, checked before anything is validated or stored.

Two layers refuse hostile input. aiohttp's request parser enforces the request line, header line and header count
limits (:func:`server_options`) before a request object exists, so no middleware runs: it answers ``400 Bad
Request`` in ``text/plain`` and closes the connection. That answer cannot be a problem document, because
aiohttp builds it inside its protocol handler; the gateway only keeps it out of the error log as a traceback
(:class:`ParserRefusals`). Bodies are limited by ``client_max_size`` (``413``), then parsed JSON is checked here
for nesting depth, NUL characters and keys named twice (a problem naming the body or the field) before the
contract sees it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from ..config import Settings

__all__ = ["MAX_JSON_DEPTH", "ParserRefusals", "duplicate_key", "json_depth_exceeded", "nul_field", "server_options"]

#: Deepest nesting of objects and arrays a request body may have; the contract needs five.
MAX_JSON_DEPTH = 32


def json_depth_exceeded(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``value`` (as ``orjson.loads`` returns it) nests objects and arrays more than ``limit`` deep."""
    if type(value) is dict:
        items: Any = value.values()
    elif type(value) is list:
        items = value
    else:
        return False
    if limit <= 0:
        return True
    for item in items:
        kind = type(item)
        # Only containers recurse; a scalar costs one type() call, which keeps this cheap on the hot path.
        if (kind is dict or kind is list) and json_depth_exceeded(item, limit - 1):
            return True
    return False


def nul_field(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (value or key) holding a NUL character, or ``None``.

    PostgreSQL cannot store NUL in text, and no field of the contract has a use for it.
    """
    if type(value) is str:
        return (path or "(body)") if "\x00" in value else None
    if type(value) is dict:
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if "\x00" in key:
                return path or "(body)"
            found = nul_field(item, where)
            if found is not None:
                return found
    elif type(value) is list:
        for index, item in enumerate(value):
            found = nul_field(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


class _Repeated(dict[str, Any]):
    """An object that named one of its keys twice: the parse below keeps it to say where."""

    key: str = ""


def duplicate_key(body: bytes) -> str | None:
    """The dotted path of the first key named twice in one object of the JSON ``body``, or ``None``.

    ``orjson`` (like most parsers) keeps the last of two equal keys without a word, so ``applicant`` sent twice
    would validate whichever came last, and two readers of the same body could disagree on what it says. The
    standard parser reports the pairs as written; it costs a few microseconds on a counter's request. Call it on a
    body ``orjson`` accepted and found within the depth limit.
    """
    found = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        value = dict(items)
        if len(value) == len(items):
            return value
        found = True
        repeated = _Repeated(value)
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                repeated.key = key
                break
            seen.add(key)
        return repeated

    data = json.loads(body, object_pairs_hook=pairs)
    return _repeated_at(data, "") if found else None


def _repeated_at(value: Any, path: str) -> str | None:
    if isinstance(value, _Repeated):
        return f"{path}.{value.key}" if path else value.key
    items = value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    for key, item in items:
        where = _repeated_at(item, f"{path}.{key}" if path else str(key))
        if where is not None:
            return where
    return None


class ParserRefusals(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, with requests its parser refuses logged as one line instead of a traceback.

    aiohttp logs a refused request (header too long, too many headers, a bad request line) with ``exception()``;
    its message quotes up to 100 bytes of the offending line, which may be an API key or personal data, so the
    line here names only the kind of refusal. Every other error keeps its traceback.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__(logger or logging.getLogger("aiohttp.server"))

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """Pass messages through unchanged (the base class would replace ``extra``)."""
        return msg, kwargs

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        """Log ``msg`` with its traceback, unless it is a request the parser refused."""
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(exc, HttpProcessingError):
            self.logger.info("http.refused_by_parser", extra={"reason": type(exc).__name__, "status": exc.code or 400})
            return
        self.logger.error(msg, *args, exc_info=exc_info, **kwargs)


def server_options(settings: Settings) -> dict[str, Any]:
    """aiohttp request handler options (``web.Application(handler_args=...)``): parser limits and logging."""
    return {
        "max_line_size": settings.max_request_line_bytes,
        "max_field_size": settings.max_header_bytes,
        "max_headers": settings.max_headers,
        "logger": ParserRefusals(),
    }

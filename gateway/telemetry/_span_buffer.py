"""The gateway's own memory of recent spans: what ``GET /v1/traces/{trace_id}`` and the console's waterfall read.

A span processor beside the exporter's: it keeps the spans the exporter is given (sampled ones only, nothing
more), at most ``max_spans`` of them, the oldest dropped first, indexed by trace id; one trace keeps at most
``max_per_trace`` (later spans of a longer trace are counted in :attr:`SpanBuffer.dropped`, not kept), and there are
never more traces than spans. A kept span is one compact JSON byte string (ids and times as numbers, its attributes
and events as the exporter is given them), written by :func:`orjson.dumps` on the request's path (a few
microseconds) and read back only when a trace is asked for: about a third of the memory the same span takes as
Python objects. What is shown of it passes the masking step of logs (:func:`gateway.security.redact_mapping`, by
the last part of a dotted name: ``mpp.nik`` is masked like ``nik``), so the answer holds nothing personal even if a
span carried it. Trace, span and request ids are identifiers the gateway makes and are shown whole.

Each process keeps its own: with ``serve --workers N`` a trace is found on the worker that ran it.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeAlias

import orjson
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.util.types import Attributes

from ..security import IDENTIFIER_KEYS, PERSONAL_KEYS, redact, redact_mapping

__all__ = ["SpanBuffer"]

#: A kept span: ``(span_id, parent_span_id or 0, name, kind, start_ns, end_ns - start_ns, status, attributes,
#: [(event name, at_ns - start_ns, attributes), ...])`` as JSON bytes, or that tuple itself when JSON would not
#: read back the same values (bytes, integers past 64 bits, NaN or infinities, ``None``: rare in a span).
_Kept: TypeAlias = bytes | tuple[Any, ...]
_START = 4  # where the start time is among a kept span's fields


def _kept(span: ReadableSpan, span_id: int) -> _Kept:
    """``span`` as kept: JSON bytes when they read back as the same values, else the tuple they would hold."""
    start = span.start_time or 0
    end = span.end_time or start
    record = (
        span_id,
        span.parent.span_id if span.parent is not None else 0,  # 0 is no valid span id
        span.name,
        span.kind.name,
        start,
        end - start,
        span.status.status_code.name,
        _plain(span.attributes),
        [(e.name, e.timestamp - start, _plain(e.attributes)) for e in span.events],
    )
    try:
        blob = orjson.dumps(record)
    except orjson.JSONEncodeError:  # bytes, an integer past 64 bits, a lone surrogate: kept as they are
        return record
    if b"null" in blob:  # NaN, infinities and None would all read back as None
        return record
    return memoryview(blob).tobytes()  # orjson's bytes hold on to its whole 4 KiB buffer; a copy is their size


def _plain(attributes: Attributes) -> dict[str, Any]:
    """A plain copy of a span's or an event's attributes: the SDK's own copy (of its dict, in one step) when it has
    one, not a read of every key through its mapping."""
    if isinstance(attributes, MappingProxyType | BoundedAttributes):
        copied = attributes.copy()
        if type(copied) is dict:
            return copied
    return dict(attributes or {})


def _read(kept: _Kept) -> Sequence[Any]:
    """The fields of a kept span (as :func:`_kept` lists them)."""
    return orjson.loads(kept) if isinstance(kept, bytes) else kept


def _shown(fields: Sequence[Any]) -> dict[str, Any]:
    """The span as ``GET /v1/traces/{trace_id}`` shows it."""
    span_id, parent, name, kind, start, duration, status, attributes, events = fields
    return {
        "span_id": format(span_id, "016x"),
        "parent_span_id": format(parent, "016x") if parent else None,
        "name": name,
        "kind": kind,
        "start": _iso(start),
        "end": _iso(start + duration),
        "duration_ms": round(duration / 1e6, 3),
        "status": status,
        "attributes": _masked(attributes),
        "events": [{"name": n, "at": _iso(start + at), "attributes": _masked(a)} for n, at, a in events],
    }


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat()


def _masked(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Attributes as the logs would show them: personal keys masked (by their last dotted part), long numbers too;
    a sequence (a tuple as the span holds it, a list once read back from JSON) is shown as a list."""
    out: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        short = key.rpartition(".")[2].lower()
        if short in PERSONAL_KEYS:
            out[key] = redact_mapping({short: list(value) if isinstance(value, tuple) else value})[short]
        elif isinstance(value, str):
            shape = IDENTIFIER_KEYS.get(short)  # an identifier the gateway made stays whole, as in the logs
            out[key] = value if shape is not None and shape.fullmatch(value) else redact(value)
        elif isinstance(value, list | tuple):
            out[key] = [redact(v) if isinstance(v, str) else v for v in value]
        else:
            out[key] = value
    return out


class SpanBuffer(SpanProcessor):
    """The last ``max_spans`` finished spans, by trace (see the module's docstring)."""

    def __init__(self, max_spans: int = 10000, *, max_per_trace: int = 1000) -> None:
        self.max_spans = max(1, max_spans)
        self.max_per_trace = max(1, max_per_trace)
        #: Spans not kept because their trace had ``max_per_trace`` already.
        self.dropped = 0
        #: Each trace's kept spans, oldest first (a list: a deque's first block alone is larger than two spans).
        self._traces: dict[int, list[_Kept]] = {}
        #: The trace of every kept span, oldest first: who goes when the buffer is full.
        self._order: collections.deque[int] = collections.deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._order)

    @property
    def traces(self) -> int:
        """How many traces have spans kept."""
        return len(self._traces)

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Nothing: spans are kept when they end."""

    def on_end(self, span: ReadableSpan) -> None:
        """Keep a finished span the exporter would be given (a sampled one), dropping the oldest past the bound."""
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        kept = _kept(span, context.span_id)
        trace_id = context.trace_id
        with self._lock:
            spans = self._traces.get(trace_id)
            if spans is None:
                spans = self._traces[trace_id] = []
            elif len(spans) >= self.max_per_trace:
                self.dropped += 1
                return
            spans.append(kept)
            self._order.append(trace_id)
            while len(self._order) > self.max_spans:
                oldest = self._order.popleft()
                left = self._traces[oldest]
                del left[0]
                if not left:
                    del self._traces[oldest]

    def trace(self, trace_id: str) -> list[dict[str, Any]] | None:
        """The kept spans of a trace (32 hex digits), by start time; ``None`` when none is kept."""
        try:
            key = int(trace_id, 16)
        except ValueError:
            return None
        with self._lock:
            spans = list(self._traces.get(key, ()))
        fields = [_read(kept) for kept in spans]
        return [_shown(f) for f in sorted(fields, key=lambda f: f[_START])] or None

    def shutdown(self) -> None:
        """Nothing to flush: the buffer lives in memory only."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing to flush."""
        return True

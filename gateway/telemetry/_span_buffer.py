"""The gateway's own memory of recent spans: what ``GET /v1/traces/{trace_id}`` and the console's waterfall read.

A span processor beside the exporter's: it keeps the spans the exporter is given (sampled ones only, nothing
more), at most ``max_spans`` of them, the oldest dropped first, indexed by trace id; one trace keeps at most
``max_per_trace`` (later spans of a longer trace are counted in :attr:`SpanBuffer.dropped`, not kept), and there are
never more traces than spans. Keeping a span copies its fields and attributes (a few microseconds on the request's
path); what is shown of it passes the masking step of logs (:func:`gateway.security.redact_mapping`, by the last
part of a dotted name: ``mpp.nik`` is masked like ``nik``), so the answer holds nothing personal even if a span
carried it. Trace, span and request ids are identifiers the gateway makes and are shown whole.

Each process keeps its own: with ``serve --workers N`` a trace is found on the worker that ran it.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from ..security import IDENTIFIER_KEYS, PERSONAL_KEYS, redact, redact_mapping

__all__ = ["SpanBuffer"]


@dataclasses.dataclass(slots=True)
class _Event:
    name: str
    at_ns: int
    attributes: dict[str, Any]


@dataclasses.dataclass(slots=True)
class _Kept:
    """One finished span as kept: ids and times as numbers, attributes as the exporter is given them (masked when
    shown)."""

    span_id: int
    parent_span_id: int | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    attributes: dict[str, Any]
    events: tuple[_Event, ...]

    def as_dict(self) -> dict[str, Any]:
        """The span as ``GET /v1/traces/{trace_id}`` shows it."""
        return {
            "span_id": format(self.span_id, "016x"),
            "parent_span_id": None if self.parent_span_id is None else format(self.parent_span_id, "016x"),
            "name": self.name,
            "kind": self.kind,
            "start": _iso(self.start_ns),
            "end": _iso(self.end_ns),
            "duration_ms": round((self.end_ns - self.start_ns) / 1e6, 3),
            "status": self.status,
            "attributes": _masked(self.attributes),
            "events": [{"name": e.name, "at": _iso(e.at_ns), "attributes": _masked(e.attributes)} for e in self.events],
        }


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat()


def _masked(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Attributes as the logs would show them: personal keys masked (by their last dotted part), long numbers too."""
    out: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        short = key.rpartition(".")[2].lower()
        if short in PERSONAL_KEYS:
            out[key] = redact_mapping({short: list(value) if isinstance(value, tuple) else value})[short]
        elif isinstance(value, str):
            shape = IDENTIFIER_KEYS.get(short)  # an identifier the gateway made stays whole, as in the logs
            out[key] = value if shape is not None and shape.fullmatch(value) else redact(value)
        elif isinstance(value, tuple):
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
        self._traces: dict[int, collections.deque[_Kept]] = {}
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
        kept = _Kept(
            span_id=context.span_id,
            parent_span_id=span.parent.span_id if span.parent is not None else None,
            name=span.name,
            kind=span.kind.name,
            start_ns=span.start_time or 0,
            end_ns=span.end_time or span.start_time or 0,
            status=span.status.status_code.name,
            attributes=dict(span.attributes or {}),
            events=tuple(_Event(e.name, e.timestamp, dict(e.attributes or {})) for e in span.events),
        )
        trace_id = context.trace_id
        with self._lock:
            spans = self._traces.get(trace_id)
            if spans is None:
                spans = self._traces[trace_id] = collections.deque()
            elif len(spans) >= self.max_per_trace:
                self.dropped += 1
                return
            spans.append(kept)
            self._order.append(trace_id)
            while len(self._order) > self.max_spans:
                oldest = self._order.popleft()
                left = self._traces[oldest]
                left.popleft()
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
        return [s.as_dict() for s in sorted(spans, key=lambda s: s.start_ns)] or None

    def shutdown(self) -> None:
        """Nothing to flush: the buffer lives in memory only."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing to flush."""
        return True

"""Traces, metrics and logs: built at the composition root and handed to whatever produces them."""

from __future__ import annotations

from ._context import TraceContext
from ._logging import configure_logging
from ._span_buffer import SpanBuffer
from ._telemetry import EXPORT_BATCH_SPANS, FLUSH_SECONDS, METRICS_DIR_ENV, Metrics, Telemetry, TelemetrySettings, ids

__all__ = [
    "EXPORT_BATCH_SPANS",
    "FLUSH_SECONDS",
    "METRICS_DIR_ENV",
    "Metrics",
    "SpanBuffer",
    "Telemetry",
    "TelemetrySettings",
    "TraceContext",
    "configure_logging",
    "ids",
]

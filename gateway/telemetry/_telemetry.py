"""Traces and metrics: one object, built at the composition root, handed to whatever produces them.

Traces: OpenTelemetry SDK with parent-based ratio sampling and a batch processor exporting over OTLP/HTTP (or to
the console, one line of JSON per span, or nowhere). W3C ``traceparent`` is read from counter apps, stored with
each request so that work finished later (even after a restart) joins the same trace, and passed on to agencies.

Metrics: Prometheus text at ``/metrics`` from an app-owned registry. Labels are service ids, agency slugs,
routes and outcome classes only: bounded, and never personal data.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ._span_buffer import SpanBuffer
from ._tally import Tally

__all__ = ["EXPORT_BATCH_SPANS", "FLUSH_SECONDS", "METRICS_DIR_ENV", "Metrics", "Telemetry", "TelemetrySettings", "ids"]

#: prometheus_client reads this at import: each worker writes its metrics to files there, /metrics adds them up.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Spans per OTLP export. The exporter's thread encodes a batch in one stretch of Python that holds the GIL, and the
#: event loop waits for the GIL after each of its socket calls meanwhile: at the SDK's 512 a stretch took about
#: 17 ms and the p99 of a lookup at one connection rose from 4 to 18 ms; at 64 it was 8 ms (README, "A leaner
#: request path"). ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` overrides it.
EXPORT_BATCH_SPANS = 64

#: Seconds between two flushes of the tallied metrics into ``prometheus_client`` (:class:`Metrics`): with several
#: workers, how long another worker's observations may take to reach ``/metrics``.
FLUSH_SECONDS = 1.0

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: A journey is measured against a citizen's visit: seconds to an hour.
_JOURNEY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


@dataclasses.dataclass(frozen=True)
class TelemetrySettings:
    """``MPP_OTEL_*``: where spans go and how many are kept."""

    #: ``otlp`` (OTLP/HTTP protobuf), ``console``, or ``none``.
    exporter: str = "none"
    #: OTLP/HTTP traces endpoint, e.g. ``http://127.0.0.1:4318/v1/traces``.
    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    #: Extra headers for the collector, ``key=value,key=value``.
    headers: str = ""
    #: Share of new traces sampled (a counter app's sampling decision is kept).
    sample_ratio: float = 1.0
    service_name: str = "mpp-gateway"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TelemetrySettings:
        """Read ``MPP_OTEL_EXPORTER``, ``MPP_OTEL_ENDPOINT``, ``MPP_OTEL_HEADERS``, ``MPP_OTEL_SAMPLE_RATIO``."""
        defaults = cls()
        return cls(
            exporter=environ.get("MPP_OTEL_EXPORTER", defaults.exporter).lower(),
            endpoint=environ.get("MPP_OTEL_ENDPOINT", defaults.endpoint),
            headers=environ.get("MPP_OTEL_HEADERS", defaults.headers),
            sample_ratio=float(environ.get("MPP_OTEL_SAMPLE_RATIO", defaults.sample_ratio)),
            service_name=environ.get("MPP_OTEL_SERVICE_NAME", defaults.service_name),
        )


class Metrics:
    """The gateway's Prometheus metrics, in a registry of its own (several apps can live in one process).

    Counters, histograms and the gauges set per dispatched request are tallied (:mod:`._tally`): an observation on
    the event loop adds to plain numbers, without the lock (and, with several workers, the write into a
    memory-mapped file) a ``prometheus_client`` observation takes. :meth:`flush` applies them to the Prometheus
    metrics, which are what ``/metrics`` exports: reading :attr:`registry` flushes first, ``/metrics`` flushes
    before it reads the workers' files, the loop flushes every :data:`FLUSH_SECONDS` once :meth:`start` ran, and
    :meth:`stop` flushes the rest. A scrape therefore sees everything its own process observed before it; with
    several workers, another worker's observations reach ``/metrics`` within about :data:`FLUSH_SECONDS`.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._tally = Tally()
        r.register(self._tally.collector())  # first: a read of the registry flushes before the metrics are read
        counter, histogram, gauge = self._tally.counter, self._tally.histogram, self._tally.gauge
        self.http_requests = counter(Counter(
            "mpp_http_requests", "API calls by route, method and status.", ["route", "method", "status"],
            registry=r))  # fmt: skip
        self.http_seconds = histogram(Histogram(
            "mpp_http_request_seconds", "API call latency by route.", ["route"], buckets=_LATENCY_BUCKETS,
            registry=r))  # fmt: skip
        self.requests = counter(Counter(
            "mpp_requests", "Requests finished, by service, agency and outcome.", ["service", "agency", "outcome"],
            registry=r))  # fmt: skip
        self.request_seconds = histogram(Histogram(
            "mpp_request_seconds", "Accept-to-final time by service and agency.", ["service", "agency"],
            buckets=_LATENCY_BUCKETS, registry=r))  # fmt: skip
        self.agency_calls = counter(Counter(
            "mpp_agency_calls", "Agency calls by agency, service and outcome class.", ["agency", "service", "outcome"],
            registry=r))  # fmt: skip
        self.agency_seconds = histogram(Histogram(
            "mpp_agency_call_seconds", "Agency call latency by agency and service.", ["agency", "service"],
            buckets=_LATENCY_BUCKETS, registry=r))  # fmt: skip
        self.retries = counter(Counter(
            "mpp_retries", "Retries by agency and service.", ["agency", "service"], registry=r))  # fmt: skip
        self.retries_refused = counter(Counter(
            "mpp_retries_refused", "Retries not made, by agency and reason: budget (the agency's retry budget was "
            "spent) or deadline (no time left).", ["agency", "reason"], registry=r))  # fmt: skip
        self.circuit_fast_failures = counter(Counter(
            "mpp_circuit_fast_failures", "Requests answered or deferred without a call because the agency's "
            "circuit was open, by agency.", ["agency"], registry=r))  # fmt: skip
        self.agency_protocol_errors = counter(Counter(
            "mpp_agency_protocol_errors", "Agency replies the adapter could not read, by agency and agency method.",
            ["agency", "method"], registry=r))  # fmt: skip
        self.inbound_refusals = counter(Counter(
            "mpp_inbound_refusals", "Calls an agency route refused, by agency, route and reason (no caller data).",
            ["agency", "route", "reason"], registry=r))  # fmt: skip
        # With several workers (``gateway/cli/_workers.py``) each gauge says how the workers' values combine: the
        # worst circuit of any worker, the calls in flight of the live ones, the store's queue as any reads it.
        # The circuit and in-flight gauges are set after every dispatched request: tallied, the last value wins.
        self.circuit_state = gauge(Gauge(
            "mpp_circuit_state", "Circuit state by agency: 0 closed, 1 half-open, 2 open.", ["agency"], registry=r,
            multiprocess_mode="livemax"))  # fmt: skip
        self.in_flight = gauge(Gauge(
            "mpp_agency_in_flight", "Agency calls in flight by agency.", ["agency"], registry=r,
            multiprocess_mode="livesum"))  # fmt: skip
        self.queue_depth = Gauge("mpp_queue_depth", "Requests waiting in the store's queue.", registry=r,
                                 multiprocess_mode="livemax")  # fmt: skip
        self.queue_oldest = Gauge("mpp_queue_oldest_age_seconds", "Age of the oldest waiting request.", registry=r,
                                  multiprocess_mode="livemax")  # fmt: skip
        self.journeys = counter(Counter(
            "mpp_journeys", "Journeys ended, by journey, outcome (completed, failed, cancelled) and whether they "
            "ended within the journey's visit budget.", ["journey", "outcome", "within_visit"],
            registry=r))  # fmt: skip
        self.journey_seconds = histogram(Histogram(
            "mpp_journey_seconds", "Start-to-end time of journeys, by journey.", ["journey"], buckets=_JOURNEY_BUCKETS,
            registry=r))  # fmt: skip

    def flush(self) -> None:
        """Apply what was tallied to the Prometheus metrics (on the event loop's thread; elsewhere nothing)."""
        self._tally.flush()

    def start(self, interval: float = FLUSH_SECONDS) -> None:
        """From the running event loop: tally its observations and flush them every ``interval`` seconds."""
        self._tally.start(interval)

    def stop(self) -> None:
        """Stop the periodic flush and flush what is left."""
        self._tally.stop()


class Telemetry:
    """The tracer, the propagator and the metrics of one gateway."""

    def __init__(self, settings: TelemetrySettings | None = None, *, exporter: SpanExporter | None = None) -> None:
        self.settings = settings or TelemetrySettings()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": self.settings.service_name}),
            sampler=ParentBased(TraceIdRatioBased(self.settings.sample_ratio)),
        )
        chosen = exporter or self._exporter()
        if chosen is not None:
            batch = None if os.environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") else EXPORT_BATCH_SPANS
            self.provider.add_span_processor(
                BatchSpanProcessor(chosen, schedule_delay_millis=1000, max_export_batch_size=batch)
            )
        self.tracer = self.provider.get_tracer("mpp-gateway")
        #: The recent spans the gateway keeps for ``GET /v1/traces/{trace_id}`` (:meth:`keep_spans`).
        self.spans: SpanBuffer | None = None
        self.propagator = TraceContextTextMapPropagator()
        self.metrics = Metrics()

    def _exporter(self) -> SpanExporter | None:
        kind = self.settings.exporter
        if kind == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            headers = dict(h.split("=", 1) for h in self.settings.headers.split(",") if "=" in h)
            return OTLPSpanExporter(endpoint=self.settings.endpoint, headers=headers)
        if kind == "console":
            # One compact JSON line per span, so that a line-oriented tool can group them by trace.
            return ConsoleSpanExporter(out=sys.stdout, formatter=_one_line)
        return None

    def keep_spans(self, max_spans: int) -> SpanBuffer | None:
        """Keep the last ``max_spans`` finished spans in memory, beside any exporter (once; 0 keeps none)."""
        if self.spans is None and max_spans > 0:
            self.spans = SpanBuffer(max_spans)
            self.provider.add_span_processor(self.spans)
        return self.spans

    def extract(self, carrier: Mapping[str, str]) -> otel_context.Context:
        """The trace context a ``traceparent`` in ``carrier`` names (an empty context if none)."""
        return self.propagator.extract(carrier)

    def shutdown(self) -> None:
        """Flush and stop exporting."""
        self.provider.shutdown()


def _one_line(span: ReadableSpan) -> str:
    """A span as one line of compact JSON."""
    return str(span.to_json(indent=None)) + "\n"


def ids(span: trace.Span) -> tuple[str, str]:
    """``(trace_id, span_id)`` of ``span`` as lower-case hex."""
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")

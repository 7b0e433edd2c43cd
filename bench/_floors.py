"""Scenario 6: the least CPU each feature of a lookup can cost, measured on the libraries the gateway uses.

Each row does, in a loop and in this process alone, the work one waited ``dukcapil.nik.verify`` lookup needs of
one feature, with the gateway's own code where it has some (its log configuration, its sealing, its audit chain,
its SQLite store) and nothing else: no HTTP, no dispatch, no retries. The sum is a floor under the gateway's CPU
per lookup that no rearrangement of its own code can go below while it keeps the feature; scenario 1 measures
the HTTP floor (the bare proxy's CPU per request) and what the gateway really spends.

``.venv/bin/python -m bench._floors [--lookups N]`` prints the rows as JSON; :func:`measure` runs it as a child
process, so the measured loops share the machine with nothing of the benchmark's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from ._bodies import lookup_body
from ._procs import _clean_env

__all__ = ["FLOORS", "measure", "run_all"]

#: The rows, in order: what one lookup needs of each feature.
FLOORS = {
    "contract": "parse the JSON body, validate envelope and payload, dump the answer",
    "tracing_spans": "two spans, sampled (server, agency call), dispatch and attempt as events of the server span",
    "tracing_export": "the two spans and their events encoded for OTLP/HTTP (protobuf)",
    "logging": "one info line (http.request)",
    "sealing": "AES-256-GCM sealing of envelope, result and reference",
    "audit": "two hash-chained audit entries and the subject's HMAC",
    "store": "on SQLite, the insert (with request.accepted) before the call, not waiting for the disk, and the finish "
    "(with the result, the attempt and request.completed) after it (FULL, group commits over 16 at a time)",
}

#: The body scenario 1 sends, for one made-up citizen.
_BODY = lookup_body(0, {"nik": "3201014708900001", "full_name": "SITI AMINAH", "birth_date": "1990-08-07"})
_RESULT = {"matches": {"nik": {"match": True, "score": 100}, "nama_lengkap": {"match": True, "score": 100},
                       "tanggal_lahir": {"match": True, "score": 100}}}  # fmt: skip


def _per_lookup(work: Callable[[], object], lookups: int) -> float:
    """CPU microseconds (every thread of this process) per call of ``work``, after a warm-up of a tenth."""
    for _ in range(max(1, lookups // 10)):
        work()
    started = time.process_time()
    for _ in range(lookups):
        work()
    return (time.process_time() - started) / lookups * 1e6


def contract(lookups: int) -> float:
    from adapters.dukcapil.mapping import VerifyPayload
    from contracts import ServiceRequest

    raw = orjson.dumps(_BODY)

    def work() -> bytes:
        data = orjson.loads(raw)
        envelope = ServiceRequest.model_validate({k: v for k, v in data.items() if k != "payload"})
        payload = VerifyPayload.model_validate(data["payload"])
        stored = envelope.model_dump(mode="json") | {"payload": payload.model_dump(mode="json")}
        return orjson.dumps({"id": "req_x", "status": "completed", "result": _RESULT, "request": stored})

    return _per_lookup(work, lookups)


def _tracer() -> tuple[Any, list[Any]]:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    kept: list[Any] = []

    class Keep(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            if len(kept) < 2:  # the spans of one lookup
                kept.extend(spans[: 2 - len(kept)])
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource.create({"service.name": "mpp-gateway"}))
    provider.add_span_processor(BatchSpanProcessor(Keep(), schedule_delay_millis=1000))
    return provider, kept


def _spans(tracer: Any) -> None:
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(
        "POST /v1/requests", kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.route": "/v1/requests"},
    ) as server:  # fmt: skip
        server.add_event("dispatch", {"mpp.request_id": "req_01M82HCE52XZ9KS99D77FB82RE",
                                      "mpp.service": "dukcapil.nik.verify", "mpp.agency": "dukcapil"})  # fmt: skip
        with tracer.start_as_current_span(
            "POST dukcapil", kind=SpanKind.CLIENT,
            attributes={"http.request.method": "POST", "url.full": "http://127.0.0.1:8101/dukcapil/api/x",
                        "mpp.agency": "dukcapil"},
        ) as client:  # fmt: skip
            client.set_attribute("http.response.status_code", 200)
        server.add_event("attempt", {"mpp.agency": "dukcapil", "mpp.attempt": 1, "mpp.outcome": "completed"})
        server.set_attribute("http.response.status_code", 200)


def tracing_spans(lookups: int) -> float:
    provider, _ = _tracer()
    tracer = provider.get_tracer("mpp-gateway")
    try:
        return _per_lookup(lambda: _spans(tracer), lookups)
    finally:
        provider.shutdown()


def tracing_export(lookups: int) -> float:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    provider, kept = _tracer()
    _spans(provider.get_tracer("mpp-gateway"))
    provider.force_flush()
    provider.shutdown()
    # Encoded in batches of 128 lookups, as the batch processor hands them to the exporter.
    batch = kept * 128
    return _per_lookup(lambda: encode_spans(batch).SerializePartialToString(), max(1, lookups // 128)) / 128


def logging_(lookups: int) -> float:
    import structlog

    from gateway.telemetry import configure_logging

    sink = io.StringIO()
    configure_logging("info", stream=sink)
    log = structlog.get_logger("gateway.http")

    def work() -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            trace_id="7c0cc4443d2230ac4d283799485c8660", span_id="d4d554cc874c3ca1", client="bench",
            request_id="req_01M82HCE52GH81FXDMMGM8B59C", service="dukcapil.nik.verify", agency="dukcapil",
        )  # fmt: skip
        log.info("http.request", method="POST", route="/v1/requests", status=200, duration_ms=9.44)
        if sink.tell() > 1 << 20:
            sink.seek(0)
            sink.truncate()

    try:
        return _per_lookup(work, lookups)
    finally:
        structlog.contextvars.clear_contextvars()


def sealing(lookups: int) -> float:
    from gateway.store import KeyRing, generate_data_key, seal_json, seal_text

    keys = KeyRing.parse(generate_data_key())

    def work() -> None:
        seal_json(keys, _BODY, column="requests.envelope", row="req_01M82HCE52GH81FXDMMGM8B59C")
        seal_json(keys, _RESULT, column="requests.result", row="req_01M82HCE52GH81FXDMMGM8B59C")
        seal_text(keys, "DKC-0001", column="requests.agency_reference", row="req_01M82HCE52GH81FXDMMGM8B59C")

    return _per_lookup(work, lookups)


def _events(index: int, subject: str | None) -> list[Any]:
    from gateway.store import AuditEvent

    now = dt.datetime.now(dt.UTC)
    common = {"client_id": "bench", "mpp_id": "mpp-bench", "desk": "loket-01", "operator": "op-bench",
              "service": "dukcapil.nik.verify", "request_id": f"req_{index:026d}", "subject": subject}  # fmt: skip
    return [AuditEvent("request.accepted", now, **common), AuditEvent("request.finished", now, outcome="completed",
                                                                      **common)]  # fmt: skip


def audit(lookups: int) -> float:
    from gateway.audit import new_keys, subject_hash
    from gateway.store import GENESIS, chain_events

    key = new_keys()["audit_key"].encode()
    head: list[Any] = [0, GENESIS, 0]  # seq, hash, lookups so far

    def work() -> None:
        head[2] += 1
        entries = chain_events(_events(head[2], subject_hash(key, "3201014708900001")), head[0], head[1])
        head[0], head[1] = entries[-1].seq, entries[-1].hash

    return _per_lookup(work, lookups)


def store(lookups: int, folder: Path) -> float:
    from contracts import AttemptOutcome, RequestStatus, ServiceKind
    from gateway.store import KeyRing, NewRequest, SqliteStore, StoredAttempt, generate_data_key

    async def run() -> float:
        db = SqliteStore(str(folder / "floors.sqlite3"), synchronous="FULL", keys=KeyRing.parse(generate_data_key()))
        await db.open()
        counter = itertools.count()

        async def one() -> None:
            n = next(counter)
            request_id = f"req_{n:026d}"
            now = dt.datetime.now(dt.UTC)
            new = NewRequest(
                id=request_id, client_id="bench", service="dukcapil.nik.verify", agency="dukcapil",
                kind=ServiceKind.LOOKUP,
                mpp_id="mpp-bench", desk="loket-01", operator="op-bench", nik_masked="3201**********01",
                envelope=_BODY, trace_id="7c0cc4443d2230ac4d283799485c8660", traceparent=None, created_at=now,
                deadline_at=time.time() + 30,
            )  # fmt: skip
            accepted, finished = _events(n, "0" * 64)
            # Before the agency call, committed without waiting for the disk: the finish's sync takes it there.
            await db.insert(new, lease=("floors", 60.0), audit=accepted, durable=False)
            attempt = StoredAttempt(1, now, dt.datetime.now(dt.UTC), AttemptOutcome.COMPLETED, None)
            await db.finish(request_id, "floors", status=RequestStatus.COMPLETED, attempt=attempt, result=_RESULT,
                            agency_reference="DKC-0001", audit=finished)  # fmt: skip

        async def sixteen() -> None:
            await asyncio.gather(*(one() for _ in range(16)))

        try:
            for _ in range(max(1, lookups // 160)):
                await sixteen()
            started = time.process_time()
            rounds = max(1, lookups // 16)
            for _ in range(rounds):
                await sixteen()
            return (time.process_time() - started) / (rounds * 16) * 1e6
        finally:
            await db.aclose()

    return asyncio.run(run())


def run_all(lookups: int, folder: Path) -> dict[str, float]:
    """Every row, in microseconds of CPU per lookup."""
    out = {
        "contract": contract(lookups),
        "tracing_spans": tracing_spans(lookups),
        "tracing_export": tracing_export(lookups),
        "logging": logging_(lookups),
        "sealing": sealing(lookups),
        "audit": audit(lookups),
        "store": store(lookups, folder),
    }
    return {name: round(value, 1) for name, value in out.items()}


def measure(folder: Path, lookups: int = 4000) -> dict[str, float]:
    """:func:`run_all` in a child process (the benchmark's own threads and imports stay out of the figures)."""
    command = [sys.executable, "-m", "bench._floors", "--lookups", str(lookups), "--folder", str(folder)]
    done = subprocess.run(  # noqa: S603 - our own module, no shell
        command, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
        env=_clean_env(), timeout=600,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Print the rows as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lookups", type=int, default=4000)
    parser.add_argument("--folder", type=Path, default=None, help="where the SQLite file goes (a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="floors-") as scratch:
        print(json.dumps(run_all(args.lookups, args.folder or Path(scratch))), flush=True)


if __name__ == "__main__":
    main()

"""Traces leave the gateway over OTLP/HTTP to a real receiver, and the agency sees the same trace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from gateway import AgencyConfig, Settings, build_app
from gateway.store import generate_data_key
from gateway.telemetry import Telemetry, TelemetrySettings
from mocks import MockCluster
from tests.fakes import KEY_A, directory
from tests.integration.conftest import verify_body


async def test_spans_of_one_request_reach_an_otlp_receiver_and_share_the_agencys_trace(
    cluster: MockCluster, tmp_path: Path
) -> None:
    """Gateway spans arrive as OTLP protobuf; they and the traceparent the agency received share one trace; a
    waited lookup is two spans (server and agency client) with its dispatch and attempt as events."""
    batches: list[ExportTraceServiceRequest] = []

    async def receive(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        batches.append(message)
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")  # fmt: skip

    receiver_app = web.Application()
    receiver_app.router.add_post("/v1/traces", receive)
    receiver = TestServer(receiver_app, host="127.0.0.1")
    await receiver.start_server()
    telemetry = Telemetry(TelemetrySettings(exporter="otlp", endpoint=str(receiver.make_url("/v1/traces"))))
    dukcapil = cluster.agencies["dukcapil"]
    settings = Settings(
        store_path=str(tmp_path / "g.sqlite3"),
        data_keys=generate_data_key(),
        adapters=("dukcapil",),
        agencies={"dukcapil": AgencyConfig.from_values(dukcapil.settings)},
    )
    gateway = TestServer(build_app(settings, clients=directory(), telemetry=telemetry), host="127.0.0.1")
    await gateway.start_server()
    try:
        citizen = cluster.population.sample(status="active", duplicate=False, limit=1)[0]
        async with httpx.AsyncClient(base_url=str(gateway.make_url("")), timeout=20) as client:
            resp = await client.post(
                "/v1/requests",
                json=verify_body(citizen.nik, full_name=citizen.full_name),
                headers={"Authorization": f"Bearer {KEY_A}", "Prefer": "wait=10"},
            )
        record = resp.json()
        assert record["status"] == "completed"
        await asyncio.to_thread(telemetry.provider.force_flush)
        spans = [
            span
            for batch in batches
            for resource in batch.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
        # A waited lookup answered within its wait: two spans, its dispatch and attempt events of the server span.
        assert sorted(span.name for span in spans) == ["POST /v1/requests", "POST dukcapil"]
        assert {span.trace_id.hex() for span in spans} == {record["trace_id"]}
        server_span = next(span for span in spans if span.name == "POST /v1/requests")
        assert [event.name for event in server_span.events] == ["dispatch", "attempt"]
        client_span = next(span for span in spans if span.name == "POST dukcapil")
        assert client_span.parent_span_id == server_span.span_id
        received = list(dukcapil.control.traceparents)
        assert received, "the agency received no traceparent"
        _, trace_id, parent_id, _ = received[-1].split("-")
        assert trace_id == record["trace_id"]
        assert parent_id == client_span.span_id.hex()
        service = batches[0].resource_spans[0].resource.attributes
        assert any(a.key == "service.name" and a.value.string_value == "mpp-gateway" for a in service)
    finally:
        await gateway.close()
        await receiver.close()

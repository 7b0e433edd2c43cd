"""Personal data never leaves the gateway unmasked: logs and spans of the end-to-end scenarios are scanned for
every NIK, KK number, name and birth date of the citizens involved."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import AgencyConfig, Settings, build_app, configure_logging
from gateway.store import generate_data_key
from gateway.telemetry import Telemetry
from mocks import AGENCY_PORTS, Citizen, MockCluster, start_mocks
from tests.fakes import KEY_A, consent_given_at, directory

CONSENT = {"method": "written", "reference": "F-1", "given_at": consent_given_at()}
WAIT = {"Authorization": f"Bearer {KEY_A}", "Prefer": "wait=10"}


def body(service: str, citizen: Citizen, payload: dict[str, Any], *, consent: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "service": service,
        "applicant": {"nik": citizen.nik},
        "counter": {"mpp_id": "mpp-a", "desk": "loket-02", "operator": "op-3"},
        "payload": payload,
    }
    if consent:
        out["consent"] = CONSENT
    return out


def scenarios(citizens: list[Citizen]) -> list[dict[str, Any]]:
    """Every service the scenarios cover, with right and wrong data."""
    c = citizens
    return [
        body("dukcapil.nik.verify", c[0], {"full_name": c[0].full_name, "birth_date": c[0].birth_date.isoformat(),
                                           "mother_name": c[0].mother_name, "address": c[0].address}),
        body("dukcapil.nik.verify", c[1], {"full_name": c[0].full_name, "birth_place": c[1].birth_place}),
        body("dukcapil.nik.verify", c[2], {"full_name": c[2].full_name, "birth_date": "not-a-date"}),
        body("dukcapil.nik.verify", c[3], {"full_name": c[3].full_name, "unexpected": c[3].kk}),
        body("dukcapil.nik.lookup", c[4], {}, consent=True),
        body("dukcapil.nik.lookup", c[5], {}),
        body("bpjs-kesehatan.peserta.by-nik", c[6], {"service_date": "2026-11-22"}, consent=True),
        body("bpjs-kesehatan.peserta.by-card", c[7], {"card_number": c[7].no_kartu, "service_date": "2026-11-22"},
             consent=True),
        body("bpjs-ketenagakerjaan.peserta.verify", c[8], {}, consent=True),
    ]  # fmt: skip


@pytest.fixture
async def everything(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, MockCluster, io.StringIO, Any]]:
    logs = io.StringIO()
    configure_logging("debug", logs)
    exporter = InMemorySpanExporter()
    telemetry = Telemetry(exporter=exporter)
    async with await start_mocks("127.0.0.1", dict.fromkeys(AGENCY_PORTS, 0)) as cluster:
        settings = Settings(
            store_path=str(tmp_path / "g.sqlite3"),
            data_keys=generate_data_key(),
            adapters=tuple(cluster.agencies),
            agencies={name: AgencyConfig.from_values(a.settings) for name, a in cluster.agencies.items()},
        )
        server = TestServer(build_app(settings, clients=directory(), telemetry=telemetry), host="127.0.0.1")
        await server.start_server()
        try:
            async with httpx.AsyncClient(base_url=str(server.make_url("")), timeout=30) as client:
                yield client, cluster, logs, (telemetry, exporter)
        finally:
            await server.close()
            structlog.reset_defaults()


async def test_no_personal_data_in_logs_spans_or_problems(
    everything: tuple[httpx.AsyncClient, MockCluster, io.StringIO, Any],
) -> None:
    """Across every scenario, no NIK, KK number, name or birth date of a citizen involved appears unmasked."""
    client, cluster, logs, (telemetry, exporter) = everything
    citizens = cluster.population.sample(status="active", duplicate=False, limit=9)
    catalog = {s["id"] for s in (await client.get("/v1/services", headers=WAIT)).json()["services"]}
    answers = []
    for request in scenarios(citizens):
        if request["service"] not in catalog:
            continue
        resp = await client.post("/v1/requests", json=request, headers=WAIT)
        answers.append(resp)
        assert resp.status_code < 500, resp.text
    assert len(answers) >= 5
    telemetry.provider.force_flush()
    spans = "\n".join(
        repr(dict(s.attributes or {})) + s.name + repr([(e.name, dict(e.attributes or {})) for e in s.events])
        for s in exporter.get_finished_spans()
    )
    problems = "\n".join(r.text for r in answers if r.headers["content-type"].startswith("application/problem"))
    outputs = {"logs": logs.getvalue(), "spans": spans, "problems": problems}
    assert outputs["logs"] and outputs["spans"]
    for citizen in citizens:
        secrets = {
            "nik": citizen.nik,
            "kk": citizen.kk,
            "name": citizen.full_name,
            "mother": citizen.mother_name,
            "birth date": citizen.birth_date.isoformat(),
            "birth date (dd-mm-yyyy)": citizen.birth_date.strftime("%d-%m-%Y"),
            "card": citizen.no_kartu,
        }
        for where, text in outputs.items():
            for what, value in secrets.items():
                assert value not in text, f"{what} of a citizen appears in {where}"

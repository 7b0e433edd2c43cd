"""The adapter against the BPJS Ketenagakerjaan mock over real sockets, directly and through the gateway's API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestServer

from adapters import (
    AdapterContext,
    AgencyHttp,
    AgencyMisconfigured,
    AgencyRejected,
    Call,
    Completed,
    TransientAgencyError,
)
from adapters.bpjs_ketenagakerjaan import (
    BpjsKetenagakerjaanAdapter,
    MembershipPayload,
    MembershipResult,
    RegisterPayload,
    RegistrationResult,
    StatusPayload,
)
from gateway import AgencyConfig, Settings, build_app, build_transport
from gateway.store import generate_data_key
from mocks import REFERENCE_DATE, Citizen, MockCluster, start_mocks
from mocks.bpjs_ketenagakerjaan import REGISTRATIONS_KEY, membership
from tests.fakes import KEY_A, consent_given_at, directory

from ._support import REGISTER_DATA

AGENCY = "bpjs-ketenagakerjaan"
REGISTER_ID = "bpjs-ketenagakerjaan.peserta.register"
CONSENT = {"method": "written", "reference": "FORM-0042", "given_at": consent_given_at()}
COUNTER = {"mpp_id": "mpp-a", "desk": "loket-05", "operator": "op-7"}


@pytest.fixture
async def cluster() -> AsyncIterator[MockCluster]:
    """The BPJS Ketenagakerjaan mock on a free loopback port."""
    async with await start_mocks("127.0.0.1", {AGENCY: 0}) as running:
        yield running


@pytest.fixture
async def transport() -> AsyncIterator[httpx.AsyncBaseTransport]:
    """The gateway's real outbound transport."""
    real = build_transport()
    try:
        yield real
    finally:
        await real.aclose()


def adapter_for(
    cluster: MockCluster, transport: httpx.AsyncBaseTransport, **overrides: str
) -> BpjsKetenagakerjaanAdapter:
    """The adapter configured with the cluster's settings, as the gateway builds it."""
    settings = {**cluster.agencies[AGENCY].settings, **overrides}
    http = AgencyHttp(transport, agency=AGENCY, base_url=settings["base_url"], timeout=2.0)
    return BpjsKetenagakerjaanAdapter(AdapterContext(http=http, settings=settings))


def call(service: str, nik: str, payload: Any, reference: str = "req_INTEGRATION01") -> Call:
    return Call(reference, service, nik, payload, reference, 1, time.monotonic() + 10)


def newcomer(cluster: MockCluster) -> Citizen:
    """An eligible citizen without a membership."""
    return next(
        c for c in cluster.population
        if c.kpj is None and c.status == "active" and 18 <= c.age(REFERENCE_DATE) < 65
    )


async def test_member_lookup(cluster: MockCluster, transport: httpx.AsyncBaseTransport) -> None:
    """A wage earner in the population is found with their KPJ and programmes."""
    citizen = next(c for c in cluster.population if c.kpj is not None and c.status == "active")
    outcome = await adapter_for(cluster, transport).execute(
        call("bpjs-ketenagakerjaan.peserta.verify", citizen.nik, MembershipPayload())
    )
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, MembershipResult)
    held = membership(citizen)
    assert held is not None
    assert (outcome.result.member, outcome.result.kpj) == (True, citizen.kpj)
    assert outcome.result.programmes == held["program"]


async def test_register_twice_is_one_registration(cluster: MockCluster, transport: httpx.AsyncBaseTransport) -> None:
    """A resend under the same reference returns the same KPJ; the mock counts two deliveries, one registration."""
    adapter = adapter_for(cluster, transport)
    citizen = newcomer(cluster)
    registration = call(REGISTER_ID, citizen.nik, RegisterPayload.model_validate(REGISTER_DATA))
    first = await adapter.execute(registration)
    again = await adapter.execute(registration)
    assert isinstance(first, Completed) and isinstance(again, Completed)
    assert first.agency_reference == again.agency_reference
    assert first.result == again.result
    agency = cluster.agencies[AGENCY]
    assert agency.control.deliveries.count(reference=registration.reference) == 2
    assert len(agency.app[REGISTRATIONS_KEY]) == 1
    status = await adapter.execute(
        call("bpjs-ketenagakerjaan.peserta.status", citizen.nik, StatusPayload(reference=registration.reference))
    )
    assert isinstance(status, Completed)
    assert status.result == first.result


async def test_lost_answer_is_reconciled(cluster: MockCluster, transport: httpx.AsyncBaseTransport) -> None:
    """When the connection drops after the agency registered, reconcile finds the registration by reference."""
    adapter = adapter_for(cluster, transport)
    citizen = newcomer(cluster)
    registration = call(REGISTER_ID, citizen.nik, RegisterPayload.model_validate(REGISTER_DATA), "req_LOST")
    assert await adapter.reconcile(registration) is None
    control = cluster.agencies[AGENCY].control
    control.faults.configure({"reset_rate": 1.0, "drop_after_processing": True})
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(registration)
    assert caught.value.sent is True
    control.faults.reset()
    found = await adapter.reconcile(registration)
    assert isinstance(found, Completed)
    assert isinstance(found.result, RegistrationResult)
    assert found.agency_reference == found.result.kpj
    assert len(cluster.agencies[AGENCY].app[REGISTRATIONS_KEY]) == 1


async def test_active_member_registration_is_rejected(
    cluster: MockCluster, transport: httpx.AsyncBaseTransport
) -> None:
    """Registering someone already active ends rejected as bpjstk-already-registered."""
    member = next(
        c for c in cluster.population
        if (held := membership(c)) is not None and held["status"] == "AKTIF" and 18 <= c.age(REFERENCE_DATE) < 65
        and c.status == "active"
    )
    with pytest.raises(AgencyRejected) as caught:
        await adapter_for(cluster, transport).execute(
            call(REGISTER_ID, member.nik, RegisterPayload.model_validate(REGISTER_DATA))
        )
    assert (caught.value.slug, caught.value.code) == ("bpjstk-already-registered", "20")


async def test_wrong_api_key_is_misconfigured(cluster: MockCluster, transport: httpx.AsyncBaseTransport) -> None:
    """A wrong key is the gateway's configuration problem (code 40), and the key is not in the message."""
    with pytest.raises(AgencyMisconfigured) as caught:
        await adapter_for(cluster, transport, api_key="not-the-key").execute(
            call("bpjs-ketenagakerjaan.peserta.verify", cluster.population.unknown_nik(), MembershipPayload())
        )
    assert caught.value.code == "40"
    assert "not-the-key" not in str(caught.value)


async def test_registration_through_the_gateway(cluster: MockCluster, tmp_path: Path) -> None:
    """A counter registers a worker through POST /v1/requests and then sees the membership in a lookup."""
    agency = cluster.agencies[AGENCY]
    settings = Settings(
        store_path=str(tmp_path / "gateway.sqlite3"),
        data_keys=generate_data_key(),
        dispatch_concurrency=4,
        shutdown_grace_seconds=1,
        adapters=(AGENCY,),
        agencies={AGENCY: AgencyConfig.from_values({**agency.settings, "timeout": "2"})},
    )
    server = TestServer(build_app(settings, clients=directory()), host="127.0.0.1")
    await server.start_server()
    citizen = newcomer(cluster)
    try:
        async with httpx.AsyncClient(
            base_url=str(server.make_url("")), headers={"Authorization": f"Bearer {KEY_A}"}, timeout=20
        ) as client:
            base = {"applicant": {"nik": citizen.nik}, "counter": COUNTER}
            unconsented = {**base, "service": REGISTER_ID, "payload": REGISTER_DATA}
            refused = await client.post("/v1/requests", json=unconsented, headers={"Idempotency-Key": "counter-a-0000"})
            assert refused.status_code == 422
            assert refused.json()["type"] == "/problems/consent-required"
            resp = await client.post(
                "/v1/requests",
                json={**base, "service": REGISTER_ID, "consent": CONSENT, "payload": REGISTER_DATA},
                headers={"Prefer": "wait=10", "Idempotency-Key": "counter-a-0001"},
            )
            assert resp.status_code == 200, resp.text
            record = resp.json()
            assert record["status"] == "completed"
            assert record["agency_reference"] == record["result"]["kpj"]
            assert record["result"]["reference"] == record["id"]
            lookup = await client.post(
                "/v1/requests",
                json={**base, "service": "bpjs-ketenagakerjaan.peserta.verify", "consent": CONSENT, "payload": {}},
                headers={"Prefer": "wait=10"},
            )
            assert lookup.json()["result"]["kpj"] == record["result"]["kpj"]
            assert lookup.json()["result"]["category"] == "non_wage_earner"
    finally:
        await server.close()

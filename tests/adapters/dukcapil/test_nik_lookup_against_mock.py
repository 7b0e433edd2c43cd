"""dukcapil.nik.lookup against the Dukcapil mock over real sockets: the adapter directly, and a counter's request."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp.test_utils import TestServer

from adapters import AdapterContext, AgencyHttp, AgencyRejected, Call, Completed
from adapters.dukcapil import CivilRecord, DukcapilAdapter, NikLookupPayload
from gateway import AgencyConfig, Settings, build_app, build_transport
from gateway.store import generate_data_key
from mocks import MockCluster, start_mocks
from tests.fakes import KEY_A, consent_given_at, directory

LOOKUP = "dukcapil.nik.lookup"
CONSENT = {"method": "electronic", "reference": "ECONSENT-77", "given_at": consent_given_at()}


@pytest.fixture
async def cluster() -> AsyncIterator[MockCluster]:
    """The Dukcapil mock on a free loopback port."""
    async with await start_mocks("127.0.0.1", {"dukcapil": 0}) as running:
        yield running


@pytest.fixture
async def adapter(cluster: MockCluster) -> AsyncIterator[DukcapilAdapter]:
    """The adapter over the gateway's real outbound transport, configured with the mock's settings."""
    transport = build_transport()
    settings = cluster.agencies["dukcapil"].settings
    http = AgencyHttp(transport, agency="dukcapil", base_url=settings["base_url"], timeout=2.0)
    try:
        yield DukcapilAdapter(AdapterContext(http=http, settings=settings))
    finally:
        await transport.aclose()


def lookup(nik: str) -> Call:
    return Call("req_NIK", LOOKUP, nik, NikLookupPayload(), "req_NIK", 1, time.monotonic() + 10)


async def test_record_is_the_citizens(cluster: MockCluster, adapter: DukcapilAdapter) -> None:
    """An active citizen's record comes back complete and equal to the registry's data."""
    citizen = cluster.population.sample("active", duplicate=False, limit=1)[0]
    outcome = await adapter.execute(lookup(citizen.nik))
    assert isinstance(outcome, Completed)
    record = outcome.result
    assert isinstance(record, CivilRecord)
    assert (record.nik, record.family_card_number, record.full_name) == (citizen.nik, citizen.kk, citizen.full_name)
    assert (record.birth_date, record.sex) == (citizen.birth_date, "male" if citizen.sex == "LAKI-LAKI" else "female")
    assert (record.mother_name, record.father_name, record.occupation) == (
        citizen.mother_name,
        citizen.father_name,
        citizen.occupation,
    )
    address = record.address
    assert (address.street, address.rt, address.rw) == (citizen.address, citizen.rt, citizen.rw)
    assert (address.province.code, address.regency.code, address.district.code, address.village.code) == (
        citizen.province_code,
        citizen.regency_code,
        citizen.district_code,
        citizen.village_code,
    )
    assert record.duplicate_record is False


async def test_duplicate_is_flagged(cluster: MockCluster, adapter: DukcapilAdapter) -> None:
    """A duplicate record completes with duplicate_record set."""
    citizen = cluster.population.sample("active", duplicate=True, limit=1)[0]
    outcome = await adapter.execute(lookup(citizen.nik))
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, CivilRecord)
    assert outcome.result.duplicate_record is True


@pytest.mark.parametrize(
    ("who", "slug", "code"),
    [
        ("deceased", "nik-deceased", "11"),
        ("inactive", "nik-inactive", "14"),
        ("unknown", "nik-not-found", "13"),
        ("bad-format", "nik-invalid-format", "15"),
    ],
)
async def test_registry_outcomes_are_rejections(
    cluster: MockCluster, adapter: DukcapilAdapter, who: str, slug: str, code: str
) -> None:
    """Deceased, inactive, unknown and malformed NIKs end rejected with Dukcapil's code and our slug."""
    if who in ("deceased", "inactive"):
        nik = cluster.population.sample(who, limit=1)[0].nik  # type: ignore[arg-type]
    elif who == "unknown":
        nik = cluster.population.unknown_nik()
    else:
        nik = "9901014708900001"  # province 99 does not exist
    with pytest.raises(AgencyRejected) as caught:
        await adapter.execute(lookup(nik))
    assert (caught.value.slug, caught.value.code) == (slug, code)


async def test_counter_needs_consent_then_gets_the_record(cluster: MockCluster, tmp_path: Path) -> None:
    """Through the gateway, the lookup is refused without consent and completes with it."""
    agency = cluster.agencies["dukcapil"]
    settings = Settings(
        store_path=str(tmp_path / "gateway.sqlite3"),
        data_keys=generate_data_key(),
        dispatch_concurrency=4,
        shutdown_grace_seconds=1,
        adapters=("dukcapil",),
        agencies={"dukcapil": AgencyConfig.from_values({**agency.settings, "timeout": "2"})},
    )
    server = TestServer(build_app(settings, clients=directory()), host="127.0.0.1")
    await server.start_server()
    citizen = cluster.population.sample("active", duplicate=False, limit=1)[0]
    body = {
        "service": LOOKUP,
        "applicant": {"nik": citizen.nik},
        "counter": {"mpp_id": "mpp-a", "desk": "loket-01", "operator": "op-1"},
        "payload": {},
    }
    try:
        async with httpx.AsyncClient(
            base_url=str(server.make_url("")), headers={"Authorization": f"Bearer {KEY_A}"}, timeout=20
        ) as client:
            refused = await client.post("/v1/requests", json=body)
            assert refused.status_code == 422
            assert refused.json()["type"] == "/problems/consent-required"
            resp = await client.post("/v1/requests", json={**body, "consent": CONSENT}, headers={"Prefer": "wait=10"})
            assert resp.status_code == 200, resp.text
            record = resp.json()
            assert record["status"] == "completed"
            assert record["result"]["full_name"] == citizen.full_name
            assert record["result"]["address"]["village"]["code"] == citizen.village_code
    finally:
        await server.close()

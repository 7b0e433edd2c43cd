"""dukcapil.nik.verify from the counter to the Dukcapil mock and back, over real sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from mocks import MockCluster
from tests.fakes import KEY_A
from tests.integration.conftest import start_gateway, verify_body

WAIT = {"Prefer": "wait=10"}


async def test_declared_data_matching_the_registry_completes_with_scores(
    gateway: httpx.AsyncClient, cluster: MockCluster
) -> None:
    """A citizen's correct declaration comes back completed, every field matched with a score."""
    citizen = cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    body = verify_body(
        citizen.nik,
        full_name=citizen.full_name.title(),
        birth_place=citizen.birth_place,
        birth_date=citizen.birth_date.isoformat(),
        sex="male" if citizen.sex == "LAKI-LAKI" else "female",
        mother_name=citizen.mother_name,
    )
    resp = await gateway.post("/v1/requests", json=body, headers=WAIT)
    assert resp.status_code == 200, resp.text
    record = resp.json()
    assert record["status"] == "completed"
    result = record["result"]
    assert result["matched"] is True
    assert set(result["fields"]) == {"full_name", "birth_place", "birth_date", "sex", "mother_name"}
    assert all(f["match"] and f["score"] >= 80 for f in result["fields"].values())
    assert cluster.agencies["dukcapil"].control.deliveries.count() == 1


async def test_mismatched_birth_date_is_a_non_matching_field_not_an_error(
    gateway: httpx.AsyncClient, cluster: MockCluster
) -> None:
    """A wrong birth date completes with that field not matched and the rest matched."""
    citizen = cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    wrong = citizen.birth_date.replace(year=citizen.birth_date.year - 1)
    body = verify_body(citizen.nik, full_name=citizen.full_name, birth_date=wrong.isoformat())
    record = (await gateway.post("/v1/requests", json=body, headers=WAIT)).json()
    assert record["status"] == "completed"
    assert record["result"]["matched"] is False
    assert record["result"]["fields"]["birth_date"] == {"match": False, "score": 0}
    assert record["result"]["fields"]["full_name"]["match"] is True


async def test_misspelt_name_scores_below_100(gateway: httpx.AsyncClient, cluster: MockCluster) -> None:
    """A near-miss name is scored by similarity, as Dukcapil does."""
    citizen = cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    body = verify_body(citizen.nik, full_name=citizen.full_name[:-1] + "X", threshold=50)
    record = (await gateway.post("/v1/requests", json=body, headers=WAIT)).json()
    score = record["result"]["fields"]["full_name"]["score"]
    assert 50 <= score < 100


@pytest.mark.parametrize(("status", "slug"), [("deceased", "nik-deceased"), ("inactive", "nik-inactive")])
async def test_registry_outcomes_end_rejected_with_stable_types(
    gateway: httpx.AsyncClient, cluster: MockCluster, status: str, slug: str
) -> None:
    """Deceased and inactive records end as rejected with their own problem types, after one attempt."""
    citizen = cluster.population.sample(status=status, limit=1)[0]  # type: ignore[arg-type]
    record = (await gateway.post("/v1/requests", json=verify_body(citizen.nik, full_name="X"), headers=WAIT)).json()
    assert record["status"] == "rejected"
    assert record["problem"]["type"] == f"/problems/{slug}"
    assert len(record["attempts"]) == 1


async def test_unknown_nik_is_rejected_not_found(gateway: httpx.AsyncClient, cluster: MockCluster) -> None:
    """A well-formed NIK the registry does not hold ends rejected as nik-not-found."""
    nik = "3201014708909999"
    assert cluster.population.get(nik) is None
    record = (await gateway.post("/v1/requests", json=verify_body(nik, full_name="X"), headers=WAIT)).json()
    assert record["status"] == "rejected"
    assert record["problem"]["type"] == "/problems/nik-not-found"


async def test_duplicate_record_is_valid_and_flagged(gateway: httpx.AsyncClient, cluster: MockCluster) -> None:
    """A duplicate record verifies normally with duplicate_record set."""
    citizen = cluster.population.sample(status="active", duplicate=True, limit=1)[0]
    record = (
        await gateway.post("/v1/requests", json=verify_body(citizen.nik, full_name=citizen.full_name), headers=WAIT)
    ).json()
    assert record["status"] == "completed"
    assert record["result"]["duplicate_record"] is True


async def test_agency_errors_are_retried_then_the_gateway_recovers(
    gateway: httpx.AsyncClient, cluster: MockCluster
) -> None:
    """With Dukcapil answering only 503s the request fails after its retries; once healed, requests complete."""
    control = cluster.agencies["dukcapil"].control
    control.faults.configure({"error_rate": 1.0})
    citizen = cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    body = verify_body(citizen.nik, full_name=citizen.full_name)
    record = (await gateway.post("/v1/requests", json=body, headers=WAIT)).json()
    assert record["status"] == "failed"
    assert record["problem"]["type"] == "/problems/agency-unavailable"
    assert [a["outcome"] for a in record["attempts"]] == ["transient"] * 3
    control.reset()
    record = (await gateway.post("/v1/requests", json=body, headers=WAIT)).json()
    assert record["status"] == "completed"


@pytest.mark.parametrize("fault", ["html_rate", "malformed_rate", "reset_rate"])
async def test_broken_answers_are_classified_transient(
    gateway: httpx.AsyncClient, cluster: MockCluster, fault: str
) -> None:
    """HTML error pages, truncated bodies and dropped connections are transient faults, never a 500."""
    control = cluster.agencies["dukcapil"].control
    control.faults.configure({fault: 1.0})
    citizen = cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    resp = await gateway.post("/v1/requests", json=verify_body(citizen.nik, full_name="X"), headers=WAIT)
    record = resp.json()
    assert resp.status_code == 200
    assert record["status"] == "failed"
    assert {a["outcome"] for a in record["attempts"]} == {"transient"}


async def test_wrong_credentials_fail_as_misconfigured(cluster: MockCluster, tmp_path: Path) -> None:
    """A wrong password is the gateway's configuration problem: failed at once, agency-misconfigured, code 03."""
    server = await start_gateway(cluster, tmp_path, overrides={"dukcapil": {"password": "wrong"}})
    try:
        async with httpx.AsyncClient(
            base_url=str(server.make_url("")), headers={"Authorization": f"Bearer {KEY_A}"}
        ) as client:
            citizen = cluster.population.sample(status="active", limit=1)[0]
            resp = await client.post("/v1/requests", json=verify_body(citizen.nik, full_name="X"), headers=WAIT)
            record = resp.json()
            assert record["status"] == "failed"
            assert record["problem"]["type"] == "/problems/agency-misconfigured"
            assert record["problem"]["code"] == "03"
            assert len(record["attempts"]) == 1
            assert "wrong" not in resp.text
    finally:
        await server.close()


async def test_concurrent_counters_all_complete(gateway: httpx.AsyncClient, cluster: MockCluster) -> None:
    """Fifty concurrent verifications all complete, each exactly once at the agency."""
    citizens = cluster.population.sample(status="active", duplicate=False, limit=50)
    bodies = [verify_body(c.nik, full_name=c.full_name) for c in citizens]
    responses = await asyncio.gather(*(gateway.post("/v1/requests", json=b, headers=WAIT) for b in bodies))
    assert [r.json()["status"] for r in responses] == ["completed"] * len(bodies)
    assert cluster.agencies["dukcapil"].control.deliveries.count() == len(bodies)


async def test_exhausted_daily_quota_is_misconfiguration_until_refilled(
    gateway: httpx.AsyncClient, cluster: MockCluster
) -> None:
    """With the quota spent (control API) Dukcapil answers code 05: failed as misconfigured; a refill heals it."""
    origin = cluster.agencies["dukcapil"].base_url
    async with httpx.AsyncClient() as control:
        assert (await control.put(f"{origin}/_control/quota", json={"remaining": 0})).status_code == 200
        assert (await control.put(f"{origin}/_control/quota", json={"remaining": -1})).status_code == 422
    citizen = cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    body = verify_body(citizen.nik, full_name=citizen.full_name)
    record = (await gateway.post("/v1/requests", json=body, headers=WAIT)).json()
    assert record["status"] == "failed"
    assert record["problem"]["type"] == "/problems/agency-misconfigured"
    assert record["problem"]["code"] == "05"
    async with httpx.AsyncClient() as control:
        await control.put(f"{origin}/_control/quota", json={"remaining": 10})
    assert (await gateway.post("/v1/requests", json=body, headers=WAIT)).json()["status"] == "completed"

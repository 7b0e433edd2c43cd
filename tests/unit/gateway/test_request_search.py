"""``GET /v1/requests``: the search, for counter clients (what they may read) and operations clients (all, masked);
``GET /v1/requests/{id}`` for an operations client."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from contracts import RequestStatus
from gateway.http import STATE
from gateway.store import AuditEntry
from tests.fakes import KEY_A, KEY_B, KEY_NARROW, KEY_OPS, NIK, envelope
from tests.store.support import attempt, new

#: A citizen's name, sent in the payload and echoed in the result: it must never reach an operations client.
NAME = "Siti Aminah Rahayu"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def made(client: TestClient[Any, Any], key: str, mpp_id: str) -> str:
    """A lookup that completed, by the client with ``key`` for ``mpp_id``, carrying the citizen's name."""
    body = envelope(counter={"mpp_id": mpp_id, "desk": "loket-01", "operator": "op-7"}, payload={"value": NAME})
    resp = await client.post("/v1/requests", json=body, headers={**auth(key), "Prefer": "wait=5"})
    assert resp.status == 200, await resp.text()
    record = await resp.json()
    assert record["status"] == "completed" and NAME in str(record["result"])
    return str(record["id"])


async def failed(client: TestClient[Any, Any], request_id: str, slug: str, *, hours_ago: float = 0) -> None:
    """A request of counter-b that failed with problem ``slug``, created ``hours_ago``."""
    store = client.app[STATE].store
    created = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    await store.insert(dataclasses.replace(new(request_id, created_at=created), client_id="counter-b", mpp_id="mpp-b"))
    assert await store.claim(request_id, "w", 30) is not None
    problem = {"type": f"/problems/{slug}", "title": "Agency unavailable", "status": 503}
    await store.finish(request_id, "w", status=RequestStatus.FAILED, attempt=attempt(1, "transient"), problem=problem)


async def search(client: TestClient[Any, Any], key: str, **params: str) -> dict[str, Any]:
    resp = await client.get("/v1/requests", params=params, headers=auth(key))
    assert resp.status == 200, await resp.text()
    found: dict[str, Any] = await resp.json()
    return found


async def audit_reads(client: TestClient[Any, Any]) -> list[tuple[str | None, str | None]]:
    entries: list[AuditEntry] = await client.app[STATE].store.audit_entries(0, 10_000)
    return [(e.event.client_id, e.event.request_id) for e in entries if e.event.action == "request.read"]


@pytest.fixture
async def world(gateway_client: TestClient[Any, Any]) -> dict[str, str]:
    """Two completed requests of mpp-a (counter-a, kiosk), one of mpp-b, and two failed ones of mpp-b."""
    ids = {
        "a": await made(gateway_client, KEY_A, "mpp-a"),
        "kiosk": await made(gateway_client, KEY_NARROW, "mpp-a"),
        "b": await made(gateway_client, KEY_B, "mpp-b"),
    }
    await failed(gateway_client, "req_failed_recent", "agency-unavailable")
    await failed(gateway_client, "req_failed_old", "deadline-exceeded", hours_ago=3)
    return ids


async def test_an_operations_client_finds_every_request_masked(
    gateway_client: TestClient[Any, Any], world: dict[str, str]
) -> None:
    """Ops finds every MPP's requests, newest first, with no result, no reference and the NIK masked only."""
    page = await search(gateway_client, KEY_OPS)
    found = [r["id"] for r in page["requests"]]
    assert set(found) == {*world.values(), "req_failed_recent", "req_failed_old"}
    assert found[-1] == "req_failed_old"  # three hours older than the rest
    assert page["next_cursor"] is None
    for record in page["requests"]:
        assert record["result"] is None and record["agency_reference"] is None
        assert record["subject"] == {"nik_masked": "3201**********01"}
    completed = next(r for r in page["requests"] if r["id"] == world["a"])
    assert [a["outcome"] for a in completed["attempts"]] == ["completed"]
    assert completed["counter"]["mpp_id"] == "mpp-a" and completed["trace_id"]


async def test_ops_views_hold_no_personal_data_of_the_citizens(
    gateway_client: TestClient[Any, Any], world: dict[str, str]
) -> None:
    """Neither the citizen's NIK nor the name sent about them appears in any search or record ops is shown."""
    texts = [await (await gateway_client.get("/v1/requests", headers=auth(KEY_OPS))).text()]
    for request_id in world.values():
        resp = await gateway_client.get(f"/v1/requests/{request_id}", headers=auth(KEY_OPS))
        assert resp.status == 200
        texts.append(await resp.text())
    one = await gateway_client.get("/v1/requests", params={"id": world["a"]}, headers=auth(KEY_OPS))
    texts.append(await one.text())
    for text in texts:
        assert NIK not in text and NAME not in text and "REF-1" not in text
        assert "3201**********01" in text
    # The counter that made the request still sees the name in its result: the masking is the ops view's.
    own = await gateway_client.get(f"/v1/requests/{world['a']}", headers=auth(KEY_A))
    assert NAME in await own.text()


async def test_an_operations_client_reads_any_request_masked_and_is_audited(
    gateway_client: TestClient[Any, Any], world: dict[str, str]
) -> None:
    """GET /v1/requests/{id} answers ops for any MPP, masked, and writes a request.read entry naming the ops client."""
    resp = await gateway_client.get(f"/v1/requests/{world['b']}", headers=auth(KEY_OPS))
    record = await resp.json()
    assert resp.status == 200 and record["id"] == world["b"] and record["status"] == "completed"
    assert record["result"] is None and record["agency_reference"] is None
    assert ("ops", world["b"]) in await audit_reads(gateway_client)
    missing = await gateway_client.get("/v1/requests/req_01KAPZZZZZZZZZZZZZZZZZZZZZ", headers=auth(KEY_OPS))
    assert missing.status == 404


async def test_a_counter_client_finds_what_it_may_read_with_results_audited(
    gateway_client: TestClient[Any, Any], world: dict[str, str]
) -> None:
    """A counter finds its own and its MPP's requests, in the record it is shown anyway, each read audited."""
    page = await search(gateway_client, KEY_A)
    assert [r["id"] for r in page["requests"]] == [world["kiosk"], world["a"]]
    assert all(NAME in str(r["result"]) and r["agency_reference"] == "REF-1" for r in page["requests"])
    reads = await audit_reads(gateway_client)
    assert ("counter-a", world["a"]) in reads and ("counter-a", world["kiosk"]) in reads
    b = await search(gateway_client, KEY_B)
    assert {r["id"] for r in b["requests"]} == {world["b"], "req_failed_recent", "req_failed_old"}
    # Asking for another MPP's request or MPP finds nothing, exactly as an unknown id.
    assert (await search(gateway_client, KEY_A, id=world["b"]))["requests"] == []
    assert (await search(gateway_client, KEY_A, mpp_id="mpp-b"))["requests"] == []


async def test_filters_and_relative_times(gateway_client: TestClient[Any, Any], world: dict[str, str]) -> None:
    """status (one or several), problem, agency, service, since/until relative or ISO 8601 narrow the search."""
    failed_1h = await search(gateway_client, KEY_OPS, status="failed", since="1h")
    assert [r["id"] for r in failed_1h["requests"]] == ["req_failed_recent"]
    assert failed_1h["requests"][0]["problem"]["type"] == "/problems/agency-unavailable"
    either = await search(gateway_client, KEY_OPS, status="failed,rejected", since="4h")
    assert {r["id"] for r in either["requests"]} == {"req_failed_recent", "req_failed_old"}
    older = await search(gateway_client, KEY_OPS, until="2h")
    assert [r["id"] for r in older["requests"]] == ["req_failed_old"]
    iso = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()
    assert len((await search(gateway_client, KEY_OPS, since=iso))["requests"]) == 4
    by_problem = await search(gateway_client, KEY_OPS, problem="deadline-exceeded")
    assert [r["id"] for r in by_problem["requests"]] == ["req_failed_old"]
    lookups = await search(gateway_client, KEY_OPS, service="fake.thing.lookup", agency="fake", mpp_id="mpp-a")
    assert {r["id"] for r in lookups["requests"]} == {world["a"], world["kiosk"]}
    repeated = await gateway_client.get("/v1/requests?status=failed&status=completed", headers=auth(KEY_OPS))
    assert len((await repeated.json())["requests"]) == 5


async def test_pages_follow_by_cursor(gateway_client: TestClient[Any, Any], world: dict[str, str]) -> None:
    """limit=2 pages through all five requests by next_cursor, without repeats; the last page has none."""
    seen: list[str] = []
    params = {"limit": "2"}
    for _ in range(3):
        page = await search(gateway_client, KEY_OPS, **params)
        seen += [r["id"] for r in page["requests"]]
        params["cursor"] = page["next_cursor"]
    assert page["next_cursor"] is None
    assert len(seen) == len(set(seen)) == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=finished", "query.status"),
        ("limit=0", "query.limit"),
        ("limit=501", "query.limit"),
        ("limit=ten", "query.limit"),
        ("since=yesterday", "query.since"),
        ("until=1y", "query.until"),
        ("since=1h&until=2h", "query.until"),
        ("problem=/problems/agency-unavailable", "query.problem"),
        ("cursor=not-a-cursor", "query.cursor"),
        ("id=a&id=b", "query.id"),
        ("stauts=failed", "query.stauts"),
        ("3201014708900001=x", "query.(unknown)"),
        ("service=" + "s" * 129, "query.service"),
    ],
)
async def test_a_bad_parameter_is_a_422_naming_it(gateway_client: TestClient[Any, Any], query: str, field: str) -> None:
    """Each bad query parameter is a validation-error problem whose errors name it as query.<name>."""
    resp = await gateway_client.get(f"/v1/requests?{query}", headers=auth(KEY_OPS))
    assert resp.status == 422
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    problem = await resp.json()
    assert problem["type"] == "/problems/validation-error"
    assert [e["field"] for e in problem["errors"]] == [field]
    assert NIK not in await resp.text()


async def test_the_search_needs_a_client(gateway_client: TestClient[Any, Any]) -> None:
    """Without credentials the search is a 401, like every protected route."""
    assert (await gateway_client.get("/v1/requests")).status == 401

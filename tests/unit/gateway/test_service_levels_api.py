"""The service-level report and the citizens' ratings through the HTTP API: JSON and CSV agree with the requests
made, ops clients only, parameters checked by name, a rating once per finished request, no personal data."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from adapters import AgencyMisconfigured, AgencyRejected
from gateway.http import STATE
from tests.fakes import KEY_A, KEY_B, KEY_OPS, NIK, FakeAdapter, consent_given_at, envelope

AUTH = {"Authorization": f"Bearer {KEY_A}"}
OPS = {"Authorization": f"Bearer {KEY_OPS}"}
WAIT = {**AUTH, "Prefer": "wait=5"}
REPORT = "/v1/reports/service-levels"
#: A citizen's name sent in a payload: it must not reach the report.
NAME = "Siti Aminah Rahayu"


async def make(client: TestClient[Any, Any], service: str = "fake.thing.lookup") -> dict[str, Any]:
    """One request carrying the citizen's NIK and name, answered within the wait."""
    body = envelope(service, payload={"value": NAME})
    if service == "fake.person.read":
        body["consent"] = {"method": "written", "reference": "F-1", "given_at": consent_given_at()}
    resp = await client.post("/v1/requests", json=body, headers=WAIT)
    assert resp.status in {200, 202}, await resp.text()
    record: dict[str, Any] = await resp.json()
    return record


async def outcomes(client: TestClient[Any, Any], adapter: FakeAdapter) -> list[dict[str, Any]]:
    """5 completed, 2 failed (agency-misconfigured), 1 rejected (thing-not-found)."""
    made = [await make(client) for _ in range(4)]
    made.append(await make(client, "fake.person.read"))
    adapter.script = [AgencyMisconfigured("bad credentials", agency="fake")]
    made.append(await make(client))
    adapter.script = [AgencyMisconfigured("bad credentials", agency="fake")]
    made.append(await make(client))
    adapter.script = [AgencyRejected("no such thing", agency="fake", code="13", slug="thing-not-found")]
    made.append(await make(client))
    return made


async def test_report_json_and_csv_agree_with_the_requests_made(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """5 completed, 2 failed with a problem type and 1 rejected appear so in the JSON, in the CSV by format=csv
    and by Accept: text/csv; neither holds the citizen's NIK or name."""
    made = await outcomes(gateway_client, fake_adapter)
    assert [r["status"] for r in made].count("completed") == 5
    resp = await gateway_client.get(REPORT, params={"group_by": "agency", "bucket": "day"}, headers=OPS)
    assert resp.status == 200
    data = await resp.json()
    assert (data["bucket"], data["group_by"]) == ("day", ["agency"])
    assert data["from"].endswith("+00:00") and data["to"].endswith("+00:00")
    [row] = data["rows"]
    assert row["agency"] == "fake"
    assert (row["requests"], row["completed"], row["failed"], row["rejected"]) == (8, 5, 2, 1)
    assert row["failed_by_problem"] == {"agency-misconfigured": 2}
    assert row["p50_ms"] is not None and row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
    assert row["availability"] == 1.0  # the replica recorded its closed circuit when it started
    by_format = await gateway_client.get(REPORT, params={"group_by": "agency", "bucket": "day", "format": "csv"},
                                         headers=OPS)  # fmt: skip
    by_accept = await gateway_client.get(REPORT, params={"group_by": "agency", "bucket": "day"},
                                         headers={**OPS, "Accept": "text/csv"})  # fmt: skip
    for answer in (by_format, by_accept):
        assert answer.status == 200 and answer.content_type == "text/csv"
        assert "attachment" in answer.headers["Content-Disposition"]
        text = await answer.text()
        [line] = list(csv.DictReader(io.StringIO(text)))
        assert line["bucket_start"] == row["bucket_start"] and line["agency"] == "fake"
        assert {k: int(line[k]) for k in ("requests", "completed", "failed", "rejected")} == {
            "requests": 8, "completed": 5, "failed": 2, "rejected": 1,
        }  # fmt: skip
        assert int(line["failed.agency-misconfigured"]) == 2
        assert float(line["p95_ms"]) == row["p95_ms"] and float(line["availability"]) == 1.0
        assert line["journeys_within_visit"] == "" and line["rating_mean"] == "" and line["ratings"] == "0"
    for text in (await resp.text(), await by_format.text()):
        assert NIK not in text and NAME not in text and NIK[:4] + "*" not in text


async def test_report_grouped_by_service_and_mpp_splits_the_rows(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """group_by=service,mpp: one row per service and MPP, with ``service`` and ``mpp_id`` and no availability."""
    await make(gateway_client)
    await make(gateway_client, "fake.person.read")
    data = await (await gateway_client.get(REPORT, params={"group_by": "service,mpp"}, headers=OPS)).json()
    assert data["group_by"] == ["service", "mpp"]
    assert [(r["service"], r["mpp_id"], r["requests"], r["availability"]) for r in data["rows"]] == [
        ("fake.person.read", "mpp-a", 1, None), ("fake.thing.lookup", "mpp-a", 1, None),
    ]  # fmt: skip


async def test_report_is_for_operations_clients_only(gateway_client: TestClient[Any, Any]) -> None:
    """A counter client gets 403 forbidden, a caller without a key 401."""
    assert (await gateway_client.get(REPORT, headers=AUTH)).status == 403
    assert (await gateway_client.get(REPORT)).status == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bucket": "week"}, "query.bucket"),
        ({"group_by": "desk"}, "query.group_by"),
        ({"group_by": "agency,,service"}, "query.group_by"),
        ({"group_by": "agency,agency"}, "query.group_by"),
        ({"format": "xml"}, "query.format"),
        ({"from": "yesterday"}, "query.from"),
        ({"to": "2026-13-01"}, "query.to"),
        ({"from": "2026-11-02T10:00:00Z", "to": "2026-11-02T09:00:00Z"}, "query.to"),
        ({"from": "2026-10-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}, "query.from"),
        ({"groupby": "agency"}, "query.groupby"),
    ],
)
async def test_bad_report_parameters_are_422_naming_the_parameter(
    gateway_client: TestClient[Any, Any], params: dict[str, str], field: str
) -> None:
    """Each bad parameter is a validation-error problem whose errors name ``query.<parameter>``."""
    resp = await gateway_client.get(REPORT, params=params, headers=OPS)
    assert resp.status == 422
    problem = await resp.json()
    assert problem["type"].endswith("/validation-error")
    assert [e["field"] for e in problem["errors"]] == [field]


async def test_a_window_of_31_days_with_offsets_is_accepted(gateway_client: TestClient[Any, Any]) -> None:
    """``from``/``to`` with a +07:00 offset are answered in UTC; 31 days is the longest window."""
    params = {"from": "2026-10-01T07:00:00+07:00", "to": "2026-11-01T07:00:00+07:00", "bucket": "day"}
    resp = await gateway_client.get(REPORT, params=params, headers=OPS)
    assert resp.status == 200
    data = await resp.json()
    assert (data["from"], data["to"], data["rows"]) == ("2026-10-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00", [])


def rating_url(record: dict[str, Any]) -> str:
    return f"/v1/requests/{record['id']}/rating"


async def test_a_finished_request_is_rated_once_and_counted_in_the_report(
    gateway_client: TestClient[Any, Any],
) -> None:
    """The first rating is 201, the same again 200 (a retry), other scores 409 request-already-rated; the report
    counts one rating with its element means; the audit log has one request.rated entry."""
    record = await make(gateway_client)
    scores = {"waktu": 4, "biaya": 2, "penanganan_pengaduan": 3}
    first = await gateway_client.post(rating_url(record), json={"scores": scores}, headers=AUTH)
    assert first.status == 201
    kept = await first.json()
    assert (kept["request_id"], kept["scores"]) == (record["id"], scores)
    again = await gateway_client.post(rating_url(record), json={"scores": scores}, headers=AUTH)
    assert again.status == 200 and await again.json() == kept
    other = await gateway_client.post(rating_url(record), json={"scores": {"waktu": 1}}, headers=AUTH)
    assert other.status == 409 and (await other.json())["type"].endswith("/request-already-rated")
    [row] = (await (await gateway_client.get(REPORT, headers=OPS)).json())["rows"]
    assert row["ratings"] == 1
    assert row["rating_elements"] == {"waktu": 4.0, "biaya": 2.0, "penanganan_pengaduan": 3.0}
    assert row["rating_mean"] == 3.0
    csv_text = await (await gateway_client.get(REPORT, params={"format": "csv"}, headers=OPS)).text()
    [line] = list(csv.DictReader(io.StringIO(csv_text)))
    assert (line["ratings"], line["rating.waktu"], line["rating.prosedur"]) == ("1", "4.0", "")
    store = gateway_client.app[STATE].store
    rated = [e for e in await store.audit_entries(0, 1000) if e.event.action == "request.rated"]
    assert [(e.event.request_id, e.event.client_id, e.event.outcome) for e in rated] == [
        (record["id"], "counter-a", "ok")
    ]


async def test_rating_a_request_not_final_is_409(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """A request still in progress cannot be rated yet: 409 request-not-final, and nothing is kept."""
    fake_adapter.release.clear()
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers=AUTH)
    record = await resp.json()
    answer = await gateway_client.post(rating_url(record), json={"scores": {"waktu": 4}}, headers=AUTH)
    assert answer.status == 409
    assert (await answer.json())["type"].endswith("/request-not-final")
    fake_adapter.release.set()
    await asyncio.sleep(0)
    [row] = (await (await gateway_client.get(REPORT, headers=OPS)).json())["rows"]
    assert row["ratings"] == 0


async def test_rating_a_request_the_client_may_not_read_is_404(gateway_client: TestClient[Any, Any]) -> None:
    """Another MPP's client, an operations client and an unknown id all get 404 not-found; the client that made
    the request rates it all the same."""
    record = await make(gateway_client)
    for headers in ({"Authorization": f"Bearer {KEY_B}"}, OPS):
        resp = await gateway_client.post(rating_url(record), json={"scores": {"waktu": 4}}, headers=headers)
        assert resp.status == 404
        assert (await resp.json())["type"].endswith("/not-found")
    unknown = await gateway_client.post(
        "/v1/requests/req_01KAPZZZZZZZZZZZZZZZZZZZZZ/rating", json={"scores": {"waktu": 4}}, headers=AUTH
    )
    assert unknown.status == 404
    assert (await gateway_client.post(rating_url(record), json={"scores": {"waktu": 4}}, headers=AUTH)).status == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scores": {}}, "scores"),
        ({"scores": [4]}, "scores"),
        ({}, "scores"),
        ({"scores": {"waktu": 5}}, "scores.waktu"),
        ({"scores": {"waktu": 0}}, "scores.waktu"),
        ({"scores": {"waktu": 2.5}}, "scores.waktu"),
        ({"scores": {"waktu": True}}, "scores.waktu"),
        ({"scores": {"waktu": "4"}}, "scores.waktu"),
        ({"scores": {"keramahan": 4}}, "scores.keramahan"),
        ({"scores": {"waktu": 4}, "comment": "Bu Siti sangat ramah"}, "comment"),
        ([{"waktu": 4}], "(body)"),
    ],
)
async def test_invalid_scores_are_422_naming_the_field(
    gateway_client: TestClient[Any, Any], body: Any, field: str
) -> None:
    """Scores are SKM elements scored 1-4 as whole numbers; no other field (no free text) is taken."""
    record = await make(gateway_client)
    resp = await gateway_client.post(rating_url(record), json=body, headers=AUTH)
    assert resp.status == 422
    problem = await resp.json()
    assert [e["field"] for e in problem["errors"]] == [field]

"""The journey search (``GET /v1/journey-runs``) and journey ratings (``POST /v1/journeys/{id}/rating``) end to end:
the real gateway on a loopback socket, the real mock agencies, counter apps of two MPPs and an operations client."""

from __future__ import annotations

from typing import Any

from tests.e2e import test_journeys
from tests.e2e.test_journeys import COUNTER_B, UNKNOWN_ID, World, auth

#: The gateway with the shipped journeys and every mock agency (the fixture of the journeys' own tests).
world = test_journeys.world

CHECK = "counter.membership-check"
SEARCH = "/v1/journey-runs"


async def check(world: World, *, client: str = "desk-a", **extra: Any) -> dict[str, Any]:
    """A membership check of an active citizen, answered within the wait."""
    citizen = world.citizen()
    resp = await world.start(CHECK, citizen.nik, {"service_date": "2026-11-22"}, client=client, **extra)
    assert resp.status_code in (200, 202), resp.text
    record: dict[str, Any] = resp.json()
    return record


async def test_journeys_are_searched_by_those_who_may_read_them(world: World) -> None:
    """A counter finds its MPP's journeys, not another MPP's; an operations client finds all of them, as summaries
    holding the masked NIK and no result; filters narrow the search; the catalog route still lists definitions."""
    a = await check(world)
    b = await check(world, client="desk-b", counter=COUNTER_B)
    found = (await world.http.get(SEARCH, headers=auth("desk-a2"))).json()
    assert [j["id"] for j in found["journeys"]] == [a["id"]] and found["next_cursor"] is None
    assert [j["id"] for j in (await world.http.get(SEARCH, headers=auth("desk-b"))).json()["journeys"]] == [b["id"]]
    resp = await world.http.get(SEARCH, headers=auth("ops"))
    assert resp.status_code == 200
    everything = resp.json()["journeys"]
    assert [j["id"] for j in everything] == [b["id"], a["id"]]
    summary = everything[1]
    assert (summary["journey"], summary["mpp_id"], summary["status"]) == (CHECK, "mpp-a", a["status"])
    assert summary["applicant"] == {"nik_masked": a["subject"]["nik_masked"]}
    assert (summary["steps_done"], summary["steps_total"]) == (3, 3)
    assert summary["trace_id"] == a["trace_id"] and "result" not in summary
    for citizen_value in (a["result"]["full_name"], b["result"]["full_name"]):
        assert citizen_value not in resp.text
    narrowed = await world.http.get(SEARCH, params={"mpp_id": "mpp-b", "journey": CHECK, "status": "completed,failed",
                                                    "since": "1h"}, headers=auth("ops"))  # fmt: skip
    assert [j["id"] for j in narrowed.json()["journeys"]] == [b["id"]]
    page = (await world.http.get(SEARCH, params={"limit": "1"}, headers=auth("ops"))).json()
    rest = (await world.http.get(SEARCH, params={"cursor": page["next_cursor"]}, headers=auth("ops"))).json()
    assert [j["id"] for j in page["journeys"] + rest["journeys"]] == [b["id"], a["id"]]
    catalog = (await world.http.get("/v1/journeys", headers=auth("desk-a"))).json()
    assert CHECK in {j["id"] for j in catalog["journeys"]}


async def test_bad_search_parameters_are_a_problem_naming_each(world: World) -> None:
    """Each bad parameter is named as query.<name> in one 422; a NIK sent as a parameter's name is not echoed."""
    nik = world.citizen().nik
    resp = await world.http.get(
        SEARCH, params={"status": "done", "limit": "0", "since": "yesterday", "cursor": "x", nik: "1"},
        headers=auth("ops"),
    )  # fmt: skip
    assert resp.status_code == 422
    problem = resp.json()
    assert problem["type"] == "/problems/validation-error"
    assert {e["field"] for e in problem["errors"]} == {
        "query.status", "query.limit", "query.since", "query.cursor", "query.(unknown)"
    }  # fmt: skip
    assert nik not in resp.text


async def test_a_finished_journey_is_rated_once_and_counted_in_the_report(world: World) -> None:
    """201 for the first rating, 200 for the same again, 409 journey-already-rated for other scores; another MPP's
    client and an operations client get the 404 of an unknown id; the report counts the rating in the journey's
    MPP row and in the rows of the agencies its steps used."""
    record = await check(world)
    assert record["status"] == "completed"
    url = f"/v1/journeys/{record['id']}/rating"
    scores = {"waktu": 4, "perilaku": 3}
    first = await world.http.post(url, json={"scores": scores}, headers=auth("desk-a"))
    assert first.status_code == 201, first.text
    kept = first.json()
    assert (kept["journey_id"], kept["scores"]) == (record["id"], scores)
    again = await world.http.post(url, json={"scores": scores}, headers=auth("desk-a2"))
    assert again.status_code == 200 and again.json() == kept
    other = await world.http.post(url, json={"scores": {"waktu": 1}}, headers=auth("desk-a"))
    assert other.status_code == 409 and other.json()["type"] == "/problems/journey-already-rated"
    for client in ("desk-b", "ops"):
        hidden = await world.http.post(url, json={"scores": scores}, headers=auth(client))
        absent = await world.http.post(f"/v1/journeys/{UNKNOWN_ID}/rating", json={"scores": scores},
                                       headers=auth(client))  # fmt: skip
        assert hidden.status_code == absent.status_code == 404
        assert hidden.json()["detail"] == absent.json()["detail"]
    bad = await world.http.post(url, json={"scores": {"waktu": 5, "mood": 2}}, headers=auth("desk-a"))
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"scores.waktu", "scores.mood"}
    by_mpp = (await world.http.get("/v1/reports/service-levels", params={"group_by": "mpp"},
                                   headers=auth("ops"))).json()["rows"]  # fmt: skip
    assert [(r["mpp_id"], r["ratings"], r["rating_elements"]) for r in by_mpp] == [
        ("mpp-a", 1, {"waktu": 4.0, "perilaku": 3.0})
    ]
    by_agency = (await world.http.get("/v1/reports/service-levels", headers=auth("ops"))).json()["rows"]
    assert {r["agency"]: r["ratings"] for r in by_agency} == {
        "dukcapil": 1, "bpjs-kesehatan": 1, "bpjs-ketenagakerjaan": 1
    }  # fmt: skip


async def test_a_running_journey_is_not_rated_yet(world: World) -> None:
    """While a step waits for its agency the journey is running: 409 journey-not-final, and nothing is kept."""
    await world.faults("dukcapil", timeout_rate=1.0, timeout_s=20)
    try:
        record = await check(world, wait=None)
        url = f"/v1/journeys/{record['id']}/rating"
        early = await world.http.post(url, json={"scores": {"waktu": 4}}, headers=auth("desk-a"))
        assert early.status_code == 409 and early.json()["type"] == "/problems/journey-not-final"
        await world.http.post(f"/v1/journeys/{record['id']}/cancel", headers=auth("desk-a"))
    finally:
        await world.faults("dukcapil", timeout_rate=0.0)
    rows = (await world.http.get("/v1/reports/service-levels", params={"group_by": "mpp"},
                                 headers=auth("ops"))).json()["rows"]  # fmt: skip
    assert all(r["ratings"] == 0 for r in rows)

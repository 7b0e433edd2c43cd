"""Test controls: the /_control/ API, each injected fault as the client sees it, and recovery after reset."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import aiohttp
import orjson
import pytest

from mocks import Citizen, DeliveryLog, Fault, FaultInjector, FaultSettings, MockAgency, MockCluster
from tests.mocks.support import DukcapilClient

FAST = aiohttp.ClientTimeout(total=0.4)


async def control(http: aiohttp.ClientSession, agency: MockAgency, verb: str, path: str, **kw: Any) -> Any:
    async with http.request(verb, f"{agency.base_url}/_control/{path}", **kw) as resp:
        return resp.status, await resp.json()


async def until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    """Poll briefly for a condition the server side reaches on its own schedule; fail if it never does."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_health_names_the_agency(http: aiohttp.ClientSession, agency: MockAgency) -> None:
    """GET /_control/health answers ok with the agency name."""
    assert await control(http, agency, "GET", "health") == (200, {"status": "ok", "agency": "dukcapil"})


async def test_citizen_list_has_every_field_and_filters(http: aiohttp.ClientSession, agency: MockAgency) -> None:
    """GET /_control/citizens lists full records, filtered by status and duplicate, limited, 20 by default."""
    status, body = await control(http, agency, "GET", "citizens")
    assert status == 200 and body["count"] == len(body["citizens"]) == 20
    assert set(body["citizens"][0]) == {f.name for f in dataclasses.fields(Citizen)}
    _, deceased = await control(http, agency, "GET", "citizens", params={"status": "deceased", "limit": "3"})
    assert deceased["count"] <= 3 and {c["status"] for c in deceased["citizens"]} == {"deceased"}
    _, dups = await control(http, agency, "GET", "citizens", params={"duplicate": "true"})
    assert dups["citizens"] and all(c["duplicate"] for c in dups["citizens"])


async def test_citizen_list_filters_by_age_and_membership(http: aiohttp.ClientSession, agency: MockAgency) -> None:
    """min_age/max_age (years on the reference date, inclusive) and member pick citizens a registration accepts."""
    params = {"status": "active", "min_age": "18", "max_age": "64", "member": "false", "limit": "50"}
    status, body = await control(http, agency, "GET", "citizens", params=params)
    assert status == 200 and body["citizens"]
    for row in body["citizens"]:
        citizen = Citizen(**{**row, "birth_date": date.fromisoformat(row["birth_date"])})
        assert 18 <= citizen.age() <= 64 and citizen.kpj is None and citizen.status == "active"
    _, members = await control(http, agency, "GET", "citizens", params={"member": "true"})
    assert members["citizens"] and all(c["kpj"] for c in members["citizens"])


@pytest.mark.parametrize(
    "params",
    [{"status": "alive"}, {"limit": "0"}, {"limit": "x"}, {"duplicate": "maybe"}, {"member": "x"}, {"min_age": "old"}],
)
async def test_citizen_list_rejects_bad_queries(
    http: aiohttp.ClientSession, agency: MockAgency, params: dict[str, str]
) -> None:
    """Unknown status, out-of-range limit, a non-boolean duplicate or member, a bad age answer 422 with a message."""
    status, body = await control(http, agency, "GET", "citizens", params=params)
    assert status == 422 and body["message"]


async def test_faults_start_off_and_update_partially(http: aiohttp.ClientSession, agency: MockAgency) -> None:
    """GET shows defaults (all rates 0, status 503); PUT changes only the given keys and returns the new state."""
    status, before = await control(http, agency, "GET", "faults")
    assert status == 200 and before == FaultSettings().model_dump()
    assert before["error_status"] == 503 and before["latency_ms"] == 0
    assert all(before[k] == 0 for k in before if k.endswith("_rate"))
    status, after = await control(http, agency, "PUT", "faults", json={"error_rate": 0.25, "error_status": 500})
    assert status == 200 and after == {**before, "error_rate": 0.25, "error_status": 500}
    assert (await control(http, agency, "GET", "faults"))[1] == after


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"error_rate": 1.5}, id="rate-above-1"),
        pytest.param({"reset_rate": -0.1}, id="negative-rate"),
        pytest.param({"html_rate": "0.5"}, id="rate-as-text"),
        pytest.param({"malformed_rate": True}, id="rate-as-bool"),
        pytest.param({"latency_ms": -1}, id="negative-latency"),
        pytest.param({"error_status": 404}, id="error-status-not-5xx"),
        pytest.param({"timeout_s": 0}, id="zero-hold"),
        pytest.param({"error_rate": 0.6, "html_rate": 0.6}, id="rates-over-1-together"),
        pytest.param({"chaos": 1}, id="unknown-key"),
        pytest.param([1], id="not-an-object"),
        pytest.param("not json", id="not-json"),
    ],
)
async def test_bad_fault_settings_are_422_and_change_nothing(
    http: aiohttp.ClientSession, agency: MockAgency, payload: Any
) -> None:
    """Invalid settings answer 422 JSON naming the problem; the previous state stays."""
    await control(http, agency, "PUT", "faults", json={"latency_ms": 5})
    data = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
    status, body = await control(http, agency, "PUT", "faults", data=data)
    assert status == 422 and body["message"]
    assert (await control(http, agency, "GET", "faults"))[1] == {**FaultSettings().model_dump(), "latency_ms": 5}


async def test_control_routes_are_never_faulted(http: aiohttp.ClientSession, agency: MockAgency) -> None:
    """With every agency request failing, the control routes still answer."""
    await control(http, agency, "PUT", "faults", json={"reset_rate": 1.0})
    assert (await control(http, agency, "GET", "health"))[0] == 200
    assert (await control(http, agency, "GET", "deliveries"))[0] == 200


async def _no_check(resp: aiohttp.ClientResponse) -> None:
    await resp.read()


async def _html(resp: aiohttp.ClientResponse) -> None:
    assert "<h1>502 Bad Gateway</h1>" in await resp.text()


async def _truncated(resp: aiohttp.ClientResponse) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(await resp.read())


async def _retry_after(resp: aiohttp.ClientResponse) -> None:
    assert resp.headers["Retry-After"] == "7"
    assert (await resp.json())["message"]


@pytest.mark.parametrize(
    ("settings", "status", "content_type", "check", "delivered"),
    [
        pytest.param({"error_rate": 1.0}, 503, "text/plain", _no_check, 0, id="error-503"),
        pytest.param({"error_rate": 1.0, "error_status": 500}, 500, "text/plain", _no_check, 0, id="error-500"),
        pytest.param({"html_rate": 1.0}, 502, "text/html", _html, 0, id="html-502"),
        pytest.param({"malformed_rate": 1.0}, 200, "application/json", _truncated, 1, id="malformed"),
        pytest.param({"rate_limit_rate": 1.0, "retry_after_s": 7}, 429, "application/json", _retry_after, 0,
                     id="rate-limit"),
    ],
)
async def test_answer_faults_then_recovery(
    http: aiohttp.ClientSession,
    agency: MockAgency,
    dukcapil: DukcapilClient,
    citizen: Citizen,
    settings: dict[str, Any],
    status: int,
    content_type: str,
    check: Callable[[aiohttp.ClientResponse], Awaitable[None]],
    delivered: int,
) -> None:
    """Each answer fault reaches the client as configured, counts a delivery only if processed, and heals on reset."""
    await control(http, agency, "PUT", "faults", json=settings)
    async with http.post(dukcapil.url("CALL_NIK"), json=dukcapil.body(NIK=citizen.nik)) as resp:
        assert (resp.status, resp.content_type) == (status, content_type)
        await check(resp)
    assert agency.control.deliveries.count() == delivered
    await control(http, agency, "POST", "reset")
    assert (await dukcapil.row("CALL_NIK", NIK=citizen.nik))["NIK"] == citizen.nik


@pytest.mark.parametrize(("after", "delivered"), [(False, 0), (True, 1)])
async def test_reset_fault_drops_the_connection(
    http: aiohttp.ClientSession,
    agency: MockAgency,
    dukcapil: DukcapilClient,
    citizen: Citizen,
    after: bool,
    delivered: int,
) -> None:
    """A reset fault aborts the TCP connection (no answer at all), before or after the agency did the work."""
    await control(http, agency, "PUT", "faults", json={"reset_rate": 1.0, "drop_after_processing": after})
    with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
        await dukcapil.call("CALL_NIK", NIK=citizen.nik)
    assert agency.control.deliveries.count() == delivered
    await control(http, agency, "POST", "reset")
    assert (await dukcapil.row("CALL_NIK", NIK=citizen.nik))["NIK"] == citizen.nik


async def test_timeout_fault_outlasts_the_client_timeout(
    http: aiohttp.ClientSession, agency: MockAgency, dukcapil: DukcapilClient, citizen: Citizen
) -> None:
    """A timeout fault holds the request past the client's timeout; the hold ends when the client gives up."""
    await control(http, agency, "PUT", "faults", json={"timeout_rate": 1.0})
    with pytest.raises(TimeoutError):
        await http.post(dukcapil.url("CALL_NIK"), json=dukcapil.body(NIK=citizen.nik), timeout=FAST)
    await until(lambda: agency.control.faults.held == 0)
    await control(http, agency, "POST", "reset")
    assert (await dukcapil.row("CALL_NIK", NIK=citizen.nik))["NIK"] == citizen.nik


async def test_held_requests_do_not_delay_shutdown(cluster: MockCluster, citizen: Citizen) -> None:
    """Closing the cluster ends a held request at once: the client sees a disconnect, not a 30 s wait."""
    agency = cluster.agencies["dukcapil"]
    agency.control.faults.configure({"timeout_rate": 1.0})
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        client = DukcapilClient(agency, http)
        call = asyncio.create_task(client.call("CALL_NIK", NIK=citizen.nik))
        await until(lambda: agency.control.faults.held == 1)
        started = loop.time()
        await cluster.aclose()
        with pytest.raises(aiohttp.ClientError):
            await call
    assert loop.time() - started < 1.0


async def test_latency_delays_every_agency_answer(
    http: aiohttp.ClientSession, agency: MockAgency, dukcapil: DukcapilClient, citizen: Citizen
) -> None:
    """latency_ms delays agency answers by at least that long, but not control answers."""
    await control(http, agency, "PUT", "faults", json={"latency_ms": 150})
    loop = asyncio.get_running_loop()
    started = loop.time()
    await dukcapil.call("CALL_NIK", NIK=citizen.nik)
    assert loop.time() - started >= 0.15
    started = loop.time()
    await control(http, agency, "GET", "health")
    assert loop.time() - started < 0.15


async def test_reset_turns_faults_off_and_zeroes_counters(
    http: aiohttp.ClientSession, agency: MockAgency, dukcapil: DukcapilClient, citizen: Citizen
) -> None:
    """POST /_control/reset returns default faults and empty counters, and GET agrees."""
    await dukcapil.call("CALL_NIK", NIK=citizen.nik)
    assert (await control(http, agency, "GET", "deliveries"))[1] == {
        "total": 1, "by_method": {"CALL_NIK": 1}, "by_reference": {}
    }
    await control(http, agency, "PUT", "faults", json={"html_rate": 0.5, "latency_ms": 10})
    status, body = await control(http, agency, "POST", "reset")
    empty = {"total": 0, "by_method": {}, "by_reference": {}}
    assert status == 200 and body == {"faults": FaultSettings().model_dump(), "deliveries": empty}
    assert (await control(http, agency, "GET", "deliveries"))[1] == empty


def test_fault_draws_replay_after_reset_and_across_equal_seeds() -> None:
    """The same seed and settings give the same fault sequence, again after reset."""
    def run(injector: FaultInjector) -> list[Fault | None]:
        injector.configure({"error_rate": 0.3, "reset_rate": 0.2})
        return [injector.draw() for _ in range(40)]

    first = FaultInjector(seed=11)
    sequence = run(first)
    assert {Fault.ERROR, Fault.RESET, None} == set(sequence)
    first.reset()
    assert run(first) == sequence == run(FaultInjector(seed=11))
    assert run(FaultInjector(seed=12)) != sequence


@pytest.mark.parametrize("fault", list(Fault))
def test_a_rate_of_one_always_draws_that_fault(fault: Fault) -> None:
    """Rate 1 for a fault means every request meets it."""
    injector = FaultInjector()
    injector.configure({f"{fault.value}_rate": 1.0})
    assert {injector.draw() for _ in range(20)} == {fault}


def test_configure_keeps_the_old_state_on_error() -> None:
    """A rejected update leaves the settings as they were."""
    injector = FaultInjector()
    injector.configure({"latency_ms": 3})
    with pytest.raises(ValueError, match="more than 1"):
        injector.configure({"error_rate": 0.7, "html_rate": 0.7})
    assert injector.settings == FaultSettings(latency_ms=3)


def test_delivery_log_counts_per_method_and_reference() -> None:
    """record counts by method and, when given, by reference; clear empties both."""
    log = DeliveryLog()
    log.record("SUBMIT", "ref-1")
    log.record("SUBMIT", "ref-1")
    log.record("STATUS")
    assert (log.count(), log.count("SUBMIT"), log.count(reference="ref-1"), log.count("NONE")) == (3, 2, 2, 0)
    log.clear()
    assert log.snapshot() == {"total": 0, "by_method": {}, "by_reference": {}}

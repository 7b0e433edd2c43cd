"""Rules of the request contract seen through the HTTP API: no NIK in what is kept in clear (counter fields and
the Idempotency-Key), and a consent that is valid when the request is accepted."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters import TransientAgencyError
from gateway import Settings, build_app
from tests.fakes import KEY_A, NIK, FakeAdapter, consent_given_at, directory, envelope

AUTH = {"Authorization": f"Bearer {KEY_A}"}
AppClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


async def post(client: TestClient[Any, Any], body: Any, *, wait: bool = True, key: str | None = None) -> Any:
    hdrs = {**AUTH, **({"Prefer": "wait=5"} if wait else {}), **({"Idempotency-Key": key} if key else {})}
    return await client.post("/v1/requests", json=body, headers=hdrs)


def consent(offset: dt.timedelta = dt.timedelta()) -> dict[str, str]:
    return {"method": "written", "reference": "FORM-1", "given_at": consent_given_at(offset)}


async def refusal(resp: Any, status: int = 422) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    problem: dict[str, Any] = await resp.json()
    return problem


@pytest.mark.parametrize(
    ("counter", "field"),
    [
        ({"mpp_id": "mpp-a", "desk": NIK, "operator": "op-7"}, "counter.desk"),
        ({"mpp_id": "mpp-a", "desk": "loket-01", "operator": "3201 0147 0890 0001"}, "counter.operator"),
        ({"mpp_id": "mpp-a", "desk": "loket 32.01.01.470890.0001", "operator": "op-7"}, "counter.desk"),
    ],
    ids=["desk", "operator-grouped", "desk-dotted"],
)
async def test_a_nik_in_a_counter_field_is_refused_naming_it(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter, counter: dict[str, str], field: str
) -> None:
    """A NIK-like desk or operator is refused with 422 naming the field; nothing runs, and the answer hides it."""
    resp = await post(gateway_client, envelope(counter=counter))
    problem = await refusal(resp)
    assert problem["type"] == "/problems/validation-error"
    assert [e["field"] for e in problem["errors"]] == [field]
    assert "NIK-like" in problem["errors"][0]["message"]
    text = str(problem)
    assert "0147" not in text and "470890" not in text
    assert fake_adapter.calls == []


@pytest.mark.parametrize("key", [NIK, "reg-3201-0147-0890-0001", "3201.0147.0890.0001", "k-320101-470890-0001"])
async def test_a_nik_like_idempotency_key_is_refused_naming_it(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter, key: str
) -> None:
    """An Idempotency-Key holding a NIK-like number is refused with 422 naming the header; nothing runs."""
    resp = await post(gateway_client, envelope("fake.thing.submit"), key=key)
    problem = await refusal(resp)
    assert problem["type"] == "/problems/validation-error"
    assert [e["field"] for e in problem["errors"]] == ["Idempotency-Key"]
    assert "0147" not in str(problem) and "470890" not in str(problem)
    assert fake_adapter.calls == []


@pytest.mark.parametrize(
    "key",
    [
        str(uuid.uuid4()),
        uuid.uuid4().hex,
        "12345678-1234-4123-8123-123456789012",  # a UUID v4 whose hex digits are all decimal
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",  # ULID
        "01HZX3W8Q1SGAKM5N3B4R6T7V8",
        "reg-2026-000123",
        "loket-07-2026-11-22-0042",
        "198507142010011002",  # an operator's 18-digit NIP with nothing else
    ],
    ids=["uuid4", "uuid4-hex", "uuid4-all-digits", "ulid", "ulid-2", "reg-style", "desk-date-seq", "nip"],
)
async def test_common_idempotency_key_formats_are_accepted(gateway_client: TestClient[Any, Any], key: str) -> None:
    """UUIDs (with or without dashes), ULIDs and ``reg-2026-000123`` style keys are not NIK-like: accepted."""
    resp = await post(gateway_client, envelope("fake.thing.submit"), key=key)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "completed"


@pytest.mark.parametrize(
    "offset",
    [dt.timedelta(), dt.timedelta(hours=-11, minutes=-50), dt.timedelta(minutes=4)],
    ids=["now", "11h50-ago", "4min-ahead"],
)
async def test_a_consent_given_for_this_visit_is_accepted(
    gateway_client: TestClient[Any, Any], offset: dt.timedelta
) -> None:
    """A consent given up to 12 hours ago, or dated a few minutes ahead (clock skew), lets the request through."""
    resp = await post(gateway_client, envelope("fake.person.read", consent=consent(offset)))
    assert resp.status == 200, await resp.text()


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (dt.timedelta(days=-730), "older than 12 h"),
        (dt.timedelta(hours=-12, minutes=-10), "older than 12 h"),
        (dt.timedelta(minutes=10), "in the future"),
        (dt.timedelta(days=365), "in the future"),
    ],
    ids=["two-years-ago", "12h10-ago", "10min-ahead", "next-year"],
)
async def test_a_consent_outside_its_validity_is_refused_naming_given_at(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter, offset: dt.timedelta, reason: str
) -> None:
    """A consent older than the validity window or dated ahead is refused: consent-invalid, on consent.given_at."""
    resp = await post(gateway_client, envelope("fake.person.read", consent=consent(offset)))
    problem = await refusal(resp)
    assert problem["type"] == "/problems/consent-invalid"
    assert [e["field"] for e in problem["errors"]] == ["consent.given_at"]
    assert reason in problem["errors"][0]["message"] and reason in problem["detail"]
    assert fake_adapter.calls == []
    page = await gateway_client.get(problem["type"])
    assert page.status == 200


async def test_a_stale_consent_is_refused_even_where_none_is_required(gateway_client: TestClient[Any, Any]) -> None:
    """A consent sent with a service that needs none is still checked: it is stored with the request."""
    resp = await post(gateway_client, envelope(consent=consent(dt.timedelta(days=-2))))
    problem = await refusal(resp)
    assert problem["type"] == "/problems/consent-invalid"


@dataclasses.dataclass
class Gateway:
    client: TestClient[Any, Any]
    adapter: FakeAdapter


@pytest.fixture
def gateway_with(aiohttp_client: AppClient, gateway_settings: Settings) -> Callable[..., Awaitable[Gateway]]:
    """A gateway like ``gateway_client``'s with some settings changed."""

    async def make(**changes: Any) -> Gateway:
        adapter = FakeAdapter()
        app = build_app(
            dataclasses.replace(gateway_settings, **changes),
            clients=directory(),
            transport=httpx.MockTransport(lambda request: httpx.Response(599)),
            factories={"fake": lambda context: adapter},
        )
        return Gateway(await aiohttp_client(app), adapter)

    return make


async def test_the_validity_window_and_skew_are_settings(gateway_with: Callable[..., Awaitable[Gateway]]) -> None:
    """MPP_CONSENT_MAX_AGE_SECONDS and MPP_CONSENT_CLOCK_SKEW_SECONDS set the window the gateway accepts."""
    env = Settings.from_env({"MPP_CONSENT_MAX_AGE_SECONDS": "1800", "MPP_CONSENT_CLOCK_SKEW_SECONDS": "900"})
    assert (env.consent_max_age_seconds, env.consent_clock_skew_seconds) == (1800.0, 900.0)
    gateway = await gateway_with(consent_max_age_seconds=1800, consent_clock_skew_seconds=900)
    old = await post(gateway.client, envelope("fake.person.read", consent=consent(dt.timedelta(minutes=-40))))
    problem = await refusal(old)
    assert "older than 30 min" in problem["errors"][0]["message"]
    ahead = await post(gateway.client, envelope("fake.person.read", consent=consent(dt.timedelta(minutes=10))))
    assert ahead.status == 200, await ahead.text()


async def test_a_request_accepted_with_a_valid_consent_runs_after_it_expires(
    gateway_with: Callable[..., Awaitable[Gateway]],
) -> None:
    """Validity is checked when a request is accepted only: a stored request retried after its consent expired runs."""
    gateway = await gateway_with(consent_max_age_seconds=3)
    gateway.adapter.release.clear()
    gateway.adapter.script = [TransientAgencyError("503 from the agency")]
    given = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)).isoformat()
    body = envelope("fake.person.read", consent={"method": "written", "reference": "F-1", "given_at": given})
    resp = await post(gateway.client, body, wait=False)
    assert resp.status == 202, await resp.text()
    location = resp.headers["Location"]
    await asyncio.sleep(1.5)  # the consent is now older than the window
    gateway.adapter.release.set()
    for _ in range(500):
        record = await (await gateway.client.get(location, headers=AUTH)).json()
        if record["status"] == "completed":
            break
        await asyncio.sleep(0.02)
    assert record["status"] == "completed"
    assert [a["outcome"] for a in record["attempts"]][-1] == "completed" and len(gateway.adapter.calls) == 2

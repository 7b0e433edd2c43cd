"""Client rate limits: a token bucket per client, 429 with Retry-After past it, health endpoints exempt."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway import Client, ClientDirectory, Settings, build_app, hash_key
from gateway.http import LIMITER
from gateway.security import ClientRateLimiter, TokenBucket
from tests.fakes import KEY_A, KEY_B, KEY_NARROW, FakeAdapter, directory

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def client(client_id: str, rate: float | None = None, burst: int | None = None) -> Client:
    return Client(client_id, client_id, frozenset(), rate_per_second=rate, rate_burst=burst)


def test_bucket_allows_burst_then_refills_at_rate() -> None:
    """A bucket lets ``burst`` calls through at once, then one per 1/rate seconds."""
    bucket = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(100.0) == 0.0
    assert bucket.tokens == pytest.approx(2.0)  # refilled only up to the burst


def test_bucket_has_no_instance_dict() -> None:
    """A bucket is four floats in slots: nothing is allocated per call beyond the floats themselves."""
    assert not hasattr(TokenBucket(1.0, 1.0, 0.0), "__dict__")


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1.0), (-1.0, 5.0), (1.0, 0.5)])
def test_bucket_refuses_nonsense(rate: float, burst: float) -> None:
    """A bucket without a positive rate or a burst of at least one call is a configuration error."""
    with pytest.raises(ValueError, match="token bucket"):
        TokenBucket(rate, burst, 0.0)


@pytest.mark.parametrize(
    ("clients", "default_rate", "default_burst", "calls_allowed"),
    [
        ([client("c")], 0.0, 0, None),
        ([client("c")], 2.0, 0, 2),
        ([client("c")], 0.5, 0, 1),
        ([client("c")], 2.0, 5, 5),
        ([client("c", rate=1.0, burst=3)], 50.0, 50, 3),
        ([client("c", rate=4.0)], 0.0, 0, 4),
        ([client("c", rate=4.0)], 0.0, 2, 2),
        ([client("c", rate=0.0)], 10.0, 10, None),
    ],
    ids=["default-unlimited", "default-rate", "burst-at-least-one", "default-burst", "own-rate-and-burst",
         "own-rate-default-burst", "own-rate-global-burst", "own-zero-is-unlimited"],
)  # fmt: skip
def test_limiter_takes_per_client_settings_over_defaults(
    clients: list[Client], default_rate: float, default_burst: int, calls_allowed: int | None
) -> None:
    """A client's own rate and burst win over the gateway's defaults; 0 means unlimited."""
    clock = Clock()
    limiter = ClientRateLimiter(clients, default_rate=default_rate, default_burst=default_burst, clock=clock)
    answers = [limiter.retry_after("c") for _ in range(60)]
    if calls_allowed is None:
        assert "c" not in limiter and set(answers) == {0}
    else:
        assert answers.index(next(a for a in answers if a)) == calls_allowed
        assert all(a >= 1 for a in answers[calls_allowed:])


def test_retry_after_is_whole_seconds_and_unknown_clients_pass() -> None:
    """The wait is rounded up to whole seconds (at least 1); a client id the limiter never saw is not limited."""
    clock = Clock()
    limiter = ClientRateLimiter([client("slow", rate=0.1, burst=1)], clock=clock)
    assert limiter.retry_after("slow") == 0
    assert limiter.retry_after("slow") == 10
    clock.now += 9.5
    assert limiter.retry_after("slow") == 1
    clock.now += 0.6
    assert limiter.retry_after("slow") == 0
    assert limiter.retry_after("someone-else") == 0


@pytest.fixture
async def limited_gateway(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter
) -> tuple[TestClient[Any, Any], Clock]:
    """A gateway whose clients may make 2 calls per second, burst 2 (counter-b: unlimited), on a test clock."""
    base = directory()
    clients = ClientDirectory(
        [dataclasses.replace(c, rate_per_second=0.0) if c.id == "counter-b" else c for c in base.clients.values()]
    )
    settings = dataclasses.replace(gateway_settings, client_rate_per_second=2.0, client_rate_burst=2)
    app = build_app(settings, clients=clients, factories={"fake": lambda context: fake_adapter})
    clock = Clock()
    app[LIMITER] = ClientRateLimiter(clients.clients.values(), default_rate=2.0, default_burst=2, clock=clock)
    return await aiohttp_client(app), clock


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_exceeding_the_rate_answers_429_with_retry_after_and_recovers(
    limited_gateway: tuple[TestClient[Any, Any], Clock],
) -> None:
    """Past its burst a client gets a 429 rate-limited problem with an integer Retry-After; later it is served."""
    gateway, clock = limited_gateway
    statuses = [(await gateway.get("/v1/services", headers=auth(KEY_A))).status for _ in range(2)]
    assert statuses == [200, 200]
    refused = await gateway.get("/v1/services", headers=auth(KEY_A))
    assert refused.status == 429
    assert refused.content_type == "application/problem+json"
    assert refused.headers["Retry-After"] == "1"
    problem = await refused.json()
    assert problem["type"] == "/problems/rate-limited" and problem["status"] == 429
    clock.now += 1.0
    assert (await gateway.get("/v1/services", headers=auth(KEY_A))).status == 200


async def test_limits_are_per_client_and_health_is_exempt(limited_gateway: tuple[TestClient[Any, Any], Clock]) -> None:
    """One client's exhausted bucket leaves others alone; health, readiness and metrics are never limited."""
    gateway, _ = limited_gateway
    for _ in range(3):
        await gateway.get("/v1/services", headers=auth(KEY_A))
    assert (await gateway.get("/v1/services", headers=auth(KEY_A))).status == 429
    assert (await gateway.get("/v1/services", headers=auth(KEY_NARROW))).status == 200
    assert [(await gateway.get("/v1/services", headers=auth(KEY_B))).status for _ in range(10)] == [200] * 10
    for path in ("/healthz", "/readyz", "/metrics"):
        assert [(await gateway.get(path, headers=auth(KEY_A))).status for _ in range(5)] == [200] * 5


async def test_unauthenticated_calls_are_401_not_429(limited_gateway: tuple[TestClient[Any, Any], Clock]) -> None:
    """Authentication comes first: a caller without a valid key gets 401 however often it calls."""
    gateway, _ = limited_gateway
    assert {(await gateway.get("/v1/services", headers=auth("nope"))).status for _ in range(5)} == {401}


async def test_settings_from_environment_reach_the_limiter(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter
) -> None:
    """MPP_CLIENT_RATE_PER_SECOND and MPP_CLIENT_RATE_BURST set the default bucket of every client."""
    env = Settings.from_env({"MPP_CLIENT_RATE_PER_SECOND": "0.5", "MPP_CLIENT_RATE_BURST": "1"})
    assert (env.client_rate_per_second, env.client_rate_burst) == (0.5, 1)
    settings = dataclasses.replace(gateway_settings, client_rate_per_second=0.5, client_rate_burst=1)
    app = build_app(settings, clients=directory(), factories={"fake": lambda context: fake_adapter})
    gateway = await aiohttp_client(app)
    assert (await gateway.get("/v1/services", headers=auth(KEY_A))).status == 200
    refused = await gateway.get("/v1/services", headers=auth(KEY_A))
    assert refused.status == 429 and refused.headers["Retry-After"] == "2"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({}, (None, None)),
        ({"rate_per_second": 2.5, "rate_burst": 10}, (2.5, 10)),
        ({"rate_per_second": 0}, (0.0, None)),
        ({"rate_burst": 4.0}, (None, 4)),
    ],
)
def test_clients_file_carries_rate_settings(entry: dict[str, Any], expected: tuple[Any, Any]) -> None:
    """A client's rate_per_second and rate_burst are read from the clients file; absent, the defaults apply."""
    found = ClientDirectory.from_data({"clients": [{"id": "c", "key_sha256": hash_key("k"), **entry}]}).clients["c"]
    assert (found.rate_per_second, found.rate_burst) == expected


@pytest.mark.parametrize(
    "entry",
    [{"rate_per_second": -1}, {"rate_per_second": "fast"}, {"rate_burst": 1.5}, {"rate_burst": True}],
    ids=["negative", "text", "fractional-burst", "boolean"],
)
def test_clients_file_refuses_bad_rate_settings(entry: dict[str, Any]) -> None:
    """A negative, non-numeric or fractional-burst setting is a configuration error naming the client and field."""
    with pytest.raises(ValueError, match=r"client 'c': rate_"):
        ClientDirectory.from_data({"clients": [{"id": "c", **entry}]})

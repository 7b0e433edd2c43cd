"""Access rights end to end: the real gateway on a loopback socket, the real mock agencies, several clients.

Every client is tried on every service of the catalog; requests are read across clients and MPPs; every protected
route is called without valid credentials.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.conformance import SampleCall, installed_adapters
from gateway import AgencyConfig, Client, ClientDirectory, Settings, build_app, hash_key
from gateway.http import is_ops_only
from mocks import AGENCY_PORTS, start_mocks
from tests.fakes import consent_given_at

CONSENT = {"method": "written", "reference": "F-2026-001", "given_at": consent_given_at()}
UNKNOWN_ID = "req_01KAPZZZZZZZZZZZZZZZZZZZZZ"


@dataclasses.dataclass(frozen=True)
class Caller:
    id: str
    #: The MPP it files requests for (a regional client may pick any).
    acts_for: str
    mpp_id: str | None
    services: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"mppk_access-matrix-{self.id}-000000000000000000"

    def client(self) -> Client:
        return Client(self.id, self.id, frozenset({hash_key(self.key)}), mpp_id=self.mpp_id, services=self.services)


CALLERS = {
    c.id: c
    for c in [
        Caller("dukcapil-desk-a", "mpp-a", "mpp-a", ("dukcapil.*",)),
        Caller("bpjs-desk-a", "mpp-a", "mpp-a", ("bpjs-kesehatan.*", "bpjs-ketenagakerjaan.*")),
        Caller("oss-kiosk-a", "mpp-a", "mpp-a", ("oss.nib.check",)),
        Caller("regional", "mpp-c", None, ("*",)),
        Caller("counter-b", "mpp-b", "mpp-b", ("*",)),
    ]
}
GRANTED = {
    "dukcapil-desk-a": re.compile(r"^dukcapil\."),
    "bpjs-desk-a": re.compile(r"^bpjs-(kesehatan|ketenagakerjaan)\."),
    "oss-kiosk-a": re.compile(r"^oss\.nib\.check$"),
    "regional": re.compile(r"."),
    "counter-b": re.compile(r"."),
}


@dataclasses.dataclass
class World:
    http: httpx.AsyncClient
    app: web.Application
    catalog: list[dict[str, Any]]
    samples: dict[str, SampleCall]

    def body(self, service: dict[str, Any], mpp_id: str) -> dict[str, Any]:
        sample = self.samples[service["id"]]
        out: dict[str, Any] = {
            "service": service["id"],
            "applicant": {"nik": sample.nik},
            "counter": {"mpp_id": mpp_id, "desk": "loket-01", "operator": "op-001"},
            "payload": dict(sample.payload),
        }
        if service["personal_data"]:
            out["consent"] = CONSENT
        return out

    async def post(self, caller: Caller, service: dict[str, Any], mpp_id: str | None = None) -> httpx.Response:
        headers = auth(caller.key)
        if service["kind"] == "submission":
            headers["Idempotency-Key"] = f"{caller.id}-{service['id']}-{mpp_id}"
        return await self.http.post("/v1/requests", json=self.body(service, mpp_id or caller.acts_for),
                                    headers=headers)  # fmt: skip

    def service(self, service_id: str) -> dict[str, Any]:
        return next(s for s in self.catalog if s["id"] == service_id)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def world(gateway_settings: Settings) -> AsyncIterator[World]:
    """The gateway with five clients, wired to every mock agency, each on its own loopback port."""
    async with await start_mocks("127.0.0.1", dict.fromkeys(AGENCY_PORTS, 0)) as cluster:
        settings = dataclasses.replace(
            gateway_settings,
            dispatch_concurrency=8,
            adapters=tuple(cluster.agencies),
            agencies={name: AgencyConfig.from_values({**a.settings, "timeout": "2"})
                      for name, a in cluster.agencies.items()},
        )  # fmt: skip
        clients = ClientDirectory(c.client() for c in CALLERS.values())
        app = build_app(settings, clients=clients)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        samples = {s.service: s for a in installed_adapters(cluster.agencies) if a.profile for s in a.profile.samples}
        try:
            async with httpx.AsyncClient(base_url=str(server.make_url("")), timeout=20) as http:
                resp = await http.get("/v1/services", headers=auth(CALLERS["regional"].key))
                yield World(http, app, resp.json()["services"], samples)
        finally:
            await server.close()


async def test_every_client_on_every_service(world: World) -> None:
    """Granted pairs are accepted (200/202); every other pair is a 403 forbidden problem, whatever the service."""
    assert {s["id"] for s in world.catalog} <= set(world.samples), "every catalogued service needs a sample"
    assert len(world.catalog) >= 10
    outcomes: dict[tuple[str, str], int] = {}
    for caller, service in itertools.product(CALLERS.values(), world.catalog):
        resp = await world.post(caller, service)
        outcomes[(caller.id, service["id"])] = resp.status_code
        if GRANTED[caller.id].search(service["id"]):
            assert resp.status_code in (200, 202), (caller.id, service["id"], resp.text)
        else:
            assert resp.status_code == 403, (caller.id, service["id"], resp.text)
            problem = resp.json()
            assert problem["type"] == "/problems/forbidden"
            assert problem["detail"] == "this client is not granted the service"
    allowed = sum(1 for status in outcomes.values() if status != 403)
    assert 0 < allowed < len(outcomes)  # the matrix has both kinds of pair


async def test_nobody_reads_another_mpps_request_and_existence_does_not_leak(world: World) -> None:
    """Across MPPs a request answers exactly like an id that does not exist; within an MPP the may_read rule holds."""
    verify = world.service("dukcapil.nik.verify")
    made = {}
    for owner in ("dukcapil-desk-a", "counter-b", "regional"):
        resp = await world.post(CALLERS[owner], verify)
        assert resp.status_code in (200, 202)
        made[owner] = resp.json()["id"]
    visible = {
        # reader: owners whose request it may read (its own, and its MPP's)
        "dukcapil-desk-a": {"dukcapil-desk-a"},
        "bpjs-desk-a": {"dukcapil-desk-a"},
        "oss-kiosk-a": {"dukcapil-desk-a"},
        "counter-b": {"counter-b"},
        "regional": {"regional"},
    }
    for reader, owner in itertools.product(CALLERS, made):
        for suffix in ("", "/events"):
            if suffix and owner in visible[reader]:
                continue  # the stream of a readable request stays open; readability is proven on the record
            resp = await world.http.get(f"/v1/requests/{made[owner]}{suffix}", headers=auth(CALLERS[reader].key))
            if owner in visible[reader]:
                assert resp.status_code == 200, (reader, owner)
                assert resp.json()["id"] == made[owner]
                continue
            missing = await world.http.get(f"/v1/requests/{UNKNOWN_ID}{suffix}", headers=auth(CALLERS[reader].key))
            assert resp.status_code == missing.status_code == 404, (reader, owner, suffix)
            hidden, absent = resp.json(), missing.json()
            # Only the echoed path and the call's own trace id differ: nothing tells the two apart.
            assert hidden.pop("instance").replace(made[owner], UNKNOWN_ID) == absent.pop("instance")
            assert hidden.pop("trace_id") != absent.pop("trace_id")
            assert hidden == absent, (reader, owner, suffix)
            per_call = {"date", "traceresponse", "x-request-id"}
            assert set(resp.headers) - per_call == set(missing.headers) - per_call


@pytest.mark.parametrize(
    ("caller", "mpp_id", "allowed"),
    [
        ("dukcapil-desk-a", "mpp-b", False),
        ("counter-b", "mpp-a", False),
        ("bpjs-desk-a", "mpp-c", False),
        ("regional", "mpp-a", True),
        ("regional", "mpp-b", True),
    ],
)
async def test_acting_for_another_mpp(world: World, caller: str, mpp_id: str, allowed: bool) -> None:
    """A client bound to an MPP gets a 403 naming counter.mpp_id for any other MPP; a regional client may act."""
    service_id = "bpjs-kesehatan.peserta.by-nik" if caller == "bpjs-desk-a" else "dukcapil.nik.verify"
    resp = await world.post(CALLERS[caller], world.service(service_id), mpp_id=mpp_id)
    if allowed:
        assert resp.status_code in (200, 202)
        return
    assert resp.status_code == 403
    problem = resp.json()
    assert problem["type"] == "/problems/forbidden"
    assert [e["field"] for e in problem["errors"]] == ["counter.mpp_id"]


# Open to anyone: health, metrics, documents. receiveNIB is OSS's and checks its own Token header.
OPEN_ROUTES = {
    "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/problems/{slug}", "/oss/receiveNIB",
    "/console", "/console/{asset}",
}  # fmt: skip
BAD_AUTHORIZATIONS = {
    "missing": None,
    "unknown-key": "Bearer mppk_access-matrix-nobody-000000000000000000",
    "revoked-looking": f"Bearer {CALLERS['regional'].key}x",
    "basic": "Basic cmVnaW9uYWw6cGFzc3dvcmQ=",
    "no-token": "Bearer",
    "no-scheme": CALLERS["regional"].key,
    "jwt-shaped": "Bearer eyJhbGciOiJub25lIn0.eyJjbGllbnRfaWQiOiJyZWdpb25hbCJ9.",
}


def protected_routes(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, path) the app serves that is not open, with path parameters filled in."""
    out: list[tuple[str, str]] = []
    for resource in app.router.resources():
        canonical = resource.canonical
        if canonical in OPEN_ROUTES:
            continue
        path = re.sub(r"\{[^}]+\}", "placeholder-1", canonical)
        out.extend((route.method, path) for route in resource if route.method not in {"HEAD", "*"})
    return out


async def test_every_protected_route_refuses_bad_credentials_and_health_is_open(world: World) -> None:
    """Missing, unknown or malformed Authorization is a 401 problem on every protected route; health is open."""
    routes = protected_routes(world.app)
    assert ("POST", "/v1/requests") in routes and ("GET", "/v1/requests/placeholder-1") in routes
    assert ("GET", "/v1/requests") in routes  # the search
    assert len(routes) >= 6
    for (method, path), (case, authorization) in itertools.product(routes, BAD_AUTHORIZATIONS.items()):
        headers = {"Authorization": authorization} if authorization else {}
        resp = await world.http.request(method, path, headers=headers, json={} if method == "POST" else None)
        assert resp.status_code == 401, (method, path, case)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["type"] == "/problems/unauthorized"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    for path in ("/healthz", "/readyz"):
        assert (await world.http.get(path)).status_code == 200


async def test_ops_routes_refuse_every_counter_client(world: World) -> None:
    """Every route for operations clients only answers each counter client, regional ones too, 403 forbidden."""
    ops_routes = [
        (route.method, re.sub(r"\{[^}]+\}", "0af7651916cd43dd8448eb211c80319c", route.resource.canonical))
        for route in world.app.router.routes()
        if route.resource is not None and route.method != "HEAD" and is_ops_only(route.handler)
    ]
    assert {("GET", "/v1/ops/overview"), ("GET", "/v1/traces/0af7651916cd43dd8448eb211c80319c")} <= set(ops_routes)
    for (method, path), caller in itertools.product(ops_routes, CALLERS.values()):
        resp = await world.http.request(method, path, headers=auth(caller.key))
        assert resp.status_code == 403, (method, path, caller.id)
        assert resp.json()["type"] == "/problems/forbidden"

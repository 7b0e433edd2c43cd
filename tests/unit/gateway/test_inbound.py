"""gateway.http's mounting of adapters' inbound routes: auth per route, grants, body limits, answers and the API
document, with an adapter that declares one route of each kind."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from adapters import InboundRequest, InboundResponse, InboundRoute
from gateway import Settings, build_app
from gateway.http import MountedRoute, build_openapi, inbound_routes
from tests.fakes import KEY_A, KEY_NARROW, FakeAdapter, directory

AUTH = {"Authorization": f"Bearer {KEY_A}"}
ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


class PushingAdapter(FakeAdapter):
    """The fake agency, with an agency route, a client route needing a grant, and one that fails."""

    def __init__(self, routes: Sequence[InboundRoute] | None = None) -> None:
        super().__init__()
        self.seen: list[InboundRequest] = []
        self.routes = routes

    async def echo(self, request: InboundRequest) -> InboundResponse:
        self.seen.append(request)
        return InboundResponse(status=202, body=b"<ok/>", headers={"X-Agency": "yes"}, content_type="text/xml")

    async def problem(self, request: InboundRequest) -> InboundResponse:
        slug = request.path_params["slug"]
        return InboundResponse.problem(slug, "nothing about 3201014708900001 here", status=404,
                                       errors={"thing": "unknown"})  # fmt: skip

    async def broken(self, request: InboundRequest) -> InboundResponse:
        raise RuntimeError("a bug in the handler")

    def inbound_routes(self) -> Sequence[InboundRoute]:
        if self.routes is not None:
            return self.routes
        return (
            InboundRoute("POST", "/push/{ref}", self.echo, "agency", max_body=64,
                         too_large=InboundResponse.json({"ok": False})),
            InboundRoute("POST", "/things/{ref}", self.echo, "client", grant="fake.thing.lookup", summary="Things"),
            InboundRoute("GET", "/problems/{slug}", self.problem, "client", problems={404: "No such thing."}),
            InboundRoute("GET", "/broken", self.broken, "client"),
        )  # fmt: skip


@pytest.fixture
def adapter() -> PushingAdapter:
    return PushingAdapter()


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, gateway_settings: Settings, adapter: PushingAdapter
) -> TestClient[Any, Any]:
    """A gateway whose only adapter declares the routes above (the API's body limit is 16 KiB)."""
    app = build_app(
        gateway_settings,
        clients=directory(),
        transport=httpx.MockTransport(lambda request: httpx.Response(599)),
        factories={"fake": lambda context: adapter},
    )
    return await aiohttp_client(app)


async def test_an_agency_route_needs_no_key_and_its_answer_is_sent_as_is(
    client: TestClient[Any, Any], adapter: PushingAdapter
) -> None:
    """/<agency><path> is open; the handler gets method, path, params, query, lower-cased headers and the body."""
    resp = await client.post("/fake/push/r-1?a=1&a=2&b=x", data=b"<push/>", headers={"X-Sig": "s"})
    assert (resp.status, resp.content_type, resp.headers["X-Agency"], await resp.read()) == (
        202, "text/xml", "yes", b"<ok/>")  # fmt: skip
    [seen] = adapter.seen
    assert (seen.method, seen.path, seen.body, seen.client_id) == ("POST", "/fake/push/r-1", b"<push/>", None)
    assert (dict(seen.path_params), dict(seen.query), seen.headers["x-sig"]) == ({"ref": "r-1"}, {"a": "1", "b": "x"},
                                                                                 "s")  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "status", "slug"),
    [({}, 401, "unauthorized"), ({"Authorization": "Bearer mppk_nobody"}, 401, "unauthorized"),
     ({"Authorization": f"Bearer {KEY_NARROW}"}, 202, None), (AUTH, 202, None)],
    ids=["no-key", "unknown-key", "granted-by-pattern", "granted-everything"],
)  # fmt: skip
async def test_a_client_route_authenticates_and_passes_the_client(
    client: TestClient[Any, Any], adapter: PushingAdapter, headers: dict[str, str], status: int, slug: str | None
) -> None:
    """/v1/<agency><path> needs an API key; the handler learns the client's id; a refused call reaches no handler."""
    resp = await client.post("/v1/fake/things/r-2", data=b"{}", headers=headers)
    assert resp.status == status
    if slug is not None:
        assert (await resp.json())["type"] == f"/problems/{slug}" and adapter.seen == []
    else:
        assert [r.client_id for r in adapter.seen] == ["kiosk" if "narrow" in headers["Authorization"] else "counter-a"]


async def test_a_client_without_the_routes_grant_is_forbidden(
    aiohttp_client: ClientFactory, gateway_settings: Settings
) -> None:
    """A route's grant is checked before its handler runs: a client not granted it gets a 403 problem."""
    adapter = PushingAdapter()
    adapter.routes = (InboundRoute("GET", "/secret", adapter.echo, "client", grant="fake.person.read"),)
    app = build_app(gateway_settings, clients=directory(), transport=httpx.MockTransport(lambda r: httpx.Response(599)),
                    factories={"fake": lambda context: adapter})  # fmt: skip
    client = await aiohttp_client(app)
    resp = await client.get("/v1/fake/secret", headers={"Authorization": f"Bearer {KEY_NARROW}"})
    assert resp.status == 403 and (await resp.json())["detail"] == "this client is not granted fake.person.read"
    assert adapter.seen == []
    assert (await client.get("/v1/fake/secret", headers=AUTH)).status == 202


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 16):
        yield b"x" * 16


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_bodies_over_the_limit_are_not_handed_on(
    client: TestClient[Any, Any], adapter: PushingAdapter, chunked: bool
) -> None:
    """A client route allows the API's limit (413 problem past it); an agency route its own, answered its way."""
    big: Any = _chunks(32 * 1024) if chunked else b"x" * (32 * 1024)
    resp = await client.post("/v1/fake/things/r-3", data=big, headers=AUTH)
    assert resp.status == 413 and (await resp.json())["type"] == "/problems/payload-too-large"
    resp = await client.post("/fake/push/r-4", data=_chunks(128) if chunked else b"x" * 65)
    assert (resp.status, await resp.json()) == (200, {"ok": False})
    assert adapter.seen == []
    assert (await client.post("/fake/push/r-5", data=b"x" * 64)).status == 202


async def test_a_problem_of_a_known_type_is_rendered_by_the_gateway(client: TestClient[Any, Any]) -> None:
    """A handler's not-found problem comes out with the type's title, instance and trace id, its detail masked."""
    resp = await client.get("/v1/fake/problems/not-found", headers=AUTH)
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert (problem["type"], problem["instance"], problem["errors"]) == (
        "/problems/not-found", "/v1/fake/problems/not-found", [{"field": "thing", "message": "unknown"}])  # fmt: skip
    assert problem["title"] and len(problem["trace_id"]) == 32
    assert "3201014708900001" not in problem["detail"]


async def test_a_problem_of_an_unknown_type_is_sent_as_written(client: TestClient[Any, Any]) -> None:
    """A problem type the gateway does not know is the adapter's own: its body goes out unchanged."""
    resp = await client.get("/v1/fake/problems/odd-thing", headers=AUTH)
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    assert (await resp.json())["type"] == "/problems/odd-thing"


async def test_a_handler_that_raises_is_a_500_problem_and_the_gateway_carries_on(client: TestClient[Any, Any]) -> None:
    """An exception from a handler is a defect: a 500 problem without the message, and the next call works."""
    resp = await client.get("/v1/fake/broken", headers=AUTH)
    assert resp.status == 500 and resp.content_type == "application/problem+json"
    assert "a bug" not in await resp.text()
    assert (await client.post("/fake/push/r-6", data=b"{}")).status == 202


def _route(**fields: Any) -> InboundRoute:
    async def handler(request: InboundRequest) -> InboundResponse:
        return InboundResponse()

    return InboundRoute(**{"method": "GET", "path": "/x", "handler": handler, "auth": "client", **fields})


@pytest.mark.parametrize(
    ("agency", "routes", "message"),
    [("v1", [_route(auth="agency", method="POST")], "shadow"), ("docs", [_route(auth="agency")], "shadow"),
     ("requests", [_route()], "shadow"), ("fake", [_route(), _route()], "two inbound routes")],
    ids=["agency-v1", "agency-docs", "client-requests", "twice"],
)  # fmt: skip
def test_routes_that_would_shadow_the_gateways_or_each_other_are_refused(
    agency: str, routes: list[InboundRoute], message: str
) -> None:
    """An adapter named like a gateway path, or two routes on one method and path, are configuration errors."""
    adapter = PushingAdapter(routes)
    adapter.agency = agency  # type: ignore[misc]  # the instance plays another agency
    with pytest.raises(ValueError, match=message):
        inbound_routes([adapter])


def test_the_api_document_describes_routes_from_their_declaration(adapter: PushingAdapter) -> None:
    """Each route's path, auth, parameters, body limit and problems become a valid OpenAPI operation."""
    spec = build_openapi(FakeAdapter().services(), inbound=inbound_routes([adapter]))
    validate(spec)
    push = spec["paths"]["/fake/push/{ref}"]["post"]
    assert (push["operationId"], push["security"], set(push["responses"])) == (
        "fakePostPushByRef", [], {"200", "500"})  # fmt: skip
    assert push["parameters"] == [{"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}]
    things = spec["paths"]["/v1/fake/things/{ref}"]["post"]
    assert things["summary"] == "Things" and "security" not in things
    assert set(things["responses"]) == {"200", "401", "403", "408", "413", "429", "500"}
    assert set(spec["paths"]["/v1/fake/problems/{slug}"]["get"]["responses"]) == {"200", "401", "404", "429", "500"}


def test_a_mounted_route_knows_its_path() -> None:
    """MountedRoute is the route with its agency: the path is where the gateway serves it."""
    assert MountedRoute("oss", _route(path="/nib/{nib}")).path == "/v1/oss/nib/{nib}"
    assert dataclasses.replace(MountedRoute("oss", _route(auth="agency")), agency="bpjs").path == "/bpjs/x"


async def test_every_served_inbound_route_is_in_the_document(client: TestClient[Any, Any]) -> None:
    """The served /openapi.json describes exactly the inbound routes the app serves."""
    spec = await (await client.get("/openapi.json")).json()
    served = {(r.method.lower(), r.resource.canonical) for r in client.app.router.routes()
              if r.resource is not None and "/fake/" in r.resource.canonical and r.method != "HEAD"}  # fmt: skip
    described = {(m, p) for p, ops in spec["paths"].items() if "/fake/" in p for m in ops}
    assert served == described and len(served) == 4
    body = orjson.dumps(spec)
    assert b"fakeGetBroken" in body

"""Inbound routes: what an adapter declares for the gateway to mount, and the store of what agencies push."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from adapters import AgencyDocuments, InboundRequest, InboundResponse, InboundRoute, MemoryDocuments, ReceivedDocument

AT = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)


async def echo(request: InboundRequest) -> InboundResponse:
    return InboundResponse.json({"path": request.path, "params": dict(request.path_params)})


def test_request_and_response_defaults() -> None:
    """A request has no params, query or client unless given; a response is an empty 200 JSON answer."""
    request = InboundRequest("POST", "/oss/receiveNIB", {"token": "x"}, b"{}")
    assert (dict(request.path_params), dict(request.query), request.client_id) == ({}, {}, None)
    response = InboundResponse()
    assert (response.status, response.body, dict(response.headers), response.content_type) == (
        200, b"", {}, "application/json")


def test_json_response() -> None:
    """InboundResponse.json serialises the data with the status and headers given."""
    response = InboundResponse.json({"status": 1}, status=202, headers={"x-a": "b"})
    assert (orjson.loads(response.body), response.status, dict(response.headers)) == ({"status": 1}, 202, {"x-a": "b"})


@pytest.mark.parametrize(
    ("auth", "path", "mounted"),
    [("agency", "/receiveNIB", "/oss/receiveNIB"), ("client", "/nib/{nib}", "/v1/oss/nib/{nib}")],
)
async def test_routes_mount_under_the_agency(auth: str, path: str, mounted: str) -> None:
    """An agency's route mounts at /<agency><path>, a client's at /v1/<agency><path>; the handler is kept."""
    route = InboundRoute("POST" if auth == "agency" else "GET", path, echo, auth)  # type: ignore[arg-type]  # str param
    assert route.mount_path("oss") == mounted
    answer = await route.handler(InboundRequest("GET", mounted, {}, b"", path_params={"nib": "1"}))
    assert orjson.loads(answer.body) == {"path": mounted, "params": {"nib": "1"}}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"method": "get"}, "method"),
        ({"method": "TRACE"}, "method"),
        ({"path": "receiveNIB"}, "path"),
        ({"path": "/receive/"}, "path"),
        ({"path": "/../admin"}, "path"),
        ({"path": "/nib/{nib:.*}"}, "path"),
        ({"path": ""}, "path"),
        ({"auth": "none"}, "auth"),
        ({"grant": "oss.nib.inquiry"}, "grant"),
    ],
    ids=["lower-case-method", "unknown-method", "relative", "trailing-slash", "dot-dot", "regex-param", "empty",
         "unknown-auth", "grant-on-agency-route"],
)
def test_malformed_routes_are_refused(fields: dict[str, str], message: str) -> None:
    """A route the gateway could not mount safely fails when declared, naming the field."""
    values = {"method": "POST", "path": "/receiveNIB", "handler": echo, "auth": "agency", **fields}
    with pytest.raises(ValueError, match=message):
        InboundRoute(**values)  # type: ignore[arg-type]  # deliberately wrong values


def test_a_client_route_may_require_a_grant() -> None:
    """A client route names the service grant a client needs."""
    route = InboundRoute("GET", "/nib/{nib}", echo, "client", grant="oss.nib.inquiry")
    assert route.grant == "oss.nib.inquiry"


async def test_memory_documents_keep_every_push_and_answer_the_latest() -> None:
    """Every put is history in order; latest is the one put last; kinds and keys are apart; unknown is empty."""
    documents: AgencyDocuments = MemoryDocuments()
    assert await documents.latest("nib", "1") is None
    assert await documents.history("nib", "1") == []
    later = AT + dt.timedelta(hours=1)
    await documents.put("nib", "1", {"v": 1}, received_at=AT)
    await documents.put("nib", "1", {"v": 2}, received_at=later)
    await documents.put("nib", "2", {"v": 9}, received_at=AT)
    await documents.put("permit", "1", {"v": 7}, received_at=AT)
    assert await documents.latest("nib", "1") == {"v": 2}
    assert await documents.history("nib", "1") == [ReceivedDocument({"v": 1}, AT), ReceivedDocument({"v": 2}, later)]
    assert await documents.latest("permit", "1") == {"v": 7}


async def test_memory_documents_are_copies() -> None:
    """Changing a dict after put, or one that latest or history returned, changes nothing stored."""
    documents = MemoryDocuments()
    pushed = {"data": {"v": 1}}
    await documents.put("nib", "1", pushed, received_at=AT)
    pushed["data"]["v"] = 2
    (await documents.latest("nib", "1"))["data"]["v"] = 3  # type: ignore[index]  # not None: put above
    (await documents.history("nib", "1"))[0].document["data"]["v"] = 4
    assert await documents.latest("nib", "1") == {"data": {"v": 1}}


async def test_memory_documents_need_an_aware_time() -> None:
    """A received_at without a time zone is refused, as a store could not order it."""
    with pytest.raises(ValueError, match="time zone"):
        await MemoryDocuments().put("nib", "1", {}, received_at=dt.datetime(2026, 1, 5, 8, 0))

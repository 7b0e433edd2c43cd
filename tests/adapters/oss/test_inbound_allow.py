"""receiveNIB's address allowlist (``inbound_allow``): parsing the setting, and the handler's check of the peer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from ipaddress import ip_network

import httpx
import orjson
import pytest
from structlog.testing import capture_logs

from adapters import AdapterContext, AgencyHttp, InboundRequest, MemoryDocuments
from adapters.oss import OssAdapter
from adapters.oss.inbound import KIND, NibInbound, inbound_allowlist, oss_token, parse_allowlist

from ._support import NIB, SETTINGS

USERNAME, PASSWORD = "mpp-kota-bandung", "oss-inbound-Pw-83c1f0"
NOW = dt.datetime(2026, 1, 5, 3, 0, tzinfo=dt.UTC)
TOKEN = oss_token(USERNAME, PASSWORD, NIB, dt.date(2026, 1, 5))
BODY = orjson.dumps({"dataNIB": {"nib": NIB, "penanggung_jwb": [{"nama_penanggung_jwb": "SITI AMINAH"}]}})


def request(peer: str | None) -> InboundRequest:
    return InboundRequest("POST", "/oss/receiveNIB", {"token": TOKEN}, BODY, peer=peer)


def handler(allow: str, documents: MemoryDocuments) -> NibInbound:
    allowed = inbound_allowlist({"inbound_allow": allow})
    return NibInbound(documents, credentials=(USERNAME, PASSWORD), clock=lambda: NOW, allow=allowed)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", None),
        (" , ", None),
        ("203.0.113.7", ("203.0.113.7/32",)),
        ("203.0.113.0/24, 2001:db8::/32", ("203.0.113.0/24", "2001:db8::/32")),
        ("10.1.2.3/8", ("10.0.0.0/8",)),
    ],
)
def test_the_setting_is_a_list_of_networks(raw: str, expected: tuple[str, ...] | None) -> None:
    """inbound_allow reads as networks (a bare address is one host, host bits dropped); unset or blank is None."""
    parsed = inbound_allowlist({"inbound_allow": raw} if raw else {})
    assert parsed == (None if expected is None else tuple(ip_network(n) for n in expected))


@pytest.mark.parametrize("raw", ["oss.go.id", "203.0.113.0/33", "10.0.0.0/8,nope"])
async def test_a_bad_entry_fails_closed_and_says_so(raw: str) -> None:
    """A list that does not parse refuses every push (never allows all) and logs an error naming the setting."""
    with pytest.raises(ValueError, match="MPP_AGENCY__OSS__INBOUND_ALLOW"):
        parse_allowlist(raw)
    http = AgencyHttp(httpx.MockTransport(lambda r: httpx.Response(599)), agency="oss", base_url="https://oss.test")
    settings = {**SETTINGS, "inbound_username": USERNAME, "inbound_password": PASSWORD, "inbound_allow": raw}
    with capture_logs() as logs:
        context = AdapterContext(http=http, settings=settings, documents=MemoryDocuments(), clock=lambda: NOW)
        adapter = OssAdapter(context)
    (event,) = [e for e in logs if e["event"] == "oss.inbound_allow.invalid"]
    assert event["log_level"] == "error" and "MPP_AGENCY__OSS__INBOUND_ALLOW" in event["detail"]
    receive = next(route for route in adapter.inbound_routes() if route.method == "POST")
    response = await receive.handler(request("10.0.0.1"))
    assert response.refusal == "address-not-allowed"


@pytest.mark.parametrize(
    ("allow", "peer", "accepted"),
    [
        ("203.0.113.0/24", "203.0.113.9", True),
        ("203.0.113.0/24", "198.51.100.9", False),
        ("203.0.113.0/24,2001:db8::/32", "2001:db8::5", True),
        ("203.0.113.0/24", "::ffff:203.0.113.9", True),
        ("203.0.113.0/24", None, False),
        ("203.0.113.0/24", "not-an-address", False),
        ("", "198.51.100.9", True),
        ("", None, True),
    ],
    ids=["inside", "outside", "ipv6-inside", "ipv4-mapped", "unknown-peer", "garbage-peer", "no-list", "no-list-any"],
)
async def test_a_push_is_kept_only_from_an_allowed_address(allow: str, peer: str | None, accepted: bool) -> None:
    """Outside the list: OSS's refusal (status 2), nothing kept, counted as address-not-allowed; inside: kept."""
    documents = MemoryDocuments()
    with capture_logs() as logs:
        response = await handler(allow, documents).receive(request(peer))
    envelope = orjson.loads(response.body)["responreceiveNIB"]
    stored = await documents.history(KIND, NIB)
    if accepted:
        assert (envelope["status"], len(stored), response.refusal) == ("1", 1, None)
        return
    assert envelope == {"status": "2", "keterangan": "Alamat pengirim tidak diizinkan"}
    assert (response.status, stored, response.refusal) == (200, [], "address-not-allowed")
    (event,) = [e for e in logs if e["event"] == "oss.receive_nib.refused"]
    assert event["reason"] == "address-not-allowed" and event["log_level"] == "warning"
    assert "SITI" not in str(logs) and (peer is None or peer == "not-an-address" or peer not in str(logs))


async def test_the_address_is_checked_before_the_body_is_read() -> None:
    """A refused address learns nothing: a body that is not even JSON gets the same address refusal."""
    response = await handler("203.0.113.0/24", MemoryDocuments()).receive(
        dataclasses.replace(request("198.51.100.9"), body=b"{not json")
    )
    assert response.refusal == "address-not-allowed"


async def test_every_refusal_names_its_reason_for_the_count() -> None:
    """The Token refusal carries its reason too, so the gateway counts every refused push."""
    bad = dataclasses.replace(request("203.0.113.9"), headers={"token": "0" * 40})
    response = await handler("203.0.113.0/24", MemoryDocuments()).receive(bad)
    assert response.refusal == "invalid-token"

"""The outbound transport honours HTTP_PROXY, HTTPS_PROXY and NO_PROXY, over real sockets to a tiny local proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters import AgencyHttp, ProxyRouter, ProxySettings, TransientAgencyError
from gateway import Client, build_transport
from gateway.dispatch import WebhookSender
from gateway.store import Webhook


class Proxy:
    """A forward proxy on 127.0.0.1 that records each request line: it answers plain requests itself, with a JSON
    body, and refuses every CONNECT (the tunnel is not needed to see that the request came through it)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode()
        self.lines.append(line)
        if line.startswith("CONNECT "):
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        else:
            body = b'{"via":"proxy"}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
        await writer.drain()
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    """The proxy on a free loopback port."""
    recorder = Proxy()
    server = await asyncio.start_server(recorder.handle, "127.0.0.1", 0)
    recorder.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield recorder
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def agency() -> AsyncIterator[tuple[str, list[str]]]:
    """A local agency answering ``GET /x``, and the paths it was asked for."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"via": "direct"})

    app = web.Application()
    app.router.add_get("/x", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), seen
    finally:
        await server.close()


async def call(transport: httpx.AsyncBaseTransport, base_url: str) -> Any:
    http = AgencyHttp(transport, agency="test", base_url=base_url, timeout=5)
    try:
        response = await http.send(http.build("GET", "/x"))
        return response.json()
    finally:
        await transport.aclose()


async def test_agency_calls_go_through_http_proxy(proxy: Proxy) -> None:
    """With HTTP_PROXY set, an agency call is sent to the proxy, which is asked for the agency's full URL."""
    transport = build_transport(environ={"HTTP_PROXY": proxy.url})
    assert await call(transport, "http://agency.invalid:8080/api") == {"via": "proxy"}
    assert proxy.lines == ["GET http://agency.invalid:8080/api/x HTTP/1.1"]


async def test_https_agency_calls_tunnel_through_https_proxy(proxy: Proxy) -> None:
    """With HTTPS_PROXY set, an https agency call asks the proxy for a tunnel to the agency (CONNECT)."""
    transport = build_transport(environ={"https_proxy": proxy.url})
    with pytest.raises(TransientAgencyError) as caught:
        await call(transport, "https://agency.invalid/api")
    assert not caught.value.sent
    assert proxy.lines == ["CONNECT agency.invalid:443 HTTP/1.1"]


async def test_no_proxy_hosts_are_reached_directly(proxy: Proxy, agency: tuple[str, list[str]]) -> None:
    """A host NO_PROXY lists is called directly; the proxy sees nothing."""
    base_url, seen = agency
    transport = build_transport(environ={"HTTP_PROXY": proxy.url, "NO_PROXY": "localhost,127.0.0.0/8"})
    assert await call(transport, base_url) == {"via": "direct"}
    assert seen == ["/x"] and proxy.lines == []


async def test_without_proxy_variables_nothing_changes(agency: tuple[str, list[str]]) -> None:
    """No proxy variable: the plain transport, straight to the agency."""
    base_url, _ = agency
    transport = build_transport(environ={"NO_PROXY": "*"})
    assert not isinstance(transport, ProxyRouter)
    assert await call(transport, base_url) == {"via": "direct"}


async def test_webhooks_go_through_the_proxy_by_name_after_the_host_is_checked(proxy: Proxy) -> None:
    """A webhook through HTTPS_PROXY: the host is resolved and checked first, then the proxy is asked for the
    host by name; a host resolving to a private address never reaches the proxy."""
    transport = build_transport(environ={"HTTPS_PROXY": proxy.url})
    assert isinstance(transport, ProxyRouter)
    answers = {"hooks.example.org": ["93.184.216.34"], "evil.example.org": ["10.0.0.9"]}

    async def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    errors: list[str | None] = []

    class Outbox:
        async def due_webhooks(self, limit: int) -> list[Webhook]:
            return []

        async def webhook_tried(self, webhook_id: str, *, delivered: bool, next_at: float, error: str | None) -> None:
            errors.append(error)

    client = Client("c", "C", frozenset(), webhook_secret="whsec",
                    callback_origins=("https://hooks.example.org", "https://evil.example.org"))  # fmt: skip
    sender = WebhookSender(Outbox(), transport, {"c": client}, proxies=transport.proxies, resolver=resolver,
                           timeout=5)  # fmt: skip
    try:
        for host in ("hooks.example.org", "evil.example.org"):
            url = f"https://{host}/mpp"
            await sender.deliver(Webhook(id="evt", request_id="req", client_id="c", url=url, body="{}", attempts=0))
    finally:
        await transport.aclose()
    assert proxy.lines == ["CONNECT hooks.example.org:443 HTTP/1.1"]
    assert errors[0] is not None and errors[0].startswith("ProxyError")
    assert errors[1] is not None and "10.0.0.9, a private address" in errors[1]


@pytest.mark.parametrize(
    ("environ", "https", "http", "bypassed", "proxied"),
    [
        ({"HTTPS_PROXY": "http://up:3128", "https_proxy": "http://low:3128"}, "http://low:3128", None, [],
         ["api.example"]),
        ({"ALL_PROXY": "proxy.lan:3128"}, "http://proxy.lan:3128", "http://proxy.lan:3128", [], ["api.example"]),
        ({"HTTP_PROXY": "http://p:1", "HTTPS_PROXY": "http://p:1", "NO_PROXY": ".mpp.lan, 10.0.0.0/8,[::1],api:443"},
         "http://p:1", "http://p:1", ["mpp.lan", "a.mpp.lan", "10.2.3.4", "::1", "[::1]", "api"],
         ["xmpp.lan", "11.2.3.4", "api.example", "::2"]),
        ({"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}, "http://p:1", None, ["anything.example"], []),
        ({"HTTPS_PROXY": "  "}, None, None, [], []),
    ],
)  # fmt: skip
def test_proxy_variables_are_read_as_other_tools_read_them(environ: dict[str, str], https: str | None,
                                                           http: str | None, bypassed: list[str],
                                                           proxied: list[str]) -> None:  # fmt: skip
    """Lower case wins, ALL_PROXY is the fallback, a bare host:port is http, NO_PROXY takes domains (with their
    subdomains), addresses, CIDRs and ``*``; a blank variable is unset."""
    proxies = ProxySettings.from_env(environ)
    assert (proxies.https, proxies.http) == (https, http)
    assert [host for host in bypassed if proxies.proxy_for("https", host) is not None] == []
    assert [proxies.proxy_for("https", host) for host in proxied] == [https] * len(proxied)


def test_an_unsupported_proxy_stops_the_start_and_passwords_stay_out_of_the_repr() -> None:
    """A socks proxy is an error at start (aiohttp speaks only http(s) to proxies), so is a malformed one, named by
    its variable only; a proxy password is not in the settings' repr."""
    with pytest.raises(ValueError, match="ALL_PROXY"):
        ProxySettings.from_env({"ALL_PROXY": "socks5://proxy.lan:1080"})
    with pytest.raises(ValueError, match=r"^HTTP_PROXY is not a URL$"):
        ProxySettings.from_env({"HTTP_PROXY": "http://[::1"})
    with pytest.raises(ValueError, match=r"^HTTPS_PROXY names no host$"):
        ProxySettings.from_env({"HTTPS_PROXY": "http://:3128"})
    assert "s3cret" not in repr(ProxySettings.from_env({"HTTPS_PROXY": "http://user:s3cret@proxy.lan:3128"}))

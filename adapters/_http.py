"""The outbound HTTP edge: one object per agency that sends its adapter's requests through a shared transport.

An adapter builds an :class:`AgencyRequest` (plain values: method, URL, headers, body, timeout) and sends it. The
gateway's transport, :class:`AgencyTransport` (built once at the composition root), hands it straight to aiohttp's
connection pool and reads the reply into an :class:`AgencyResponse`: no ``httpx.Request`` is built and no
``httpx.Response`` converted on the way, which was a quarter of the outbound call's CPU. Any other
``httpx.AsyncBaseTransport`` is given the same request as an ``httpx.Request`` through ``handle_async_request``:
tests inject ``httpx.MockTransport(respx_router.async_handler)``, and the webhooks speak httpx over the same pool.

Every failure of the layer below is translated here, in one place, into a :class:`TransientAgencyError` that
says whether the request may have reached the agency.

Outbound calls honour the standard proxy variables (:class:`ProxySettings`, read once when the transport is
built): ``HTTPS_PROXY`` for https URLs, ``HTTP_PROXY`` for http ones, ``ALL_PROXY`` for either, lower case winning
over upper case, and ``NO_PROXY`` listing the hosts reached directly. :class:`ProxyRouter` sends each request
through the transport of its proxy, or the direct one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import ipaddress
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import aiohttp
import httpx
import orjson
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions
from opentelemetry import propagate, trace

from ._errors import AgencyMisconfigured, TransientAgencyError

__all__ = [
    "AgencyHttp",
    "AgencyRequest",
    "AgencyResponse",
    "AgencyTransport",
    "ProxyRouter",
    "ProxySettings",
    "parse_retry_after",
]

DEFAULT_MAX_BODY = 2 * 1024 * 1024
_TRANSIENT_STATUS = frozenset({408, 429})


@dataclasses.dataclass(slots=True)
class AgencyRequest:
    """A request to an agency as its adapter built it (:meth:`AgencyHttp.build`): plain values that nothing parses
    before the transport sends them."""

    method: str
    #: Absolute, under the agency's base URL.
    url: str
    headers: dict[str, str]
    content: bytes | None
    #: Seconds for the connect, and for each read of the reply.
    timeout: float

    def to_httpx(self) -> httpx.Request:
        """The same request as httpx's model, for a transport that takes only those (a respx router in tests)."""
        t = self.timeout
        return httpx.Request(
            self.method,
            self.url,
            headers=self.headers,
            content=self.content,
            extensions={"timeout": {"connect": t, "read": t, "write": t, "pool": t}},
        )


@dataclasses.dataclass(frozen=True, slots=True)
class AgencyResponse:
    """A fully read agency response."""

    status_code: int
    #: Case-insensitive (aiohttp's or httpx's header mapping).
    headers: Mapping[str, str]
    content: bytes
    elapsed: float

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters."""
        return str(self.headers.get("content-type", "")).split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """Decode the body as JSON; raises ``orjson.JSONDecodeError`` (a ``ValueError``) on bad input."""
        return orjson.loads(self.content)

    def looks_like_html(self) -> bool:
        """True for an HTML error page, whatever content type it claims."""
        head = self.content[:256].lstrip().lower()
        return self.content_type == "text/html" or head.startswith((b"<!doctype html", b"<html"))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _was_sent(exc: BaseException) -> bool:
    """Whether the request may have reached the agency before ``exc``: only a failed connect proves it did not."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        # httpx-aiohttp maps every aiohttp connection error, disconnects included, to an httpx connect error:
        # the aiohttp error underneath is the truth. A proxy that refused the tunnel sent nothing on either.
        return not isinstance(
            cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError | aiohttp.ClientHttpProxyError
        )
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


@contextlib.contextmanager
def _translate(agency: str) -> Iterator[None]:
    try:
        yield
    except _TooLarge as exc:
        raise TransientAgencyError(
            f"{agency} sent a body over {exc.limit} bytes", agency=agency, sent=True, cause="body too large"
        ) from None
    except TimeoutError as exc:
        raise TransientAgencyError(
            f"{agency} did not answer in time", agency=agency, sent=True, cause="timeout"
        ) from exc
    except httpx.TimeoutException as exc:
        sent = _was_sent(exc)
        what = "did not answer in time" if sent else "could not be reached in time"
        cause = "timeout" if sent else "connect timeout"
        raise TransientAgencyError(f"{agency} {what}", agency=agency, sent=sent, cause=cause) from exc
    except httpx.TransportError as exc:
        sent = _was_sent(exc)
        what = "connection broke" if sent else "connection refused or unreachable"
        cause = "connection reset" if sent else "connection refused"
        raise TransientAgencyError(f"{agency} {what}", agency=agency, sent=sent, cause=cause) from exc
    except OSError as exc:
        raise TransientAgencyError(
            f"{agency} connection error", agency=agency, sent=True, cause="connection error"
        ) from exc


class AgencyHttp:
    """Sends requests to one agency: base URL, extra headers (an API manager's key or bearer token), limits."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        agency: str,
        base_url: str,
        timeout: float = 10.0,
        extra_headers: Mapping[str, str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        tracer: trace.Tracer | None = None,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        self.agency = agency
        self._tracer = tracer or trace.NoOpTracer()
        #: Masks personal data in the URL before it becomes a span attribute (NIKs travel in some agencies' paths).
        self._scrub = scrub or (lambda text: "")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_body = max_body
        self._transport = transport
        self._extra = dict(extra_headers or {})

    def time_left(self, deadline: float | None) -> float:
        """The per-call timeout for a call that must end by ``deadline`` (``time.monotonic()`` seconds).

        Raises :class:`TransientAgencyError` with ``sent=False`` when the deadline has passed: nothing was sent,
        and saying so lets the dispatcher report "deadline exceeded" rather than reconcile or retry.
        """
        if deadline is None:
            return self.timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransientAgencyError(
                f"{self.agency}: the request's deadline passed before the call", agency=self.agency, sent=False,
                cause="deadline passed",
            )
        return min(self.timeout, left)

    def raise_for_status(self, response: AgencyResponse, *, credentials: str, location: str) -> None:
        """Classify an agency that speaks through HTTP statuses: 2xx passes, unless it is an HTML page.

        5xx, 408 and 429 (and an HTML page) are transient, with the agency's ``Retry-After``; 401 and 403 are
        misconfigured (``credentials`` says what to check); any other status means a wrong URL (``location``).
        """
        status = response.status_code
        agency = self.agency
        if 200 <= status < 300:
            if response.looks_like_html():
                # A proxy or API gateway answering for a backend that is down, typically.
                raise TransientAgencyError(
                    f"{agency} answered with an HTML page", agency=agency, sent=True, cause="html page"
                )
            return
        if status >= 500 or status in _TRANSIENT_STATUS:
            raise TransientAgencyError(
                f"{agency} answered HTTP {status}",
                agency=agency,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                sent=True,
                cause=f"http {status}",
            )
        if status in (401, 403):
            raise AgencyMisconfigured(
                f"{agency} refused the gateway with HTTP {status}: check {credentials}", agency=agency
            )
        # 3xx (agencies do not redirect) and the other 4xx (404: a wrong path, so the base URL is wrong).
        raise AgencyMisconfigured(f"{agency} answered HTTP {status}: check {location}", agency=agency)

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` under the agency's base URL."""
        return self.base_url + "/" + path.lstrip("/")

    def build(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: float | None = None,
    ) -> AgencyRequest:
        """Build a request for this agency with its extra headers and the per-call timeout."""
        merged = {**self._extra, **(headers or {})}
        return AgencyRequest(method, self.url(path), merged, content, self.timeout if timeout is None else timeout)

    async def send(
        self,
        request: AgencyRequest,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - one bound over connect, send and the whole body read
    ) -> AgencyResponse:
        """Send ``request`` and read the whole body, within ``timeout`` seconds overall."""
        budget = self.timeout if timeout is None else timeout
        started = time.monotonic()
        with self._tracer.start_as_current_span(
            f"{request.method} {self.agency}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "http.request.method": request.method,
                "url.full": self._scrub(request.url),
                "mpp.agency": self.agency,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            propagate.inject(request.headers)
            try:
                with _translate(self.agency):
                    # The outer bound leaves aiohttp's own connect and read timers a moment to fire first: only
                    # they can tell a connect that never happened from an answer that never came.
                    async with asyncio.timeout(budget + 0.05):
                        status, headers, body = await _send(self._transport, request, self.max_body)
            except TransientAgencyError as exc:
                span.set_status(trace.Status(trace.StatusCode.ERROR, exc.cause or "transient"))
                span.set_attribute("error.type", "sent" if exc.sent else "not_sent")
                raise
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(trace.Status(trace.StatusCode.ERROR, f"http {status}"))
        return AgencyResponse(status, headers, body, time.monotonic() - started)


class _TooLarge(Exception):
    """The reply's body passed the agency's limit (``limit`` bytes) while it was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"over {limit} bytes")
        self.limit = limit


async def _read_capped(chunks: AsyncIterator[bytes], max_body: int) -> bytes:
    """The whole body from ``chunks``, refused (:class:`_TooLarge`) as soon as it passes ``max_body`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_body:
            raise _TooLarge(max_body)
        parts.append(chunk)
    return b"".join(parts)


async def _send(
    transport: httpx.AsyncBaseTransport, request: AgencyRequest, max_body: int
) -> tuple[int, Mapping[str, str], bytes]:
    """Send ``request`` through ``transport``: directly when it can, else as an ``httpx.Request``."""
    if isinstance(transport, AgencyTransport | ProxyRouter):
        return await transport.send_direct(request, max_body)
    response = await transport.handle_async_request(request.to_httpx())
    try:
        if response.is_stream_consumed:  # a response built in memory (httpx.MockTransport, respx) arrives read
            if len(response.content) > max_body:
                raise _TooLarge(max_body)
            return response.status_code, response.headers, response.content
        return response.status_code, response.headers, await _read_capped(response.aiter_raw(), max_body)
    finally:
        await response.aclose()


class AgencyTransport(AiohttpTransport):
    """The gateway's outbound transport: httpx-aiohttp's (``httpx.Request`` values over aiohttp's connection pool,
    for the webhooks) with :meth:`send_direct` for agency requests, over the same pool, without httpx's models.

    Failures are the ones ``handle_async_request`` raises (aiohttp's errors as httpx's, the aiohttp error as the
    cause), so one translation (:func:`_translate`) serves both.
    """

    async def send_direct(self, request: AgencyRequest, max_body: int) -> tuple[int, Mapping[str, str], bytes]:
        """Send ``request`` and read its reply's body, at most ``max_body`` bytes: status, headers, body."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        t = request.timeout
        proxy = self.proxy
        with map_aiohttp_exceptions():
            async with self.client.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.content or None,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=aiohttp.ClientTimeout(sock_connect=t, sock_read=t, connect=t),
                proxy=str(proxy.url) if proxy else None,
                proxy_auth=aiohttp.BasicAuth(*proxy.auth) if proxy and proxy.auth else None,
                proxy_headers=proxy.headers if proxy else None,
            ) as response:
                body = await _read_capped(response.content.iter_chunked(64 * 1024), max_body)
        return response.status, response.headers, body


_PROXY_SCHEMES = ("http", "https")


def _proxy_url(variable: str, value: str) -> str:
    """A proxy variable's URL, ``http://`` when it names none; :class:`ValueError` for a kind aiohttp cannot use."""
    url = value.strip() if "://" in value else "http://" + value.strip()
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise ValueError(f"{variable} is not a URL") from None
    if parsed.scheme not in _PROXY_SCHEMES:
        raise ValueError(f"{variable}: only http:// and https:// proxies are supported, not {parsed.scheme}://")
    if not parsed.host:
        raise ValueError(f"{variable} names no host")
    return url


def _no_proxy_entry(entry: str) -> str | ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A ``NO_PROXY`` entry: a network for an address or CIDR, else a domain (``.example.org`` and ``*.`` alike)."""
    text = entry.strip().lower()
    host, _, port = text.rpartition(":")
    candidates = [text, host] if host and port.isdigit() else [text]  # host:port: the port is not told apart
    for candidate in candidates:
        try:
            return ipaddress.ip_network(candidate.removeprefix("[").removesuffix("]"), strict=False)
        except ValueError:
            pass
    return candidates[-1].removeprefix("*").lstrip(".")


@dataclasses.dataclass(frozen=True, slots=True)
class ProxySettings:
    """Which proxy an outbound request goes through, as the standard environment variables say."""

    #: The proxy of http URLs, and of https ones; out of the repr, as they may carry a password.
    http: str | None = dataclasses.field(default=None, repr=False)
    https: str | None = dataclasses.field(default=None, repr=False)
    #: Hosts reached directly: ``*`` (every one), a domain (its subdomains too), an address or a CIDR.
    no_proxy: tuple[str | ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ProxySettings:
        """Read ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``, lower case first; an empty one is
        unset. :class:`ValueError` for a proxy that is not http(s)."""

        def variable(name: str) -> tuple[str, str] | None:
            for key in (name.lower(), name.upper()):
                if environ.get(key, "").strip():
                    return key, environ[key]
            return None

        found = {}
        fallback = variable("all_proxy")
        for scheme in _PROXY_SCHEMES:
            named = variable(f"{scheme}_proxy") or fallback
            found[scheme] = _proxy_url(*named) if named is not None else None
        bypass = variable("no_proxy")
        entries = [e for e in bypass[1].split(",") if e.strip()] if bypass is not None else []
        return cls(http=found["http"], https=found["https"], no_proxy=tuple(_no_proxy_entry(e) for e in entries))

    def __bool__(self) -> bool:
        return bool(self.http or self.https)

    def proxy_for(self, scheme: str, host: str) -> str | None:
        """The proxy a request to ``host`` by ``scheme`` goes through, or ``None`` to connect directly."""
        proxy = self.https if scheme == "https" else self.http if scheme == "http" else None
        if proxy is None or not self.no_proxy:
            return proxy
        name = host.lower().removeprefix("[").removesuffix("]").rstrip(".")
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(name)
        except ValueError:
            address = None
        for entry in self.no_proxy:
            if isinstance(entry, str):
                if entry == "" or (address is None and (name == entry or name.endswith("." + entry))):
                    return None
            elif address is not None and address.version == entry.version and address in entry:
                return None
        return proxy


class ProxyRouter(httpx.AsyncBaseTransport):
    """Sends each request directly or through the transport of the proxy :class:`ProxySettings` names for it.

    A request sent to an address its caller resolved (a webhook) names its host in the ``sni_hostname``
    extension: that name, not the address, decides, as it would have without the resolving.
    """

    def __init__(
        self,
        direct: httpx.AsyncBaseTransport,
        proxies: ProxySettings,
        through: Callable[[str], httpx.AsyncBaseTransport],
    ) -> None:
        self.proxies = proxies
        self._direct = direct
        self._through = {url: through(url) for url in {proxies.http, proxies.https} if url is not None}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its route."""
        host = request.extensions.get("sni_hostname") or request.url.raw_host.decode("ascii")
        return await self._route(request.url.scheme, host).handle_async_request(request)

    async def send_direct(self, request: AgencyRequest, max_body: int) -> tuple[int, Mapping[str, str], bytes]:
        """Send an agency's ``request`` through its route (see :meth:`AgencyTransport.send_direct`)."""
        url = urllib.parse.urlsplit(request.url)
        return await _send(self._route(url.scheme, url.hostname or ""), request, max_body)

    def _route(self, scheme: str, host: str) -> httpx.AsyncBaseTransport:
        proxy = self.proxies.proxy_for(scheme, host)
        return self._direct if proxy is None else self._through[proxy]

    async def aclose(self) -> None:
        """Close the direct transport and every proxy's."""
        for transport in (self._direct, *self._through.values()):
            await transport.aclose()

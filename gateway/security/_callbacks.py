"""Where a callback may go: the policy that keeps a service request's ``callback_url`` from reaching the
gateway's own network.

A webhook is a request the gateway makes on a client's behalf, so an unchecked URL would let any client reach
what only the gateway can: its loopback (the mocks' control routes, a sidecar's admin port), the private
network, a cloud's metadata address. The policy, checked when a request is accepted and again at every
delivery:

- ``https`` only; plain ``http`` when the operator allows it (``MPP_CALLBACK_ALLOW_HTTP``, the demo).
- No credentials in the URL (``user:pass@``).
- The URL's origin (``scheme://host[:port]``) is one of the client's ``callback_origins`` in the clients file:
  a client with none receives no callbacks.
- The host, written as an address in any spelling (``127.1``, ``2130706433``, ``0x7f000001``, ``[::1]``,
  ``[::ffff:127.0.0.1]``, a trailing dot) or named ``localhost`` / ``*.localhost``, is refused when it is not a
  public address: loopback, private, link-local, shared (CGNAT), multicast, unspecified or reserved, also when
  wrapped in an IPv6 form that carries an IPv4 address (mapped, NAT64, 6to4, Teredo). Networks the operator
  lists (``MPP_CALLBACK_ALLOW_NETWORKS``, say the MPP's LAN) are allowed; multicast and unspecified never are.
- At delivery the host is resolved once; every address it resolves to must pass, and the connection goes to the
  address that was checked (:meth:`CallbackPolicy.pinned_address`), so a name cannot change its answer between
  the check and the connect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

import httpx

from ..config import Settings
from ._origins import origin_list

__all__ = [
    "CallbackPolicy",
    "CallbackRefused",
    "Resolver",
    "address_refusal",
    "ascii_host",
    "callback_origin",
    "client_callback_origins",
    "literal_address",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Resolves ``(host, port)`` to the addresses a connection could go to, as text.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class CallbackRefused(ValueError):
    """A callback URL, or an address its host resolves to, that the policy does not allow; the message says why
    without repeating the URL."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host`` (``getaddrinfo``, without blocking the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _ipv4_part(text: str) -> int:
    """One part of an IPv4 address as URL parsers read it: decimal, ``0x`` hex or ``0``-led octal."""
    if text[:2] in ("0x", "0X"):
        return int(text[2:] or "0", 16)
    if len(text) > 1 and text.startswith("0"):
        return int(text[1:], 8)
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``: the shorthand spellings ``inet_aton`` and the
    WHATWG URL parser accept, or ``None`` for a name."""
    parts = host.split(".")
    if len(parts) > 4 or not all(parts):
        return None
    try:
        numbers = [_ipv4_part(part) for part in parts]
    except ValueError:
        return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any spelling (brackets, a trailing dot, IPv4 shorthand), or ``None``."""
    text = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return _legacy_ipv4(text)


def _is_localhost(host: str) -> bool:
    name = host.strip().lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to the IPv4 network: mapped, NAT64, 6to4 or Teredo (the client)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _class_of(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is, or ``None`` for a public one."""
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


def _an(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind + " address"


def address_refusal(address: IPAddress | str, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why a callback may not connect to ``address`` (``"loopback"``, ``"private"``, ``"unspecified"``, ...), or
    ``None``."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        # A mapped or NAT64 address stands for the IPv4 one (DNS64 gives every IPv4-only receiver such a name);
        # a tunnel's must pass both ways.
        candidates = [inner] if ip.ipv4_mapped is not None or ip in _NAT64 else [inner, ip]
    allowed = tuple(allowed)
    for candidate in candidates:
        if candidate.is_unspecified:
            return "unspecified"
        if candidate.is_multicast:
            return "multicast"
        if any(candidate.version == net.version and candidate in net for net in allowed):
            continue
        if (kind := _class_of(candidate)) is not None:
            return kind
    return None


def _canonical_host(host: str) -> str:
    ip = literal_address(host)
    if ip is not None:
        return f"[{ip}]" if ip.version == 6 else str(ip)
    return host.strip().lower().rstrip(".")


def ascii_host(url: httpx.URL) -> str:
    """The URL's host as DNS and TLS take it: an internationalized name in its ASCII (punycode) form."""
    return url.raw_host.decode("ascii")


def _origin_of(url: httpx.URL) -> str:
    """``scheme://host[:port]``, the scheme's default port left out, the host as :func:`literal_address` reads it."""
    port = url.port if url.port not in (None, _DEFAULT_PORTS.get(url.scheme)) else None
    return f"{url.scheme}://{_canonical_host(ascii_host(url))}" + (f":{port}" if port is not None else "")


def callback_origin(text: str) -> str:
    """An origin of the clients file's ``callback_origins`` in canonical form (``https://hooks.example.org``,
    ``http://192.168.10.5:8080``); :class:`ValueError` saying what is wrong for anything but scheme://host[:port]."""
    if "*" in text:
        raise ValueError("must be an exact origin, not a wildcard")
    try:
        url = httpx.URL(text.strip())
    except httpx.InvalidURL:
        raise ValueError("is not a URL") from None
    if url.scheme not in _DEFAULT_PORTS or not url.host:
        raise ValueError("must be scheme://host[:port] with scheme http or https")
    if url.userinfo:
        raise ValueError("must not carry user information")
    if url.raw_path not in (b"", b"/") or url.fragment:
        raise ValueError("must be scheme://host[:port] with nothing after it")
    return _origin_of(url)


def client_callback_origins(entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``callback_origins`` of a clients-file entry, each as :func:`callback_origin` writes it;
    :class:`ValueError` naming the client and the entry."""
    return origin_list(entry, "callback_origins", callback_origin)


def _networks(text: str) -> tuple[IPNetwork, ...]:
    networks = []
    for item in text.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"MPP_CALLBACK_ALLOW_NETWORKS: {item.strip()!r} is not a network") from exc
    return tuple(networks)


@dataclasses.dataclass(frozen=True)
class CallbackPolicy:
    """The rules a callback URL and the addresses of its host must pass (module docstring)."""

    #: Plain ``http`` callbacks allowed (the demo, a test); off, ``https`` only.
    allow_http: bool = False
    #: Networks a callback may reach although they are not public (an MPP's LAN; loopback in the demo).
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackPolicy:
        """The policy ``MPP_CALLBACK_ALLOW_HTTP`` and ``MPP_CALLBACK_ALLOW_NETWORKS`` (CIDRs, comma-separated)
        set; a :class:`ValueError` for a network that does not parse."""
        return cls(settings.callback_allow_http, _networks(settings.callback_allow_networks))

    def check(self, url: str, origins: Collection[str]) -> httpx.URL:
        """The parsed ``url`` when a callback may go there for a client with ``origins``; else
        :class:`CallbackRefused` saying why. Only what the URL says is checked: :meth:`pinned_address` checks what
        its host resolves to."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise CallbackRefused("is not a valid URL") from None
        if parsed.scheme != "https" and not (self.allow_http and parsed.scheme == "http"):
            raise CallbackRefused("must use https")
        host = ascii_host(parsed)
        if not host:
            raise CallbackRefused("has no host")
        if parsed.userinfo:
            raise CallbackRefused("must not carry credentials (user:password@)")
        ip = literal_address(host)
        if ip is None and _is_localhost(host):
            ip = ipaddress.IPv4Address("127.0.0.1")
        if ip is not None and (kind := address_refusal(ip, self.allowed_networks)) is not None:
            raise CallbackRefused(f"points at {_an(kind)}")
        if not origins:
            raise CallbackRefused("this client has no callback origins registered")
        if _origin_of(parsed) not in origins:
            raise CallbackRefused("is not at one of this client's callback origins")
        return parsed

    async def pinned_address(self, host: str, port: int, resolver: Resolver = system_resolver) -> str:
        """Resolve ``host`` once and return the address to connect to; :class:`CallbackRefused` when any address
        it resolves to is not allowed (``OSError`` when it does not resolve)."""
        ip = literal_address(host)
        addresses = [str(ip)] if ip is not None else await resolver(host.rstrip("."), port)
        if not addresses:
            raise OSError(f"no address for the callback host {host!r}")
        for address in addresses:
            if (kind := address_refusal(address, self.allowed_networks)) is not None:
                raise CallbackRefused(f"has a host that resolves to {address}, {_an(kind)}")
        return addresses[0]

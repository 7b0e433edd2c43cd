"""The callback policy: which URLs a ``callback_url`` may name and which addresses a delivery may connect to."""

from __future__ import annotations

import ipaddress

import pytest

from gateway import Settings
from gateway.security import CallbackPolicy, CallbackRefused, ClientDirectory, Resolver, callback_origin


def origin_of(url: str) -> str:
    """The canonical origin of ``url``, as a clients file listing it would hold it."""
    return callback_origin("/".join(url.split("/", 3)[:3]))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost/hook", "loopback"),
        ("https://LocalHost./hook", "loopback"),
        ("https://api.localhost/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://[::]/hook", "unspecified"),
        ("https://2130706433/hook", "loopback"),
        ("https://0x7f000001/hook", "loopback"),
        ("https://127.1/hook", "loopback"),
        ("https://0x7f.1/hook", "loopback"),
        ("https://127.0.0.1./hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[::ffff:7f00:1]/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://172.16.0.1/hook", "private"),
        ("https://192.168.1.10/hook", "private"),
        ("https://[fc00::1]/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://100.64.0.1/hook", "non-public"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://[ff02::1]/hook", "multicast"),
        ("https://240.0.0.1/hook", "reserved"),
        ("https://[64:ff9b::a00:1]/hook", "private"),  # NAT64 of 10.0.0.1
        ("https://[64:ff9b::7f00:1]/hook", "loopback"),  # NAT64 of 127.0.0.1
        ("https://[2002:7f00:1::1]/hook", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused_in_every_spelling(url: str, why: str) -> None:
    """A host that spells a loopback, private, link-local, multicast, unspecified or reserved address is refused,
    whatever the spelling, even when the client lists that very origin."""
    with pytest.raises(CallbackRefused, match=f"an? {why} address"):
        CallbackPolicy().check(url, {origin_of(url)})


@pytest.mark.parametrize("url", ["https://hooks.example.org/mpp", "https://93.184.216.34/mpp",
                                 "https://[2606:4700:4700::1111]/mpp", "https://[64:ff9b::5db8:d822]/mpp"])  # fmt: skip
def test_a_public_https_callback_at_a_listed_origin_passes(url: str) -> None:
    """An https URL at a public host among the client's origins passes; the parsed URL is returned."""
    assert CallbackPolicy().check(url, {origin_of(url)}).path == "/mpp"


def test_plain_http_only_when_allowed() -> None:
    """``http`` is refused unless the policy allows it; allowed, the same URL passes."""
    url, origins = "http://hooks.example.org/mpp", {"http://hooks.example.org"}
    with pytest.raises(CallbackRefused, match="must use https"):
        CallbackPolicy().check(url, origins)
    assert CallbackPolicy(allow_http=True).check(url, origins).host == "hooks.example.org"


def test_credentials_in_the_url_are_refused() -> None:
    """``user:password@`` in a callback URL is refused."""
    with pytest.raises(CallbackRefused, match="credentials"):
        CallbackPolicy().check("https://user:secret@hooks.example.org/mpp", {"https://hooks.example.org"})


@pytest.mark.parametrize(
    ("url", "origins", "why"),
    [
        ("https://hooks.example.org/mpp", set(), "no callback origins"),
        ("https://other.example.org/mpp", {"https://hooks.example.org"}, "not at one of"),
        ("https://hooks.example.org:8443/mpp", {"https://hooks.example.org"}, "not at one of"),
        ("http://hooks.example.org/mpp", {"https://hooks.example.org"}, "not at one of"),
        ("https://evil.hooks.example.org/mpp", {"https://hooks.example.org"}, "not at one of"),
    ],
)
def test_a_callback_outside_the_clients_origins_is_refused(url: str, origins: set[str], why: str) -> None:
    """Only the exact origins (scheme, host, port) of the client are allowed; a client without any gets none."""
    with pytest.raises(CallbackRefused, match=why):
        CallbackPolicy(allow_http=True).check(url, origins)


def test_origins_match_whatever_the_spelling() -> None:
    """Upper case, a trailing dot and the default port spelled out name the same origin."""
    origins = {callback_origin("https://Hooks.Example.org:443")}
    assert origins == {"https://hooks.example.org"}
    assert CallbackPolicy().check("https://HOOKS.example.org./mpp", origins)


def test_operator_networks_allow_a_lan_but_never_unspecified_or_multicast() -> None:
    """An allowed network lets a callback reach it (an MPP's LAN); 0.0.0.0 and multicast stay refused."""
    everything = ipaddress.ip_network("0.0.0.0/0")
    policy = CallbackPolicy(allowed_networks=(ipaddress.ip_network("192.168.10.0/24"), everything))
    assert policy.check("https://192.168.10.5/hook", {"https://192.168.10.5"})
    for url in ("https://0.0.0.0/hook", "https://224.0.0.1/hook"):
        with pytest.raises(CallbackRefused):
            policy.check(url, {origin_of(url)})


def test_the_settings_make_the_policy_and_a_bad_network_stops_the_start() -> None:
    """``MPP_CALLBACK_ALLOW_HTTP`` and ``MPP_CALLBACK_ALLOW_NETWORKS`` build the policy; a bad CIDR is an error."""
    settings = Settings.from_env({"MPP_CALLBACK_ALLOW_HTTP": "true", "MPP_CALLBACK_ALLOW_NETWORKS": "10.8.0.0/16, ::1"})
    policy = CallbackPolicy.from_settings(settings)
    assert policy.allow_http
    assert policy.allowed_networks == (ipaddress.ip_network("10.8.0.0/16"), ipaddress.ip_network("::1/128"))
    assert CallbackPolicy.from_settings(Settings()) == CallbackPolicy()
    with pytest.raises(ValueError, match="MPP_CALLBACK_ALLOW_NETWORKS"):
        CallbackPolicy.from_settings(Settings(callback_allow_networks="10.8.0.0/33"))


@pytest.mark.parametrize(
    "origin", ["https://hooks.example.org/path", "https://hooks.example.org?x=1", "ftp://hooks.example.org",
               "https://user:pw@hooks.example.org", "https://*.example.org", "hooks.example.org"],
)  # fmt: skip
def test_the_clients_file_refuses_an_origin_that_is_not_one(origin: str) -> None:
    """``callback_origins`` entries must be scheme://host[:port]; anything else stops loading, naming the client."""
    with pytest.raises(ValueError, match=r"client 'c': callback_origins\[0\]"):
        ClientDirectory.from_data({"clients": [{"id": "c", "callback_origins": [origin]}]})


def test_the_clients_file_loads_callback_origins_canonically() -> None:
    """The clients file's ``callback_origins`` become the client's, canonical and without repeats."""
    listed = ["https://Hooks.example.org:443", "https://hooks.example.org", "http://192.168.10.5:8080"]
    directory = ClientDirectory.from_data({"clients": [{"id": "c", "callback_origins": listed}]})
    assert directory.clients["c"].callback_origins == ("https://hooks.example.org", "http://192.168.10.5:8080")
    assert ClientDirectory.from_data({"clients": [{"id": "d"}]}).clients["d"].callback_origins == ()


async def test_every_resolved_address_must_be_allowed() -> None:
    """One disallowed address among the resolved ones refuses the host; the lookup is made once."""
    lookups: list[tuple[str, int]] = []

    def resolver(answer: list[str]) -> Resolver:
        async def resolve(host: str, port: int) -> list[str]:
            lookups.append((host, port))
            return answer

        return resolve

    policy = CallbackPolicy()
    with pytest.raises(CallbackRefused, match=r"resolves to 10\.0\.0\.7, a private address"):
        await policy.pinned_address("hooks.example.org", 443, resolver(["93.184.216.34", "10.0.0.7"]))
    with pytest.raises(CallbackRefused, match="a loopback address"):
        await policy.pinned_address("hooks.example.org", 443, resolver(["::ffff:127.0.0.1"]))
    pinned = await policy.pinned_address("hooks.example.org.", 443, resolver(["93.184.216.34", "2606:4700::1"]))
    assert pinned == "93.184.216.34"
    assert lookups == [("hooks.example.org", 443)] * 3


async def test_an_address_literal_is_not_looked_up() -> None:
    """A host written as an address is checked as such, with no lookup."""

    async def resolver(host: str, port: int) -> list[str]:
        raise AssertionError("no lookup expected")

    assert await CallbackPolicy().pinned_address("93.184.216.34", 443, resolver) == "93.184.216.34"
    with pytest.raises(CallbackRefused, match="loopback"):
        await CallbackPolicy().pinned_address("127.0.0.1", 443, resolver)

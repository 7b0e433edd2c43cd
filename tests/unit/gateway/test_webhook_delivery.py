"""Delivering a webhook under the callback policy: resolved once, every address checked, sent to the checked one."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx
import pytest

from adapters import ProxySettings
from gateway import Client
from gateway.dispatch import WebhookSender
from gateway.security import CallbackPolicy, Resolver, callback_origin
from gateway.store import Webhook

ORIGINS = ("https://hooks.example.org", "https://hooks.example.org:8443")


class Outbox:
    """A webhook outbox that records each try."""

    def __init__(self) -> None:
        self.tries: list[dict[str, Any]] = []

    async def due_webhooks(self, limit: int) -> list[Webhook]:
        return []

    async def webhook_tried(self, webhook_id: str, *, delivered: bool, next_at: float, error: str | None) -> None:
        self.tries.append({"id": webhook_id, "delivered": delivered, "next_at": next_at, "error": error})


class Resolved:
    """A resolver with a fixed answer per host, counting the lookups."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


def webhook(url: str) -> Webhook:
    return Webhook(id="evt_1", request_id="req_1", client_id="c", url=url, body='{"status":"completed"}', attempts=0)


def sender(
    resolver: Resolver,
    sent: list[httpx.Request],
    *,
    origins: tuple[str, ...] = ORIGINS,
    policy: CallbackPolicy | None = None,
    proxies: ProxySettings | None = None,
) -> tuple[WebhookSender, Outbox]:
    def receive(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    outbox = Outbox()
    client = Client("c", "C", frozenset(), webhook_secret="whsec", callback_origins=origins)
    return WebhookSender(outbox, httpx.MockTransport(receive), {"c": client}, policy=policy, proxies=proxies,
                         resolver=resolver), outbox  # fmt: skip


async def test_a_delivery_goes_to_the_checked_address_with_the_host_name_kept() -> None:
    """The host is resolved once; the request goes to that address, with Host and the TLS name the host's."""
    resolver, sent = Resolved({"hooks.example.org": ["93.184.216.34", "2606:2800:220:1::1"]}), []
    webhooks, outbox = sender(resolver, sent)
    assert await webhooks.deliver(webhook("https://hooks.example.org:8443/mpp?desk=7"))
    [request] = sent
    assert str(request.url) == "https://93.184.216.34:8443/mpp?desk=7"
    assert request.headers["Host"] == "hooks.example.org:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.org"
    assert resolver.lookups == [("hooks.example.org", 8443)]
    assert outbox.tries[0]["delivered"] and outbox.tries[0]["error"] is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (["93.184.216.34", "10.0.0.7"], "resolves to 10.0.0.7, a private address"),
        (["127.0.0.1"], "resolves to 127.0.0.1, a loopback address"),
        (["::ffff:169.254.169.254"], "a link-local address"),
        (["0.0.0.0"], "an unspecified address"),  # noqa: S104 - an address a host resolves to, not a bind
    ],
)
async def test_a_host_resolving_to_a_disallowed_address_is_refused_without_connecting(
    answer: list[str], reason: str
) -> None:
    """If any address the host resolves to is not allowed, nothing is sent and the delivery is given up, saying
    why."""
    sent: list[httpx.Request] = []
    webhooks, outbox = sender(Resolved({"hooks.example.org": answer}), sent)
    assert not await webhooks.deliver(webhook("https://hooks.example.org/mpp"))
    assert sent == []
    [attempt] = outbox.tries
    assert reason in attempt["error"] and attempt["error"].startswith("refused: ")
    assert attempt["next_at"] >= 1e12  # given up: no retry will change what the policy says


async def test_an_operator_network_lets_a_lan_receiver_through() -> None:
    """A receiver on a network the operator allows (an MPP's LAN) gets its webhook."""
    sent: list[httpx.Request] = []
    policy = CallbackPolicy(allowed_networks=(ipaddress.ip_network("192.168.10.0/24"),))
    webhooks, _ = sender(Resolved({"hooks.mpp.lan": ["192.168.10.5"]}), sent, origins=("https://hooks.mpp.lan",),
                         policy=policy)  # fmt: skip
    assert await webhooks.deliver(webhook("https://hooks.mpp.lan/mpp"))
    assert sent[0].url.host == "192.168.10.5"


@pytest.mark.parametrize(
    ("url", "origins", "reason"),
    [
        ("https://hooks.example.org/mpp", (), "no callback origins"),  # the client's origins were emptied
        ("https://old.example.org/mpp", ORIGINS, "not at one of this client's callback origins"),
        ("http://hooks.example.org/mpp", ("http://hooks.example.org",), "must use https"),  # http since disabled
        ("https://127.0.0.1/mpp", ("https://127.0.0.1",), "a loopback address"),
    ],
)
async def test_the_url_is_checked_again_at_delivery(url: str, origins: tuple[str, ...], reason: str) -> None:
    """A webhook queued before the settings or the client's origins changed is checked against today's policy."""
    resolver, sent = Resolved({}), []
    webhooks, outbox = sender(resolver, sent, origins=origins)
    assert not await webhooks.deliver(webhook(url))
    assert sent == [] and resolver.lookups == []
    assert reason in outbox.tries[0]["error"]


async def test_a_host_that_does_not_resolve_is_retried() -> None:
    """A failed lookup is an ordinary failure: recorded and tried again later, not given up."""
    sent: list[httpx.Request] = []
    webhooks, outbox = sender(Resolved({}), sent)
    assert not await webhooks.deliver(webhook("https://hooks.example.org/mpp"))
    assert sent == []
    assert outbox.tries[0]["error"] == "the callback host did not resolve"
    assert outbox.tries[0]["next_at"] < 1e12


async def test_through_a_proxy_the_host_is_checked_and_the_proxy_is_given_the_name() -> None:
    """With a proxy for the URL, the host must still resolve to allowed addresses; the request names the host."""
    proxies = ProxySettings(https="http://proxy.mpp.lan:3128")
    resolver, sent = Resolved({"hooks.example.org": ["93.184.216.34"], "evil.example.org": ["10.0.0.1"]}), []
    webhooks, outbox = sender(resolver, sent, origins=("https://hooks.example.org", "https://evil.example.org"),
                              proxies=proxies)  # fmt: skip
    assert await webhooks.deliver(webhook("https://hooks.example.org/mpp"))
    assert str(sent[0].url) == "https://hooks.example.org/mpp"
    assert not await webhooks.deliver(webhook("https://evil.example.org/mpp"))
    assert len(sent) == 1
    assert "10.0.0.1, a private address" in outbox.tries[1]["error"]
    assert resolver.lookups == [("hooks.example.org", 443), ("evil.example.org", 443)]


async def test_an_internationalized_host_is_resolved_and_named_in_its_ascii_form() -> None:
    """A host like ``bücher.example`` is looked up, sent in Host and asked for in TLS as ``xn--bcher-kva.example``."""
    resolver, sent = Resolved({"xn--bcher-kva.example": ["93.184.216.34"]}), []
    webhooks, _ = sender(resolver, sent, origins=(callback_origin("https://Bücher.example"),))
    assert await webhooks.deliver(webhook("https://xn--bcher-kva.example/mpp"))
    assert resolver.lookups == [("xn--bcher-kva.example", 443)]
    assert sent[0].headers["Host"] == sent[0].extensions["sni_hostname"] == "xn--bcher-kva.example"

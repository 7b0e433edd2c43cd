"""A webhook over real TLS sockets: sent to the address that was checked, yet verified and named as its host."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from httpx_aiohttp import AiohttpTransport

from gateway import Client
from gateway.dispatch import WebhookSender
from gateway.security import CallbackPolicy
from gateway.store import Webhook

LOOPBACK = CallbackPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))


def certificate(name: str, folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Receiver:
    """An https receiver on 127.0.0.1 that records what reached it: the TLS name asked for, and each request."""

    def __init__(self) -> None:
        self.server_names: list[str | None] = []
        self.requests: list[dict[str, Any]] = []
        self.port = 0


@pytest.fixture
async def receiver(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Receiver]:
    """The receiver, serving the certificate of the name the test is parametrized with."""
    cert, key = certificate(request.param, tmp_path)
    seen = Receiver()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen.server_names.append(name)  # type: ignore[assignment,func-returns-value]

    async def hook(req: web.Request) -> web.Response:
        seen.requests.append({"host": req.headers.get("Host"), "event": req.headers.get("X-MPP-Event-Id")})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    seen.port = runner.addresses[0][1]
    try:
        yield seen
    finally:
        await runner.cleanup()


async def deliver(receiver: Receiver, trusted: Path) -> tuple[bool, list[dict[str, Any]]]:
    """Deliver one webhook for ``https://hooks.test:<port>/hook``, ``hooks.test`` resolving to 127.0.0.1 only."""
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    tries: list[dict[str, Any]] = []

    class Outbox:
        async def due_webhooks(self, limit: int) -> list[Webhook]:
            return []

        async def webhook_tried(self, webhook_id: str, *, delivered: bool, next_at: float, error: str | None) -> None:
            tries.append({"delivered": delivered, "error": error})

    transport = AiohttpTransport(verify=ssl.create_default_context(cafile=str(trusted)))
    origin = f"https://hooks.test:{receiver.port}"
    client = Client("c", "C", frozenset(), webhook_secret="whsec", callback_origins=(origin,))
    sender = WebhookSender(Outbox(), transport, {"c": client}, policy=LOOPBACK, resolver=resolver, timeout=5)
    try:
        url = f"{origin}/hook"
        webhook = Webhook(id="evt_1", request_id="req_1", client_id="c", url=url, body='{"ok":true}', attempts=0)
        delivered = await sender.deliver(webhook)
    finally:
        await transport.aclose()
    assert lookups == ["hooks.test"]
    return delivered, tries


@pytest.mark.parametrize("receiver", ["hooks.test"], indirect=True)
async def test_the_webhook_reaches_the_checked_address_verified_as_its_host(receiver: Receiver,
                                                                            tmp_path: Path) -> None:  # fmt: skip
    """Connected to 127.0.0.1 (the address checked), TLS asks for and verifies ``hooks.test``, Host names it."""
    delivered, tries = await deliver(receiver, tmp_path / "hooks.test.crt")
    assert delivered, tries
    assert receiver.server_names == ["hooks.test"]
    [request] = receiver.requests
    assert request["host"] == f"hooks.test:{receiver.port}"
    assert request["event"] == "evt_1"


@pytest.mark.parametrize("receiver", ["other.test"], indirect=True)
async def test_a_certificate_for_another_name_is_refused(receiver: Receiver, tmp_path: Path) -> None:
    """A receiver whose certificate does not name the callback's host gets nothing: pinning keeps verification."""
    delivered, tries = await deliver(receiver, tmp_path / "other.test.crt")
    assert not delivered
    assert receiver.requests == []
    assert "Certificate" in tries[0]["error"]

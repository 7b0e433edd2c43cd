"""``mpp-gateway``: serve the gateway, run the mock agencies, run both as a demo, print the OpenAPI document,
show or upgrade the store's schema, show the queue and search requests in the store (``status``, ``requests``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import secrets
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from .. import build_app, build_registry, build_transport, placeholder_settings
from ..audit import add_audit_parser, audit_command, new_keys
from ..config import AgencyConfig, Settings
from ..http import build_openapi, inbound_routes
from ..problems import BUILTIN_PROBLEMS, ProblemCatalog
from ..security import Client, ClientDirectory, callback_origin, generate_key, hash_key
from ..store import StoreError, describe, generate_data_key, kept_secret, schema_status, upgrade
from ..telemetry import Telemetry, TelemetrySettings, configure_logging
from ._ops import add_ops_parsers, requests_command, status_command
from ._runtime import GatewayRunner, settle_heap
from ._workers import supervise

__all__ = ["DEMO_MPP", "DemoClients", "demo_callbacks", "demo_clients", "main", "serve_app", "with_demo_keys"]


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    started: Callable[[], Awaitable[None]] | None,
    *,
    reuse_port: bool = False,
) -> None:
    runner = GatewayRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
        # Everything loaded to start (modules, models, the store, the registry) is kept out of later collections.
        settle_heap()
        if started is not None:
            await started()
        await _until_signalled()
    finally:
        await runner.cleanup()


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env(os.environ)
        configure_logging(settings.log_level)
        if not settings.clients_file:
            print("set MPP_CLIENTS_FILE to the clients file (see README: 'Running it for real')", file=sys.stderr)
            return 2
        workers = args.workers if args.workers is not None else settings.workers
        if workers < 1:
            raise ValueError("MPP_WORKERS must be at least 1")
        if args.worker is None and workers > 1:
            return _supervise(args, settings, workers)
        clients = ClientDirectory.from_file(settings.clients_file)
        app = build_app(settings, clients=clients, telemetry=Telemetry(TelemetrySettings.from_env(os.environ)))
    except (OSError, ValueError, LookupError) as exc:
        # Configuration errors name the setting; they never carry a secret's value.
        print(f"mpp-gateway: cannot start: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.host
    port = args.port or settings.port
    worker = "" if args.worker is None else f" (worker {args.worker})"

    async def started() -> None:
        print(f"mpp-gateway listening on http://{host}:{port}{worker}", file=sys.stderr, flush=True)

    try:
        asyncio.run(serve_app(app, host, port, started, reuse_port=args.worker is not None))
    except StoreError as exc:
        # A schema behind the code, or no database server: say which and how to fix it, without a traceback.
        print(f"mpp-gateway: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


def _supervise(args: argparse.Namespace, settings: Settings, workers: int) -> int:
    """Several workers on one port; the embedded store's schema is applied once, before any of them opens it."""
    if not settings.store_dsn:
        try:
            asyncio.run(upgrade(settings))
        except (sqlite3.Error, StoreError) as exc:
            print(f"mpp-gateway: cannot start: {exc}", file=sys.stderr)
            return 2
    argv = ["serve"]
    if args.host:
        argv += ["--host", args.host]
    if args.port:
        argv += ["--port", str(args.port)]
    environ = dict(os.environ)
    if not (settings.stream_token_key or settings.stream_token_key_file):
        # One key for all workers: a stream token issued by one is taken by whichever the stream reaches.
        environ["MPP_STREAM_TOKEN_KEY"] = secrets.token_urlsafe(32)
    return supervise(workers, argv, environ, grace_seconds=settings.shutdown_grace_seconds)


def _cmd_db(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env(os.environ)
    except (OSError, ValueError) as exc:
        print(f"mpp-gateway db {args.action}: {exc}", file=sys.stderr)
        return 2
    store = describe(settings)
    try:
        if args.action == "upgrade":
            applied = asyncio.run(upgrade(settings))
            done = ", ".join(map(str, applied)) if applied else "nothing to apply"
            print(f"{store}: applied {done}")
        status = asyncio.run(schema_status(settings))
    except (StoreError, sqlite3.Error, OSError) as exc:
        print(f"mpp-gateway db {args.action}: {store}: {exc}", file=sys.stderr)
        return 2
    pending = ", ".join(map(str, status.pending)) or "none"
    print(f"{store}: schema version {status.current}; pending migrations: {pending}")
    # ``db status`` exits 1 while migrations are pending, so a script or an init container can wait on it.
    return 1 if status.pending else 0


def _cmd_mocks(args: argparse.Namespace) -> int:
    from mocks import start_mocks

    configure_logging(os.environ.get("MPP_LOG_LEVEL", "info"))

    async def run() -> None:
        cluster = await start_mocks(args.host, _mock_ports(args))
        try:
            lines = []
            for agency in cluster.agencies.values():
                for key, value in agency.settings.items():
                    if key == "base_url" and args.public_host:
                        value = value.replace(f"//{args.host}:", f"//{args.public_host}:", 1)
                    lines.append(f"MPP_AGENCY__{agency.name.upper().replace('-', '_')}__{key.upper()}={value}")
            if args.write_settings:
                target = Path(args.write_settings)
                partial = target.with_suffix(".partial")
                partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
                partial.replace(target)
            print("Mock agencies are running. Gateway settings for them:", flush=True)
            for line in lines:
                print(line, flush=True)
            print("Mock agencies are ready.", flush=True)
            await _until_signalled()
        finally:
            await cluster.aclose()

    asyncio.run(run())
    return 0


def _mock_ports(args: argparse.Namespace) -> dict[str, int] | None:
    """Every mock on a free port with ``--ephemeral-mock-ports``; their documented ports otherwise."""
    if not args.ephemeral_mock_ports:
        return None
    from mocks import AGENCY_PORTS

    return dict.fromkeys(AGENCY_PORTS, 0)


#: The MPP the demo's second client is bound to: its key gets ``403`` for any other ``counter.mpp_id``.
DEMO_MPP = "mpp-demo"
#: Where the demo's clients may receive callbacks, unless ``MPP_DEMO_CALLBACK_ORIGINS`` lists others.
DEMO_CALLBACK_ORIGINS = "http://127.0.0.1:9000,http://localhost:9000"
DEMO_CALLBACK_NETWORKS = "127.0.0.0/8,::1/128"


@dataclasses.dataclass(frozen=True)
class DemoClients:
    """The demo's two clients and their secrets, as the banner shows them."""

    #: Key of ``demo-counter``: a regional counter app, every service, any MPP, webhooks signed with the secret.
    key: str
    webhook_secret: str
    #: Key of ``demo-desk``: a counter app of :data:`DEMO_MPP` only.
    mpp_key: str
    clients: tuple[Client, ...]
    #: Key of ``demo-ops``: the operations console's (role ``ops``: every request, masked; no service).
    ops_key: str = ""


def demo_clients(settings: Settings) -> DemoClients:
    """The demo's clients: keys and webhook secret from ``MPP_DEMO_KEY``, ``MPP_DEMO_MPP_KEY``, ``MPP_DEMO_OPS_KEY``
    and ``MPP_DEMO_WEBHOOK_SECRET``, else made on first start and kept beside the database, so a restart keeps
    them."""
    beside = Path(settings.store_path)

    def secret(variable: str, suffix: str, make: Callable[[], str]) -> str:
        return os.environ.get(variable) or kept_secret(beside.with_name(beside.name + suffix), make)

    key = secret("MPP_DEMO_KEY", ".demo-key", generate_key)
    mpp_key = secret("MPP_DEMO_MPP_KEY", ".demo-mpp-key", generate_key)
    ops_key = secret("MPP_DEMO_OPS_KEY", ".demo-ops-key", generate_key)
    webhook_secret = secret("MPP_DEMO_WEBHOOK_SECRET", ".demo-webhook-secret", lambda: secrets.token_urlsafe(32))
    listed = os.environ.get("MPP_DEMO_CALLBACK_ORIGINS") or DEMO_CALLBACK_ORIGINS
    try:
        origins = tuple(callback_origin(origin) for origin in listed.split(",") if origin.strip())
    except ValueError as exc:
        raise ValueError(f"MPP_DEMO_CALLBACK_ORIGINS: an origin {exc}") from None
    clients = (
        Client(
            id="demo-counter", name="Demo counter app (any MPP)", key_hashes=frozenset({hash_key(key)}),
            webhook_secret=webhook_secret, callback_origins=origins,
        ),
        Client(
            id="demo-desk", name=f"Demo counter app of {DEMO_MPP}", key_hashes=frozenset({hash_key(mpp_key)}),
            mpp_id=DEMO_MPP, webhook_secret=webhook_secret, callback_origins=origins,
        ),
        Client(
            id="demo-ops", name="Demo operations console", key_hashes=frozenset({hash_key(ops_key)}), services=(),
            roles=frozenset({"ops"}),
        ),
    )  # fmt: skip
    return DemoClients(key, webhook_secret, mpp_key, clients, ops_key)


def demo_callbacks(settings: Settings) -> dict[str, Any]:
    """The demo's callback settings: plain http, and loopback (where its receivers run) beside the configured
    networks; never what ``serve`` does unless configured."""
    networks = ",".join(n for n in (settings.callback_allow_networks, DEMO_CALLBACK_NETWORKS) if n)
    return {"callback_allow_http": True, "callback_allow_networks": networks}


def _demo_banner(host: str, port: int, demo: DemoClients, sample: Any) -> str:
    key = demo.key
    body = {
        "service": "dukcapil.nik.verify",
        "applicant": {"nik": sample.nik},
        "counter": {"mpp_id": "mpp-demo", "desk": "loket-01", "operator": "op-001"},
        "payload": {"full_name": sample.full_name, "birth_date": sample.birth_date.isoformat()},
    }
    return "\n".join(
        [
            "",
            f"MPP Integration Gateway (demo) on http://{host}:{port}   docs: http://{host}:{port}/docs",
            f"Demo client API key: {key}   (MPP_DEMO_KEY; any MPP; webhook secret: MPP_DEMO_WEBHOOK_SECRET)",
            f"Demo client of {DEMO_MPP} only: {demo.mpp_key}   (MPP_DEMO_MPP_KEY; another counter.mpp_id gets 403)",
            f"Webhook secret (X-MPP-Signature HMAC key): {demo.webhook_secret}",
            f"Ops console: http://{host}:{port}/console",
            f"Ops console key: {demo.ops_key}   (MPP_DEMO_OPS_KEY; role ops: every request, masked)",
            f"Callbacks (callback_url) go to {', '.join(demo.clients[0].callback_origins)} only "
            "(MPP_DEMO_CALLBACK_ORIGINS); plain http and loopback are allowed in the demo alone.",
            "Synthetic citizens: GET the mock's /_control/citizens (see README).",
            "Try:",
            f"  curl -s -X POST http://{host}:{port}/v1/requests \\",
            f"    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' -H 'Prefer: wait=10' \\",
            f"    -d '{orjson.dumps(body).decode()}'",
            "Ctrl-C stops everything.",
            "",
        ]
    )


def with_demo_keys(settings: Settings) -> Settings:
    """The demo's keys, each kept beside its database unless configured: a restart still opens the rows sealed
    before and extends the same audit chain, and ``audit verify`` can check it (README, "Audit log")."""
    beside = Path(settings.store_path)

    def kept(suffix: str, make: Callable[[], str]) -> str:
        return kept_secret(beside.with_name(beside.name + suffix), make)

    if not (settings.data_keys or settings.data_keys_file):
        settings = dataclasses.replace(settings, data_keys=kept(".data-keys", generate_data_key))
    if not (settings.audit_key or settings.audit_key_file):
        settings = dataclasses.replace(settings, audit_key=kept(".audit-key", lambda: new_keys()["audit_key"]))
    if not (settings.audit_signing_key or settings.audit_signing_key_file):
        settings = dataclasses.replace(
            settings, audit_signing_key=kept(".audit-signing-key", lambda: new_keys()["signing_key"])
        )
    return settings


def _cmd_demo(args: argparse.Namespace) -> int:
    from mocks import start_mocks

    settings = with_demo_keys(Settings.from_env(os.environ))
    host = args.host or settings.host
    port = args.port or settings.port
    configure_logging(settings.log_level)

    async def run() -> None:
        cluster = await start_mocks(host, _mock_ports(args))
        try:
            agencies = {name: AgencyConfig.from_values(agency.settings) for name, agency in cluster.agencies.items()}
            configured = {**agencies, **settings.agencies}
            # Installed adapters without a mock or settings (a third-party one, say) are left out of the demo.
            enabled = settings.adapters or tuple(sorted(configured))
            demo_settings = dataclasses.replace(
                settings, host=host, port=port, agencies=configured, adapters=enabled, **demo_callbacks(settings)
            )
            try:
                demo = demo_clients(settings)
                clients = ClientDirectory(demo.clients)
                app = build_app(
                    demo_settings, clients=clients, telemetry=Telemetry(TelemetrySettings.from_env(os.environ))
                )
            except (OSError, ValueError, LookupError) as exc:
                # An adapter named in MPP_ADAPTERS without a mock or settings: say what to set, not a traceback.
                raise _CannotStart(str(exc)) from None
            sample = cluster.population.sample(status="active", limit=1)[0]

            async def started() -> None:
                print(_demo_banner(host, port, demo, sample), flush=True)
                for agency in cluster.agencies.values():
                    print(
                        f"Mock {agency.name}: {agency.base_url}  (control: {agency.base_url}/_control/citizens)",
                        flush=True,
                    )

            await serve_app(app, host, port, started)
        finally:
            await cluster.aclose()

    try:
        asyncio.run(run())
    except _CannotStart as exc:
        print(f"mpp-gateway: cannot start the demo: {exc}", file=sys.stderr)
        return 2
    return 0


class _CannotStart(Exception):
    """A configuration problem found while the demo's mocks were already up: reported after they are stopped."""


def _cmd_openapi(args: argparse.Namespace) -> int:
    from adapters import discover_factories

    factories = discover_factories()
    settings = placeholder_settings(list(factories), factories)

    async def describe() -> dict[str, Any]:
        transport = build_transport()
        try:
            registry = build_registry(settings, transport, factories)
            problems = ProblemCatalog([*BUILTIN_PROBLEMS, *registry.problem_types()])
            services = [service for _, service in registry.services.values()]
            return build_openapi(services, problems=problems, inbound=inbound_routes(registry.adapters.values()))
        finally:
            await transport.aclose()

    spec = asyncio.run(describe())
    sys.stdout.write(orjson.dumps(spec, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _cmd_journeys(args: argparse.Namespace) -> int:
    """``journeys check [FOLDER]``: load the shipped journeys and FOLDER's (default ``MPP_JOURNEYS_DIR``) against the
    services of the adapters this gateway enables (``MPP_ADAPTERS``, else every installed one), as a start would."""
    from adapters import discover_factories

    from ..journeys import JourneyDefinitionError, load_journeys

    try:
        enabled = Settings.from_env(os.environ).adapters
        folder = args.folder or Settings.from_env(os.environ).journeys_dir
    except ValueError as exc:
        print(f"mpp-gateway journeys: {exc}", file=sys.stderr)
        return 2
    factories = discover_factories(enabled)
    settings = placeholder_settings(list(factories), factories)

    async def services() -> dict[str, Any]:
        transport = build_transport()
        try:
            registry = build_registry(settings, transport, factories)
            return {sid: service.descriptor() for sid, (_, service) in registry.services.items()}
        finally:
            await transport.aclose()

    try:
        catalog = load_journeys(asyncio.run(services()), folder=Path(folder) if folder else None)
    except JourneyDefinitionError as exc:
        print(f"mpp-gateway journeys: {exc}", file=sys.stderr)
        return 1
    for journey in catalog:
        steps = ", ".join(journey.order)
        print(f"{journey.definition.id}  ({journey.source}): {steps}")
    where = f"shipped and {folder}" if folder else "shipped (no MPP_JOURNEYS_DIR)"
    print(f"{len(list(catalog))} journeys valid ({where})")
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    if args.data_key:
        print(generate_data_key())
        return 0
    key = generate_key()
    print(orjson.dumps({"key": key, "key_sha256": hash_key(key)}).decode())
    return 0


def _cmd_new_adapter(args: argparse.Namespace) -> int:
    from ._scaffold import ScaffoldError, write_adapter

    try:
        package = write_adapter(args.name, Path(args.dir), mock_port=args.mock_port)
    except (ScaffoldError, OSError) as exc:
        print(f"mpp-gateway new-adapter: {exc}", file=sys.stderr)
        return 2
    print(package.next_steps(sys.executable))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mpp-gateway`` command."""
    parser = argparse.ArgumentParser(prog="mpp-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("serve", "run the gateway (configured by MPP_* environment variables)"),
        ("demo", "run the gateway on SQLite with every mock agency and a demo key"),
        ("mocks", "run the mock agencies alone"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--host", default=None if name != "mocks" else "127.0.0.1")
        if name != "mocks":
            p.add_argument("--port", type=int, default=None)
        if name == "serve":
            p.add_argument("--workers", type=int, default=None,
                           help="processes sharing the port under one supervisor (MPP_WORKERS, default 1)")  # fmt: skip
            p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)  # set by the supervisor
        if name != "serve":
            p.add_argument("--ephemeral-mock-ports", action="store_true", help="start the mocks on free ports")
        if name == "mocks":
            p.add_argument("--write-settings", metavar="FILE", help="also write the gateway settings to FILE")
            p.add_argument("--public-host", help="host name the gateway reaches the mocks by (containers)")
    sub.add_parser("openapi", help="print the OpenAPI 3.1 document")
    new_adapter = sub.add_parser(
        "new-adapter", help="write a new agency's adapter package (mock, tests, manifest) that passes the kit"
    )
    new_adapter.add_argument("name", help="the agency slug: lower-case letters and digits joined by '-' (samsat)")
    new_adapter.add_argument("--dir", default=".", help="where to create the folder mpp-NAME (default: here)")
    new_adapter.add_argument(
        "--mock-port", type=int, default=None, help="its mock's default port (default: the first free from 8105)"
    )
    keygen = sub.add_parser("keygen", help="make a client API key and the hash to put in the clients file")
    keygen.add_argument(
        "--data-key", action="store_true", help="make a data key instead: 'kid:base64key' for MPP_DATA_KEYS"
    )
    journeys = sub.add_parser("journeys", help="check journey definitions as the gateway loads them at start")
    journeys.add_argument("action", choices=("check",), help="load and check every journey, naming the first fault")
    journeys.add_argument("folder", nargs="?", default=None, help="an MPP's journey folder (default: MPP_JOURNEYS_DIR)")
    db = sub.add_parser("db", help="the store's schema: MPP_STORE_DSN (PostgreSQL) or MPP_STORE_PATH (SQLite)")
    db.add_argument("action", choices=("status", "upgrade"), help="show the schema version, or apply migrations")
    add_audit_parser(sub)
    add_ops_parsers(sub)
    args = parser.parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "serve": _cmd_serve,
        "demo": _cmd_demo,
        "mocks": _cmd_mocks,
        "openapi": _cmd_openapi,
        "journeys": _cmd_journeys,
        "keygen": _cmd_keygen,
        "db": _cmd_db,
        "audit": audit_command,
        "new-adapter": _cmd_new_adapter,
        "status": status_command,
        "requests": requests_command,
    }
    with contextlib.suppress(KeyboardInterrupt):
        return handlers[args.command](args)
    return 130



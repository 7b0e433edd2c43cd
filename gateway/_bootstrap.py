"""The composition root: the one place that builds the transport, the store, the adapters and the app."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import httpx
import orjson
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from adapters import (
    AdapterContext,
    AdapterFactory,
    AgencyHttp,
    AgencyTransport,
    ProxyRouter,
    ProxySettings,
    Registry,
    discover_factories,
)

from .audit import build_auditor
from .config import Settings, check_adapter_settings, log_adapters_not_loaded
from .dispatch import AgencyPolicy, Dispatcher, EventHub, WebhookSender, policies_from_settings
from .http import (
    CONNECTIONS,
    DIRECTORY,
    JOURNEYS,
    JWT,
    LIMITER,
    PROBLEMS,
    STATE,
    STREAM_TOKENS,
    TELEMETRY,
    ConnectionPolicy,
    GatewayState,
    build_openapi,
    console_routes,
    edge_middlewares,
    enable_cors,
    inbound_routes,
    journey_routes,
    journey_runs_routes,
    mount_inbound,
    ops_routes,
    public,
    render_docs,
    render_problem,
    reports_routes,
    routes,
    search_routes,
    server_options,
    stream_token_routes,
)
from .journeys import JourneyEngine, Journeys, load_journeys
from .problems import BUILTIN_PROBLEMS, ApiProblem, ProblemCatalog
from .security import (
    CallbackPolicy,
    ClientDirectory,
    ClientRateLimiter,
    JwtSettings,
    JwtVerifier,
    StreamTokens,
    redact,
)
from .store import DocumentStore, KeyRing, PostgresStore, ScopedDocuments, SqliteStore, Store, purge_expired
from .telemetry import METRICS_DIR_ENV, Telemetry

__all__ = ["build_app", "build_registry", "build_store", "build_transport"]


def build_transport(limit: int = 256, *, environ: Mapping[str, str] | None = None) -> httpx.AsyncBaseTransport:
    """The shared outbound transport: aiohttp's connection pool, for agency requests directly and for httpx's types
    (the webhooks), through the proxy that
    ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` name for hosts ``NO_PROXY`` does not list (``environ``, else
    the process's environment, read once here)."""
    limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
    proxies = ProxySettings.from_env(os.environ if environ is None else environ)
    if not proxies:
        return AgencyTransport(limits=limits)
    return ProxyRouter(
        AgencyTransport(limits=limits), proxies, lambda url: AgencyTransport(limits=limits, proxy=httpx.Proxy(url))
    )


def build_registry(
    settings: Settings,
    transport: httpx.AsyncBaseTransport,
    factories: Mapping[str, AdapterFactory] | None = None,
    telemetry: Telemetry | None = None,
    documents: DocumentStore | None = None,
) -> Registry:
    """Instantiate every enabled adapter with its own :class:`AgencyHttp` and settings, and its agency's share of
    ``documents`` (what its inbound routes keep), if given."""
    found = dict(factories) if factories is not None else discover_factories(settings.adapters)

    def context(agency: str) -> AdapterContext:
        config = settings.agencies.get(agency)
        if config is None or not config.base_url:
            raise ValueError(
                f"agency {agency!r} has no base URL: set MPP_AGENCY__{agency.upper().replace('-', '_')}__BASE_URL"
            )
        http = AgencyHttp(
            transport,
            agency=agency,
            base_url=config.base_url,
            timeout=config.timeout,
            extra_headers=config.extra_headers,
            max_body=config.max_body_bytes,
            tracer=telemetry.tracer if telemetry is not None else None,
            scrub=redact,
        )
        scoped = ScopedDocuments(documents, agency) if documents is not None else None
        return AdapterContext(http=http, settings=config.adapter_settings, documents=scoped)

    # Every unconfigured adapter at once, each with every variable it still needs, before any is built.
    check_adapter_settings(settings, found)
    if factories is None and settings.adapters is not None:
        log_adapters_not_loaded(settings, set(found))
    return Registry.build(found, context)


def build_store(settings: Settings) -> Store:
    """PostgreSQL when ``MPP_STORE_DSN`` is set (several replicas), else the embedded SQLite file; personal data
    sealed with the data key ring, which is required (:class:`ValueError` saying how to make one)."""
    keys = KeyRing.configured(settings.data_keys, settings.data_keys_file)
    if settings.retention_days <= 0 or settings.retention_batch < 1:
        raise ValueError("MPP_RETENTION_DAYS and MPP_RETENTION_BATCH must be more than 0")
    if settings.store_dsn:
        return PostgresStore(
            settings.store_dsn,
            pool_size=settings.store_pool_size,
            handover_grace=settings.store_handover_seconds,
            keys=keys,
        )
    return SqliteStore(settings.store_path, synchronous=settings.sqlite_synchronous,
                       group_commit_ms=settings.sqlite_group_commit_ms, keys=keys)  # fmt: skip


def build_app(
    settings: Settings,
    *,
    clients: ClientDirectory,
    transport: httpx.AsyncBaseTransport | None = None,
    store: Store | None = None,
    factories: Mapping[str, AdapterFactory] | None = None,
    owner: str | None = None,
    telemetry: Telemetry | None = None,
) -> web.Application:
    """The aiohttp application with everything wired; resources open and close with the app's lifecycle."""
    own_transport = transport is None
    transport = transport or build_transport()
    telemetry = telemetry or Telemetry()
    telemetry.keep_spans(settings.trace_buffer_spans)
    store = store or build_store(settings)
    registry = build_registry(settings, transport, factories, telemetry, documents=store)
    problems = ProblemCatalog([*BUILTIN_PROBLEMS, *registry.problem_types()])
    auditor = build_auditor(settings, store)
    dispatcher = Dispatcher(
        store,
        registry,
        owner=owner or f"{socket.gethostname()}:{os.getpid()}",
        concurrency=settings.dispatch_concurrency,
        lease_seconds=settings.lease_seconds,
        sweep_interval=settings.sweep_interval_seconds,
        agency_policies={
            name: AgencyPolicy.from_settings(settings.agencies[name].adapter_settings)
            for name in registry.adapters
            if name in settings.agencies
        },
        agency_retry_policies={
            name: policies_from_settings(settings.agencies[name].adapter_settings)
            for name in registry.adapters
            if name in settings.agencies
        },
        problems=problems,
        telemetry=telemetry,
        auditor=auditor,
        circuits=store,
        hub=EventHub(
            max_streams=settings.max_event_streams, max_streams_per_client=settings.max_event_streams_per_client
        ),
    )
    webhooks = WebhookSender(
        store,
        transport,
        clients.clients,
        max_attempts=settings.webhook_max_attempts,
        policy=CallbackPolicy.from_settings(settings),
        proxies=transport.proxies if isinstance(transport, ProxyRouter) else None,
    )
    state = GatewayState(settings=settings, store=store, registry=registry, dispatcher=dispatcher, auditor=auditor)
    state.build_catalog()
    journeys = _build_journeys(settings, state, clients, problems)
    inbound = inbound_routes(registry.adapters.values())
    spec = build_openapi([service for _, service in registry.services.values()], problems=problems, inbound=inbound)
    spec_body = orjson.dumps(spec)
    catalog = orjson.loads(state.catalog)["services"]
    docs_body = render_docs(spec, catalog, problems)

    app = web.Application(
        middlewares=edge_middlewares(), client_max_size=settings.max_body_bytes, handler_args=server_options(settings)
    )
    app[STATE] = state
    app[JOURNEYS] = journeys
    app[CONNECTIONS] = ConnectionPolicy.from_settings(settings)
    app[DIRECTORY] = clients
    app[PROBLEMS] = problems
    app[TELEMETRY] = telemetry
    app[LIMITER] = ClientRateLimiter(
        clients.clients.values(), default_rate=settings.client_rate_per_second, default_burst=settings.client_rate_burst
    )
    jwt_settings = JwtSettings.from_settings(settings)
    if jwt_settings is not None:
        app[JWT] = JwtVerifier(jwt_settings, transport=transport, tracer=telemetry.tracer)
    enable_cors(app, clients.clients.values())
    app[STREAM_TOKENS] = StreamTokens.from_settings(settings)
    app.add_routes(routes())
    app.add_routes(search_routes())
    app.add_routes(stream_token_routes(store))
    app.add_routes(journey_routes())
    app.add_routes(journey_runs_routes())
    mount_inbound(app, inbound, max_body=settings.max_body_bytes)

    @public
    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=spec_body, content_type="application/json")

    @public
    async def docs(_: web.Request) -> web.Response:
        return web.Response(text=docs_body, content_type="text/html")

    @public
    async def problem_page(request: web.Request) -> web.Response:
        problem = problems.get(request.match_info["slug"])
        if problem is None:
            raise ApiProblem("not-found", "no such problem type")
        return web.Response(text=render_problem(problem), content_type="text/html")

    @public
    async def metrics(_: web.Request) -> web.Response:
        telemetry.metrics.flush()  # this process's tallies first (other workers flush theirs every second)
        registry = _metrics_registry(telemetry)
        if registry is telemetry.metrics.registry:
            body = generate_latest(registry)
        else:  # the workers' files are read from disk
            body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.add_routes(
        [
            web.get("/openapi.json", openapi),
            web.get("/docs", docs),
            web.get("/problems/{slug}", problem_page),
            web.get("/metrics", metrics),
        ]
    )
    app.add_routes(console_routes())
    app.add_routes(ops_routes())
    app.add_routes(reports_routes())
    app.cleanup_ctx.append(_lifecycle(state, webhooks, telemetry, transport if own_transport else None))
    app.cleanup_ctx.append(_journeys_lifecycle(journeys.engine))  # starts after the dispatcher, stops before it
    return app


def _build_journeys(
    settings: Settings, state: GatewayState, clients: ClientDirectory, problems: ProblemCatalog
) -> Journeys:
    """The journeys the gateway runs (shipped ones whose services are loaded, and ``MPP_JOURNEYS_DIR``'s), checked
    against the service catalog (:class:`~gateway.journeys.JourneyDefinitionError` names the fault), and the
    engine that advances them through the state's acceptance path and dispatcher."""
    services = {sid: service.descriptor() for sid, (_, service) in state.registry.services.items()}
    catalog = load_journeys(services, folder=Path(settings.journeys_dir) if settings.journeys_dir else None)
    engine = JourneyEngine(
        store=state.store,
        catalog=catalog,
        acceptance=state.acceptance,
        dispatcher=state.dispatcher,
        clients=clients.clients,
        auditor=state.auditor,
        telemetry=state.dispatcher.telemetry,
        problems=problems,
        sweep_interval=settings.sweep_interval_seconds,
        idle_seconds=settings.store_handover_seconds,
    )
    return Journeys(engine, settings=settings, registry=state.registry)


def _journeys_lifecycle(engine: JourneyEngine) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(_: web.Application) -> AsyncIterator[None]:
        engine.start()
        try:
            yield
        finally:
            await engine.stop()

    return ctx


async def _housekeeping(state: GatewayState) -> None:
    """Forget idempotency keys past their window and purge personal data past retention, every round (a minute)."""
    while True:
        try:
            await state.store.purge_idempotency_keys(time.time() - state.settings.idempotency_window_seconds)
        except Exception:  # the next round tries again
            structlog.get_logger("gateway").warning("housekeeping.failed", exc_info=True)
        try:
            await purge_expired(
                state.store,
                retention_seconds=state.settings.retention_days * 86400,
                batch=state.settings.retention_batch,
            )
        except Exception:  # the next round tries again
            structlog.get_logger("gateway").warning("retention.failed", exc_info=True)
        try:  # journeys keep the applicant and the combined answer as long as the requests keep theirs
            cutoff, batch = time.time() - state.settings.retention_days * 86400, state.settings.retention_batch
            purged = done = await state.store.purge_journeys(cutoff, limit=batch)
            while done >= batch:
                await asyncio.sleep(0)  # other work in between batches
                done = await state.store.purge_journeys(cutoff, limit=batch)
                purged += done
            if purged:
                structlog.get_logger("gateway.retention").info("retention.purged", journeys=purged)
        except Exception:  # the next round tries again
            structlog.get_logger("gateway").warning("retention.failed", exc_info=True)
        await asyncio.sleep(state.settings.housekeeping_interval_seconds)


def _lifecycle(
    state: GatewayState,
    webhooks: WebhookSender,
    telemetry: Telemetry,
    transport: httpx.AsyncBaseTransport | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(_: web.Application) -> AsyncIterator[None]:
        telemetry.metrics.start()  # tallied metrics reach prometheus_client every second
        await state.store.open()
        state.auditor.start(state.settings.audit_checkpoint_seconds)
        await state.dispatcher.start()
        webhooks.start()
        housekeeping = asyncio.create_task(_housekeeping(state), name="housekeeping")
        try:
            yield
        finally:
            housekeeping.cancel()
            await asyncio.gather(housekeeping, return_exceptions=True)
            await webhooks.stop()
            await state.dispatcher.stop(state.settings.shutdown_grace_seconds)
            await state.auditor.aclose()  # after the last request's entries: the final head is signed
            await state.registry.aclose()
            if transport is not None:
                await transport.aclose()
            await state.store.aclose()
            telemetry.metrics.stop()  # the last observations reach prometheus_client (and the workers' files)
            await asyncio.to_thread(telemetry.shutdown)

    return ctx


def _metrics_registry(telemetry: Telemetry) -> CollectorRegistry:
    """This process's metrics; under a supervisor, every worker's added up from the files they write."""
    folder = os.environ.get(METRICS_DIR_ENV)
    if not folder:
        return telemetry.metrics.registry
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return registry

"""Gateway settings, read from the environment (``MPP_*``) once, at the composition root.

Agency settings use ``MPP_AGENCY__<AGENCY>__<NAME>``: ``MPP_AGENCY__DUKCAPIL__BASE_URL``. A ``<NAME>_FILE``
variable names a file whose content is the value (container secrets): credentials never live in the repository.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["AgencyConfig", "Settings"]

_AGENCY_PREFIX = "MPP_AGENCY__"
_HTTP_KEYS = {"base_url", "timeout", "extra_headers", "bearer_token", "max_body_bytes"}


@dataclasses.dataclass(frozen=True)
class AgencyConfig:
    """One agency's outbound HTTP settings, and the rest handed to its adapter."""

    base_url: str
    timeout: float = 10.0
    extra_headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    max_body_bytes: int = 2 * 1024 * 1024
    adapter_settings: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:  # settings carry credentials: show only what is safe
        return f"AgencyConfig(base_url={self.base_url!r}, settings={sorted(self.adapter_settings)})"

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> AgencyConfig:
        """Split raw settings into the HTTP part and the adapter's part."""
        headers: dict[str, str] = {}
        if values.get("extra_headers"):
            parsed = json.loads(values["extra_headers"])
            if not isinstance(parsed, dict):
                raise ValueError("extra_headers must be a JSON object")
            headers = {str(k): str(v) for k, v in parsed.items()}
        if values.get("bearer_token"):
            headers["Authorization"] = "Bearer " + values["bearer_token"]
        return cls(
            base_url=values.get("base_url", ""),
            timeout=float(values.get("timeout", 10.0)),
            extra_headers=headers,
            max_body_bytes=int(values.get("max_body_bytes", 2 * 1024 * 1024)),
            adapter_settings={k: v for k, v in values.items() if k not in _HTTP_KEYS or k == "base_url"},
        )


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the gateway process is configured with."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: Gateway processes sharing the port (``SO_REUSEPORT``) under one supervisor; about one per core.
    workers: int = 1
    store_path: str = "var/gateway.sqlite3"
    #: ``postgresql://user@host:5432/db``: the PostgreSQL store for several replicas; unset, SQLite at store_path.
    #: It may carry a password, so it is left out of the repr (``PGPASSWORD`` or a passfile keep it out entirely).
    store_dsn: str | None = dataclasses.field(default=None, repr=False)
    store_pool_size: int = 10
    #: PostgreSQL: seconds other replicas leave a just-accepted request to the replica that accepted it.
    store_handover_seconds: float = 2.0
    sqlite_synchronous: str = "FULL"
    #: With ``FULL``: how long a busy store's sync thread waits for more commits to share an fsync of the log (an
    #: idle store syncs at once); 0 syncs at once always.
    sqlite_group_commit_ms: float = 1.0
    max_body_bytes: int = 256 * 1024
    max_wait_seconds: float = 60.0
    lookup_deadline_seconds: float = 30.0
    submission_deadline_seconds: float = 6 * 3600.0
    dispatch_concurrency: int = 64
    lease_seconds: float = 60.0
    shutdown_grace_seconds: float = 10.0
    sweep_interval_seconds: float = 5.0
    idempotency_window_seconds: float = 24 * 3600.0
    #: How long a consent given at the desk covers requests, and how far ahead of this clock it may be dated (the
    #: counter's clock may run ahead). Checked when a request is accepted, never when a stored one runs later.
    consent_max_age_seconds: float = 12 * 3600.0
    consent_clock_skew_seconds: float = 300.0
    webhook_max_attempts: int = 20
    #: Plain ``http`` callback URLs allowed; off, ``https`` only (``gateway/security/_callbacks.py``). The demo and
    #: tests with a local receiver turn it on.
    callback_allow_http: bool = False
    #: Networks (CIDRs, comma-separated: ``192.168.10.0/24``) a callback may reach although they are not public, an
    #: MPP's LAN say; none by default. The demo allows loopback.
    callback_allow_networks: str = ""
    #: The data key ring sealing personal data at rest: ``kid:base64key`` entries, comma-separated, the first seals
    #: (``mpp-gateway keygen --data-key``); or a file holding them. ``serve`` refuses to start without one.
    data_keys: str | None = dataclasses.field(default=None, repr=False)
    data_keys_file: str | None = None
    #: Days after a request finished (fractions allowed) before its personal data is purged; OSS's NIB pushes too.
    retention_days: float = 30.0
    retention_batch: int = 500
    housekeeping_interval_seconds: float = 60.0
    clients_file: str | None = None
    #: JWTs of the region's identity provider, beside API keys (``gateway/security/_jwt.py``); all unset, API keys only.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_jwks_url: str | None = None
    jwt_jwks_file: str | None = None
    jwt_algorithms: str = "RS256,ES256,EdDSA"
    jwt_leeway_seconds: float = 30.0
    jwt_jwks_refresh_seconds: float = 60.0
    jwt_jwks_max_age_seconds: float = 3600.0
    jwt_jwks_timeout_seconds: float = 3.0
    #: Per-client token bucket, per replica, for clients without their own in the clients file; 0 = unlimited.
    client_rate_per_second: float = 0.0
    client_rate_burst: int = 0
    #: aiohttp's request parser limits: the request line, one header line, the number of headers.
    max_request_line_bytes: int = 8190
    max_header_bytes: int = 8190
    max_headers: int = 64
    #: Seconds a request's headers, then its body, may take to arrive (``408`` and the connection closed past
    #: either); seconds an idle keep-alive connection stays open. 0 turns one off.
    http_header_timeout_seconds: float = 10.0
    http_body_timeout_seconds: float = 30.0
    http_keepalive_seconds: float = 75.0
    #: Open inbound connections in all (0: the descriptor limit less a reserve for outbound calls and the store)
    #: and per client address (0: no cap; a reverse proxy in front is one address). Past either: ``503``, closed.
    max_connections: int = 0
    max_connections_per_peer: int = 256
    #: Concurrent event streams (``GET /v1/requests/{id}/events``) per client and in all, per replica; 0: no cap.
    max_event_streams_per_client: int = 20
    max_event_streams: int = 1000
    #: Key of the audit log's subjects (HMAC-SHA256 of the applicant's NIK), at least 16 bytes; or a file holding
    #: it. Unset, audit entries carry no subject.
    audit_key: str | None = dataclasses.field(default=None, repr=False)
    audit_key_file: str | None = None
    #: Ed25519 private key signing audit checkpoints (PEM, or the raw 32 bytes in base64: ``mpp-gateway audit
    #: keygen``); or a file holding it. Unset, no checkpoints are written.
    audit_signing_key: str | None = dataclasses.field(default=None, repr=False)
    audit_signing_key_file: str | None = None
    audit_checkpoint_seconds: float = 60.0
    #: Key of the stream tokens' signature (``gateway/security/_stream_tokens.py``), at least 32 bytes, the same on
    #: every replica; or a file holding it. Unset, each process makes up its own: tokens work only where issued.
    stream_token_key: str | None = dataclasses.field(default=None, repr=False)
    stream_token_key_file: str | None = None
    #: Seconds a stream token may be used within, once.
    stream_token_seconds: float = 60.0
    log_level: str = "info"
    #: Finished spans each process keeps in memory for ``GET /v1/traces/{trace_id}`` and the console's waterfall,
    #: the oldest dropped first; 0 keeps none.
    trace_buffer_spans: int = 10000
    #: Jaeger's address as operators reach it (``http://jaeger:16686``): traces answer with a link into it.
    console_jaeger_url: str | None = None
    #: A folder of the MPP's own journey definitions (``*.yaml``, ``*.yml``, ``*.json``), loaded beside the shipped
    #: ones; unset, only the shipped journeys. A fault in any of its files stops the gateway at start.
    journeys_dir: str | None = None
    #: Agency slugs to load; ``None`` loads every installed adapter.
    adapters: tuple[str, ...] | None = None
    agencies: Mapping[str, AgencyConfig] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read ``MPP_*`` variables; anything unset keeps its default.

        ``MPP_AGENCY_SETTINGS_FILE`` names a ``KEY=VALUE`` file (what ``mpp-gateway mocks --write-settings``
        writes) read first; variables in the environment win over it.
        """
        if environ.get("MPP_AGENCY_SETTINGS_FILE"):
            environ = {**read_env_file(environ["MPP_AGENCY_SETTINGS_FILE"]), **environ}
        defaults = cls()
        kwargs: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name in {"agencies", "adapters"}:
                continue
            raw = environ.get("MPP_" + field.name.upper())
            if raw is None:
                continue
            current = getattr(defaults, field.name)
            if isinstance(current, bool):
                kwargs[field.name] = raw.lower() in {"1", "true", "yes"}
            elif isinstance(current, int):
                kwargs[field.name] = int(raw)
            elif isinstance(current, float):
                kwargs[field.name] = float(raw)
            else:
                kwargs[field.name] = raw
        if environ.get("MPP_ADAPTERS"):
            kwargs["adapters"] = tuple(a.strip() for a in environ["MPP_ADAPTERS"].split(",") if a.strip())
        kwargs["agencies"] = {name: AgencyConfig.from_values(v) for name, v in agency_values(environ).items()}
        return cls(**kwargs)


def read_env_file(path: str) -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines and ``#`` comments skipped."""
    values = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def agency_values(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``MPP_AGENCY__<AGENCY>__<NAME>[_FILE]`` variables grouped by agency slug."""
    grouped: dict[str, dict[str, str]] = {}
    for key, value in environ.items():
        if not key.startswith(_AGENCY_PREFIX):
            continue
        agency, sep, name = key[len(_AGENCY_PREFIX) :].partition("__")
        if not sep or not agency or not name:
            continue
        slug = agency.lower().replace("_", "-")
        name = name.lower()
        if name.endswith("_file"):
            name = name[: -len("_file")]
            value = Path(value).read_text(encoding="utf-8").strip()
        grouped.setdefault(slug, {})[name] = value
    return grouped

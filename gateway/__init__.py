"""The MPP Integration Gateway service: HTTP API, auth, dispatch, store, configuration and CLI.

Build the whole service with :func:`build_app`; nothing connects, reads the environment or starts a thread at
import time.
"""

from ._bootstrap import build_app, build_registry, build_transport
from .config import AgencyConfig, Settings, placeholder_settings
from .dispatch import Dispatcher, RetryPolicy
from .http import build_openapi
from .problems import BUILTIN_PROBLEMS, ApiProblem, ProblemCatalog
from .security import Client, ClientDirectory, generate_key, hash_key, redact, redact_mapping
from .store import NewRequest, PostgresStore, SqliteStore, Store, StoredAttempt, StoredRequest
from .telemetry import configure_logging

__all__ = [
    "BUILTIN_PROBLEMS",
    "AgencyConfig",
    "ApiProblem",
    "Client",
    "ClientDirectory",
    "Dispatcher",
    "NewRequest",
    "PostgresStore",
    "ProblemCatalog",
    "RetryPolicy",
    "Settings",
    "SqliteStore",
    "Store",
    "StoredAttempt",
    "StoredRequest",
    "build_app",
    "build_openapi",
    "build_registry",
    "build_transport",
    "configure_logging",
    "generate_key",
    "hash_key",
    "placeholder_settings",
    "redact",
    "redact_mapping",
]

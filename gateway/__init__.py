"""The MPP Integration Gateway service: HTTP API, auth, dispatch, store, configuration and CLI.

Build the whole service with :func:`build_app`; nothing connects, reads the environment or starts a thread at
import time.
"""

from ._auth import Client, ClientDirectory, generate_key, hash_key
from ._bootstrap import build_app, build_registry, build_transport
from ._config import AgencyConfig, Settings
from ._dispatch import Dispatcher, RetryPolicy
from ._logging import configure_logging
from ._openapi import build_openapi
from ._postgres import PostgresStore
from ._problems import BUILTIN_PROBLEMS, ApiProblem, ProblemCatalog
from ._redact import redact, redact_mapping
from ._sqlite import SqliteStore
from ._store import NewRequest, Store, StoredAttempt, StoredRequest

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
    "redact",
    "redact_mapping",
]

"""Retention: the personal data of finished requests, and what agencies pushed, removed once old enough.

The housekeeping loop calls :func:`purge_expired` every round. Each store call purges one bounded batch, so the
writer (SQLite's thread, or PostgreSQL's row locks) is never held for long however much has piled up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from ._port import DocumentStore, RequestStore

__all__ = ["purge_expired"]

log = structlog.get_logger("gateway.retention")


class _Purgeable(RequestStore, DocumentStore, Protocol):
    """What retention purges: requests' personal data and agency documents."""


async def purge_expired(
    store: _Purgeable, *, retention_seconds: float, batch: int = 500, clock: Callable[[], float] = time.time
) -> tuple[int, int]:
    """Purge what is older than ``retention_seconds``, batch by batch; returns ``(requests, documents)`` purged."""
    if retention_seconds <= 0 or batch < 1:
        raise ValueError("the retention period and the purge batch must be positive")
    cutoff = clock() - retention_seconds
    requests = await _drain(lambda: store.purge_personal_data(cutoff, limit=batch), batch)
    documents = await _drain(lambda: store.purge_documents(cutoff, limit=batch), batch)
    if requests or documents:
        log.info("retention.purged", requests=requests, documents=documents)
    return requests, documents


async def _drain(purge: Callable[[], Awaitable[int]], batch: int) -> int:
    total = 0
    while True:
        done = await purge()
        total += done
        if done < batch:
            return total
        await asyncio.sleep(0)  # other work in between batches

"""A served process freezes its start-up heap, so later collections do not walk it."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import Iterator

import pytest
from aiohttp import web

from gateway.cli import serve_app, settle_heap
from tests.chaos.runner import free_port


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_settle_heap_keeps_live_objects_out_of_later_collections() -> None:
    """After ``settle_heap`` the objects alive at that moment are frozen and no collection tracks them again."""
    kept = [[n] for n in range(100)]
    assert any(obj is kept[0] for obj in gc.get_objects())
    assert gc.get_freeze_count() == 0
    settle_heap()
    frozen = gc.get_freeze_count()
    assert frozen > len(kept)
    assert not any(obj is kept[0] for obj in gc.get_objects())
    gc.collect()
    # A collection moves nothing back; objects freed by reference counting (other threads' garbage) may leave.
    assert gc.get_freeze_count() <= frozen
    assert not any(obj is kept[0] for obj in gc.get_objects())


@pytest.mark.usefixtures("unfrozen")
def test_serve_freezes_the_heap_once_listening() -> None:
    """``serve_app`` freezes what start-up loaded before it reports the socket listening; SIGTERM then stops it."""
    seen: list[int] = []

    async def started() -> None:
        seen.append(gc.get_freeze_count())
        # Sent once this task has gone on to install the SIGTERM handler and wait.
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

    asyncio.run(serve_app(web.Application(), "127.0.0.1", free_port(), started))
    assert len(seen) == 1
    assert seen[0] > 0

"""The process runtime: the event loop ``MPP_EVENT_LOOP`` names, and the heap frozen after start-up."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop

from gateway._runtime import loop_factory, run, settle_heap


async def _loop_type() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_uvloop_is_the_default_loop() -> None:
    """``run`` without a choice runs the coroutine on a uvloop loop and returns its result."""
    assert run(_loop_type()) is uvloop.Loop


def test_asyncio_runs_the_standard_library_loop() -> None:
    """``event_loop="asyncio"`` runs the coroutine on the standard library's own loop."""
    kind = run(_loop_type(), event_loop="asyncio")
    assert kind is not uvloop.Loop
    assert issubclass(kind, asyncio.BaseEventLoop)


def test_an_unknown_loop_is_refused_and_the_coroutine_closed() -> None:
    """An unknown loop name raises a ValueError naming the setting; the coroutine is closed, not left unawaited."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coroutine = _loop_type()
        with pytest.raises(ValueError, match="MPP_EVENT_LOOP must be one of uvloop, asyncio, not 'trio'"):
            run(coroutine, event_loop="trio")
        assert coroutine.cr_frame is None
    with pytest.raises(ValueError, match="MPP_EVENT_LOOP"):
        loop_factory("")


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_settle_heap_keeps_live_objects_out_of_later_collections() -> None:
    """After ``settle_heap`` the objects alive at that moment are frozen and no collection tracks them."""
    kept = [[n] for n in range(100)]
    assert any(obj is kept[0] for obj in gc.get_objects())
    assert gc.get_freeze_count() == 0
    settle_heap()
    frozen = gc.get_freeze_count()
    assert frozen > len(kept)
    assert not any(obj is kept[0] for obj in gc.get_objects())
    gc.collect()
    assert gc.get_freeze_count() == frozen


def test_serve_refuses_an_unknown_event_loop(tmp_path: Path) -> None:
    """``serve`` with an unknown MPP_EVENT_LOOP exits 2 with one line naming the setting, no traceback."""
    clients = tmp_path / "clients.json"
    clients.write_text('{"clients": []}', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPP_")}
    env.update(MPP_CLIENTS_FILE=str(clients), MPP_EVENT_LOOP="tornado", MPP_STORE_PATH=str(tmp_path / "g.sqlite3"))
    done = subprocess.run(
        [sys.executable, "-m", "gateway._cli", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "MPP_EVENT_LOOP must be one of uvloop, asyncio, not 'tornado'" in done.stderr
    assert "Traceback" not in done.stderr

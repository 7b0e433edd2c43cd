"""How a gateway process runs: which event loop, and a heap the garbage collector does not walk again and again.

Two measured choices (README, "Benchmark"):

- ``uvloop`` by default (``MPP_EVENT_LOOP=asyncio`` for the standard library's loop): the same aiohttp server and
  client on libuv spend less time in the loop itself.
- After start-up, one collection and :func:`gc.freeze`: the modules, models, compiled schemas and settings loaded at
  start-up (several hundred thousand objects) leave the collector's generations for good. Left in the oldest
  generation they were walked by every full collection, a pause of 25-50 ms on the event loop every few seconds
  under load, which every request in flight at that moment waited out.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["EVENT_LOOPS", "loop_factory", "run", "settle_heap"]

T = TypeVar("T")

#: The accepted values of ``MPP_EVENT_LOOP``.
EVENT_LOOPS = ("uvloop", "asyncio")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop called ``name``; ``None`` for the standard library's own."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name == "asyncio":
        return None
    raise ValueError(f"MPP_EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}, not {name!r}")


def run(main: Coroutine[Any, Any, T], *, event_loop: str = "uvloop") -> T:
    """Run ``main`` to completion on a new loop of the kind ``event_loop`` names, then close it."""
    try:
        factory = loop_factory(event_loop)
    except ValueError:
        main.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def settle_heap() -> None:
    """Collect once, then keep every object alive now out of all later collections (:func:`gc.freeze`)."""
    gc.collect()
    gc.freeze()

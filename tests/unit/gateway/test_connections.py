"""The pieces that keep connections and event streams bounded: counted log lines for failed accepts, the caps
derived from the descriptor limit, the connection guard, the event stream counts, and the runner wiring them."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from gateway.cli import GatewayRunner
from gateway.dispatch import EventHub, StreamLimitReached
from gateway.http import (
    CONNECTIONS,
    AcceptErrorLog,
    ConnectionGuard,
    ConnectionPolicy,
    GuardedServer,
    connection_limits,
)


class FakeLoop:
    """The loop methods the counted log uses: a clock the test moves, and timers it fires."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, Callable[..., None], tuple[Any, ...]]] = []
        self.defaults: list[dict[str, Any]] = []

    def time(self) -> float:
        return self.now

    def get_debug(self) -> bool:
        return False

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> asyncio.TimerHandle:
        self.timers.append((when, callback, args))
        return asyncio.TimerHandle(when, callback, args, self)  # type: ignore[arg-type]

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.timers if t[0] <= self.now]
        self.timers = [t for t in self.timers if t[0] > self.now]
        for _, callback, args in due:
            callback(*args)

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.defaults.append(context)


def accept_failure(code: int = errno.EMFILE) -> dict[str, Any]:
    """What asyncio's selector loop hands its exception handler when ``accept()`` fails."""
    return {
        "message": "socket.accept() out of system resource",
        "exception": OSError(code, "Too many open files"),
        "socket": object(),
    }


def test_accept_errors_are_logged_once_per_interval_with_a_count() -> None:
    """Thousands of failed accepts make one line at once and one line with the count at the interval's end, no
    traceback; the next burst, after the interval, starts over."""
    loop = FakeLoop()
    handler = AcceptErrorLog(interval=10.0)
    with capture_logs() as logs:
        for _ in range(5000):
            handler(loop, accept_failure())  # type: ignore[arg-type]
        assert [(e["event"], e["count"], e["reason"]) for e in logs] == [("http.accept_failed", 1, "EMFILE")]
        loop.advance(10.0)
        assert [(e["event"], e["count"]) for e in logs] == [("http.accept_failed", 1), ("http.accept_failed", 4999)]
        loop.advance(60.0)
        handler(loop, accept_failure(errno.ENFILE))  # type: ignore[arg-type]
    assert [(e["count"], e["reason"]) for e in logs] == [(1, "EMFILE"), (4999, "EMFILE"), (1, "ENFILE")]
    assert not any("exc_info" in e or "exception" in e for e in logs)
    assert loop.defaults == []


def test_accept_errors_raised_out_of_the_accept_callback_are_counted_too() -> None:
    """An accept error asyncio does not handle itself reaches the handler as a failed callback: counted alike."""
    loop = FakeLoop()
    handler = AcceptErrorLog(interval=10.0)
    context = {
        "message": "Exception in callback BaseSelectorEventLoop._accept_connection(...)",
        "exception": OSError(errno.ENOMEM, "Cannot allocate memory"),
    }
    with capture_logs() as logs:
        handler(loop, context)  # type: ignore[arg-type]
    assert [(e["event"], e["reason"]) for e in logs] == [("http.accept_failed", "ENOMEM")]


def test_other_loop_errors_go_to_the_previous_handler() -> None:
    """Errors that are not failed accepts are left to the handler installed before, else the loop's default."""
    loop = FakeLoop()
    seen: list[dict[str, Any]] = []
    other = {"message": "Task exception was never retrieved", "exception": RuntimeError("boom")}
    AcceptErrorLog(lambda _, context: seen.append(context))(loop, other)  # type: ignore[arg-type]
    assert seen == [other]
    AcceptErrorLog()(loop, other)  # type: ignore[arg-type]
    assert loop.defaults == [other]


def test_total_cap_leaves_a_reserve_of_descriptors() -> None:
    """Unset, the total cap is the descriptor limit less the reserve for outbound calls and the store (never below
    a quarter of the limit); a configured cap is kept; no limit, no cap."""
    policy = ConnectionPolicy(reserve=330)
    assert connection_limits(policy, 1024).max_connections == 1024 - 330
    assert connection_limits(policy, 400).max_connections == 100
    assert connection_limits(ConnectionPolicy(max_connections=50), 1024).max_connections == 50
    limits = connection_limits(policy, None)
    assert limits.descriptors is not None  # read from the process
    assert limits.max_connections == max(limits.descriptors // 4, limits.descriptors - 330)


def test_the_reserve_counts_the_store_pool() -> None:
    """The reserve grows with the PostgreSQL pool the settings ask for."""
    from gateway import Settings

    small = ConnectionPolicy.from_settings(Settings(store_pool_size=10))
    large = ConnectionPolicy.from_settings(Settings(store_pool_size=100))
    assert large.reserve - small.reserve == 90


def test_guard_counts_per_address_and_in_all() -> None:
    """The guard admits up to each cap, answers past it without counting, and counts a release."""
    guard = ConnectionGuard(max_connections=3, max_per_peer=2)
    assert guard.admit("10.0.0.1") is None
    assert guard.admit("10.0.0.1") is None
    refusal = guard.admit("10.0.0.1")
    assert refusal is not None and refusal.startswith(b"HTTP/1.1 503 ") and b"2 open connections" in refusal
    assert guard.admit("10.0.0.2") is None
    refusal = guard.admit("10.0.0.3")
    assert refusal is not None and b"gateway holds 3 open connections" in refusal
    assert (guard.open, guard.held("10.0.0.1"), guard.held("10.0.0.3")) == (3, 2, 0)
    guard.release("10.0.0.1")
    assert guard.admit("10.0.0.3") is None
    assert ConnectionGuard(0, 0).admit("10.0.0.1") is None


def test_hub_caps_streams_per_client_then_in_all() -> None:
    """A client past its own cap is told so first; past the total, any client is refused; a release (once)
    frees a place."""
    hub = EventHub(max_streams=3, max_streams_per_client=2)
    first = hub.open_stream("a")
    hub.open_stream("a")
    with pytest.raises(StreamLimitReached) as caught:
        hub.open_stream("a")
    assert (caught.value.scope, caught.value.limit) == ("client", 2)
    hub.open_stream("b")
    with pytest.raises(StreamLimitReached) as caught:
        hub.open_stream("c")
    assert (caught.value.scope, caught.value.limit) == ("total", 3)
    first()
    first()
    assert (hub.open_streams("a"), hub.open_streams()) == (1, 2)
    hub.open_stream("c")
    assert bool(EventHub()) and len(EventHub()) == 0


async def test_runner_serves_guarded_and_counts_accept_errors_while_set_up() -> None:
    """The runner logs its caps once, serves through the guarded server with the app's policy, and installs the
    accept-error handler until cleanup, when the loop gets its handler back."""
    app = web.Application()
    app[CONNECTIONS] = ConnectionPolicy(max_per_peer=7, reserve=100)
    loop = asyncio.get_running_loop()
    before = loop.get_exception_handler()
    runner = GatewayRunner(app, descriptors=1000, handle_signals=False)
    with capture_logs() as logs:
        await runner.setup()
    try:
        assert isinstance(runner.server, GuardedServer)
        assert runner.guard is not None
        assert (runner.guard.max_connections, runner.guard.max_per_peer) == (900, 7)
        assert isinstance(loop.get_exception_handler(), AcceptErrorLog)
        limits = [e for e in logs if e["event"] == "http.connection_limits"]
        assert len(limits) == 1
        assert (limits[0]["descriptors"], limits[0]["max_connections"]) == (1000, 900)
    finally:
        await runner.cleanup()
    assert loop.get_exception_handler() is before

"""``mpp-gateway status`` and ``mpp-gateway requests``: what the store the settings name knows, at a terminal.

Both read the store of ``MPP_STORE_DSN`` (PostgreSQL) or ``MPP_STORE_PATH`` (SQLite) without a data key: they show
what an operations client sees (the masked NIK, never a result or what the counter sent). Circuit states and
latencies live in the running gateway's memory, not in the store: ``GET /v1/ops/overview`` and the console show them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from ..config import Settings
from ..http import masked_record, parse_statuses, parse_when
from ..store import (
    DEFAULT_SEARCH_LIMIT,
    MAX_SEARCH_LIMIT,
    PostgresStore,
    RequestPage,
    RequestQuery,
    SearchCursor,
    SqliteStore,
    Store,
    StoreError,
    describe,
)

__all__ = ["add_ops_parsers", "requests_command", "status_command"]

#: The window ``status`` counts failures and requests over.
_WINDOW = dt.timedelta(hours=1)


def add_ops_parsers(sub: Any) -> None:
    """Add ``status`` and ``requests`` to the ``mpp-gateway`` command line."""
    status = sub.add_parser(
        "status", help="the queue per agency, failures by problem type and requests by status in the last hour"
    )
    status.add_argument("--json", action="store_true", help="print one JSON document")
    found = sub.add_parser("requests", help="search requests in the store, newest first (masked NIK only)")
    found.add_argument("--status", action="append", default=[], metavar="STATUS",
                       help="accepted, in_progress, waiting_agency, completed, rejected or failed; repeat or "
                            "comma-separate for several")  # fmt: skip
    found.add_argument("--since", help="created at or after: an age (45s, 30m, 1h, 2d) or ISO 8601")
    found.add_argument("--until", help="created before: an age (45s, 30m, 1h, 2d) or ISO 8601")
    found.add_argument("--service", help="a service id (dukcapil.nik.verify)")
    found.add_argument("--agency", help="an agency (dukcapil)")
    found.add_argument("--mpp", help="an MPP id")
    found.add_argument("--problem", help="a problem type's slug (agency-unavailable)")
    found.add_argument("--id", help="one request id")
    found.add_argument("--limit", type=int, default=DEFAULT_SEARCH_LIMIT,
                       help=f"requests to show, 1 to {MAX_SEARCH_LIMIT} (default {DEFAULT_SEARCH_LIMIT})")  # fmt: skip
    found.add_argument("--cursor", help="the cursor a previous page printed: the page after it")
    found.add_argument("--json", action="store_true", help="print one JSON document, as GET /v1/requests answers")


def _open(settings: Settings) -> Store:
    """The store the settings name, without a data key (nothing sealed is read)."""
    if settings.store_dsn:
        return PostgresStore(settings.store_dsn, pool_size=2)
    if not Path(settings.store_path).is_file():
        raise ValueError(f"{describe(settings)}: no such file (set MPP_STORE_PATH or MPP_STORE_DSN)")
    return SqliteStore(settings.store_path)


def _run(command: str, work: Callable[[Store, Settings], Awaitable[int]]) -> int:
    """Read the settings, open the store, run ``work(store, settings)``; a problem is one line on stderr, exit 2."""
    try:
        settings = Settings.from_env(os.environ)
        store = _open(settings)
    except (OSError, ValueError) as exc:
        print(f"mpp-gateway {command}: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        await store.open()
        try:
            return await work(store, settings)
        finally:
            await store.aclose()

    try:
        return asyncio.run(run())
    except (StoreError, sqlite3.Error, OSError) as exc:
        print(f"mpp-gateway {command}: {describe(settings)}: {exc}", file=sys.stderr)
        return 2


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def _clock(value: dt.datetime | None) -> str:
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _age(seconds: float | None) -> str:
    """``3d 4h``, ``2h 5m``, ``4m 10s``, ``12s``: the two largest units."""
    if seconds is None:
        return "-"
    left = max(int(seconds), 0)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts[:2])


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    """Columns aligned with two spaces between them, numbers to the right."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        text = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(text).rstrip())
    return "\n".join(lines)


async def _status(store: Store, settings: Settings, *, as_json: bool) -> int:
    now = dt.datetime.now(dt.UTC)
    queue = await store.queue_by_agency()
    failures = await store.failures_since(now - _WINDOW)
    by_status = await store.requests_by_status(now - _WINDOW)
    if as_json:
        body = {
            "generated_at": now.isoformat(),
            "store": describe(settings),
            "queue": [
                {
                    "agency": q.agency,
                    "depth": q.depth,
                    "oldest_age_seconds": None if q.oldest_at is None else (now - q.oldest_at).total_seconds(),
                    "deferred": q.deferred,
                    "next_try_at": _iso(q.next_try_at),
                }
                for q in queue
            ],
            "failures_last_hour": failures,
            "requests_last_hour": by_status,
        }
        print(orjson.dumps(body).decode())
        return 0
    out = [f"{describe(settings)} at {_clock(now)} UTC", "", "Queue (accepted or in progress)"]
    if queue:
        rows = [
            (q.agency, q.depth, _age(None if q.oldest_at is None else (now - q.oldest_at).total_seconds()), q.deferred,
             "-" if q.next_try_at is None else f"in {_age((q.next_try_at - now).total_seconds())}")
            for q in queue
        ]  # fmt: skip
        out.append(table(("AGENCY", "DEPTH", "OLDEST", "DEFERRED", "NEXT TRY"), rows, numeric=(1, 3)))
    else:
        out.append("  empty")
    out += ["", "Failed in the last hour, by problem type"]
    if failures:
        out.append(table(("PROBLEM", "REQUESTS"), list(failures.items()), numeric=(1,)))
    else:
        out.append("  none")
    out += ["", "Requests accepted in the last hour, by status now"]
    out.append(table(("STATUS", "REQUESTS"), list(by_status.items()), numeric=(1,)))
    out += ["", "Circuit states and latencies are the running gateway's: GET /v1/ops/overview, or /console."]
    print("\n".join(out))
    return 0


def status_command(args: argparse.Namespace) -> int:
    """Run ``mpp-gateway status``: 0 shown, 2 configuration or store error."""
    return _run("status", lambda store, settings: _status(store, settings, as_json=args.json))


def _query(args: argparse.Namespace, now: dt.datetime) -> RequestQuery:
    """The search the options ask for; :class:`ValueError` naming the option otherwise."""

    def parsed(option: str, value: str | None, parse: Any) -> Any:
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            raise ValueError(f"{option}: {exc}") from None

    if not 1 <= args.limit <= MAX_SEARCH_LIMIT:
        raise ValueError(f"--limit: must be from 1 to {MAX_SEARCH_LIMIT}")
    query = {
        "statuses": parsed("--status", args.status, parse_statuses) or (),
        "since": parsed("--since", args.since, lambda v: parse_when(v, now)),
        "until": parsed("--until", args.until, lambda v: parse_when(v, now)),
        "after": parsed("--cursor", args.cursor, SearchCursor.decode),
    }
    try:
        return RequestQuery(service=args.service, agency=args.agency, mpp_id=args.mpp, problem=args.problem,
                            request_id=args.id, limit=args.limit, **query)  # fmt: skip
    except ValueError as exc:
        raise ValueError(f"--problem: {exc}") from None  # the only option RequestQuery itself checks


def _slug(problem: dict[str, Any] | None) -> str:
    kind = problem.get("type") if problem else None
    return str(kind).rsplit("/", 1)[-1] if kind else "-"


def _print_page(page: RequestPage, args: argparse.Namespace) -> None:
    if args.json:
        cursor = page.next_cursor.encode() if page.next_cursor is not None else None
        records = [masked_record(row) for row in page.requests]
        print(orjson.dumps({"requests": records, "next_cursor": cursor}).decode())
        return
    if not page.requests:
        print("No request matches.")
        return
    rows = [
        (r.id, _clock(r.created_at), r.service, r.agency, r.status, _slug(r.problem), len(r.attempts), r.nik_masked)
        for r in page.requests
    ]
    headers = ("ID", "CREATED (UTC)", "SERVICE", "AGENCY", "STATUS", "PROBLEM", "ATTEMPTS", "NIK (MASKED)")
    print(table(headers, rows, numeric=(6,)))
    if page.next_cursor is not None:
        print(f"\nMore: add --cursor {page.next_cursor.encode()}")


def requests_command(args: argparse.Namespace) -> int:
    """Run ``mpp-gateway requests``: 0 shown (a match or none), 2 bad option, configuration or store error."""
    try:
        query = _query(args, dt.datetime.now(dt.UTC))
    except ValueError as exc:
        print(f"mpp-gateway requests: {exc}", file=sys.stderr)
        return 2

    async def show(store: Store, settings: Settings) -> int:
        _print_page(await store.search(query), args)
        return 0

    return _run("requests", show)

"""Searching requests, the same SQL for SQLite and PostgreSQL: filters, a reader's scope, newest first by keyset.

A search pages through ``(created_at, id)`` descending: the cursor is the last row of a page, and the next page is
what lies strictly below it, so rows inserted meanwhile never shift a page nor repeat one. Without
``with_personal_data`` the rows carry no envelope, result or agency reference (nothing sealed is read, so no data
key is needed): what operators and the command line see. The ``requests_created`` and ``requests_mpp`` indexes
(migration 0008) serve the unfiltered newest-first walk and an MPP's own requests.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from contracts import RequestStatus

if TYPE_CHECKING:
    from ._port import StoredRequest

__all__ = [
    "DEFAULT_SEARCH_LIMIT",
    "MAX_SEARCH_LIMIT",
    "PROBLEM_SLUG",
    "Dialect",
    "ReaderScope",
    "RequestPage",
    "RequestQuery",
    "SearchCursor",
    "attempts_sql",
    "counts_by_status",
    "page_of",
    "search_columns",
    "search_sql",
    "status_counts_sql",
]

Dialect = Literal["sqlite", "postgres"]

DEFAULT_SEARCH_LIMIT = 50
MAX_SEARCH_LIMIT = 500
#: What a problem type's slug looks like (``agency-unavailable``, ``nik-not-found``).
PROBLEM_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: The ``type`` of a stored problem is ``/problems/<slug>`` (:func:`gateway.problems.type_uri`).
_PROBLEM_TYPE = "/problems/{slug}"

#: The stores' column list, in :class:`StoredRequest` order (the stores read rows of it positionally or by name).
_COLUMNS = (
    "id", "client_id", "service", "agency", "kind", "status", "mpp_id", "desk", "operator", "nik_masked", "envelope",
    "result", "agency_reference", "problem", "trace_id", "traceparent", "created_at", "updated_at", "finished_at",
    "deadline_at", "lease_owner", "lease_expires", "attempts", "not_before", "needs_reconcile", "purged_at",
)  # fmt: skip
#: Columns holding personal data (sealed at rest): read only for a search ``with_personal_data``.
_PERSONAL = frozenset({"envelope", "result", "agency_reference"})


@dataclasses.dataclass(frozen=True, slots=True)
class SearchCursor:
    """Where a page ended: its last row's ``created_at`` and ``id``; the next page starts strictly below."""

    created_at: dt.datetime
    id: str

    def encode(self) -> str:
        """An opaque, URL-safe text for ``next_cursor``."""
        text = f"{self.created_at.astimezone(dt.UTC).isoformat()}|{self.id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> SearchCursor:
        """The cursor :meth:`encode` wrote; :class:`ValueError` for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            at, sep, request_id = raw.partition("|")
            created_at = dt.datetime.fromisoformat(at)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError("not a cursor this gateway wrote") from None
        if not sep or not request_id or created_at.tzinfo is None or len(request_id) > 64:
            raise ValueError("not a cursor this gateway wrote")
        return cls(created_at, request_id)


@dataclasses.dataclass(frozen=True, slots=True)
class ReaderScope:
    """The requests a counter client may read (:meth:`gateway.security.Client.may_read`): those it made, and any of
    its MPP's when it belongs to one."""

    client_id: str
    mpp_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RequestQuery:
    """What to look for. Every filter given must hold; ``scope`` ``None`` searches every request (operations)."""

    statuses: tuple[RequestStatus, ...] = ()
    service: str | None = None
    agency: str | None = None
    mpp_id: str | None = None
    #: A problem type's slug (``agency-unavailable``).
    problem: str | None = None
    request_id: str | None = None
    #: Created at or after.
    since: dt.datetime | None = None
    #: Created before.
    until: dt.datetime | None = None
    scope: ReaderScope | None = None
    limit: int = DEFAULT_SEARCH_LIMIT
    #: The previous page's ``next_cursor``: this page starts below it.
    after: SearchCursor | None = None
    #: Read the envelope, result and agency reference too (the record a counter client is shown).
    with_personal_data: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_SEARCH_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_SEARCH_LIMIT}")
        if any(t is not None and t.tzinfo is None for t in (self.since, self.until)):
            raise ValueError("since and until must carry their time zone")
        if self.problem is not None and not PROBLEM_SLUG.match(self.problem):
            raise ValueError("problem must be a problem type's slug, such as agency-unavailable")


@dataclasses.dataclass(frozen=True, slots=True)
class RequestPage:
    """One page of a search, newest first, and the cursor of the next (``None`` on the last page)."""

    requests: list[StoredRequest]
    next_cursor: SearchCursor | None


class _Params:
    """Placeholders in the dialect's style, and the values they stand for, in order."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        if isinstance(value, dt.datetime) and self.dialect == "sqlite":
            value = value.astimezone(dt.UTC).isoformat()  # the SQLite store writes times so: they sort as text
        self.values.append(value)
        return "?" if self.dialect == "sqlite" else f"${len(self.values)}"


def _problem_type(dialect: Dialect) -> str:
    return "json_extract(problem, '$.type')" if dialect == "sqlite" else "problem->>'type'"


def search_columns(with_personal_data: bool) -> str:
    """The stores' column list, with ``NULL`` in place of the personal columns unless they are wanted."""
    return ", ".join(
        f"NULL AS {name}" if name in _PERSONAL and not with_personal_data else name for name in _COLUMNS
    )


def search_sql(query: RequestQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """The ``SELECT`` of one page (one row more than the limit: its presence says another page follows)."""
    p = _Params(dialect)
    where: list[str] = []
    if query.scope is not None:
        own = f"client_id = {p(query.scope.client_id)}"
        where.append(own if query.scope.mpp_id is None else f"({own} OR mpp_id = {p(query.scope.mpp_id)})")
    if query.statuses:
        where.append(f"status IN ({', '.join(p(str(s)) for s in dict.fromkeys(query.statuses))})")
    for column, value in (
        ("id", query.request_id), ("service", query.service), ("agency", query.agency), ("mpp_id", query.mpp_id),
    ):  # fmt: skip
        if value is not None:
            where.append(f"{column} = {p(value)}")
    if query.problem is not None:
        where.append(f"{_problem_type(dialect)} = {p(_PROBLEM_TYPE.format(slug=query.problem))}")
    if query.since is not None:
        where.append(f"created_at >= {p(query.since)}")
    if query.until is not None:
        where.append(f"created_at < {p(query.until)}")
    if query.after is not None:
        at = query.after.created_at
        where.append(f"(created_at < {p(at)} OR (created_at = {p(at)} AND id < {p(query.after.id)}))")
    sql = f"SELECT {search_columns(query.with_personal_data)} FROM requests"  # noqa: S608 - values are parameters
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at DESC, id DESC LIMIT {p(query.limit + 1)}"
    return sql, p.values


def attempts_sql(request_ids: Sequence[str], dialect: Dialect) -> tuple[str, list[Any]]:
    """The ``SELECT`` of the attempts of every request of a page, by request and number."""
    columns = "SELECT request_id, number, started_at, finished_at, outcome, detail FROM attempts WHERE "
    order = " ORDER BY request_id, number"
    if dialect == "postgres":
        return columns + "request_id = ANY($1::text[])" + order, [list(request_ids)]
    return columns + f"request_id IN ({', '.join('?' for _ in request_ids)})" + order, list(request_ids)


def status_counts_sql(since: dt.datetime, dialect: Dialect) -> tuple[str, list[Any]]:
    """Requests created since ``since``, counted by status."""
    p = _Params(dialect)
    sql = f"SELECT status, count(*) FROM requests WHERE created_at >= {p(since)} GROUP BY status"  # noqa: S608
    return sql, p.values


def page_of(found: list[StoredRequest], limit: int) -> RequestPage:
    """The page of what :func:`search_sql` found: one row more than ``limit`` means another page follows."""
    if len(found) <= limit:
        return RequestPage(found, None)
    kept = found[:limit]
    return RequestPage(kept, SearchCursor(kept[-1].created_at, kept[-1].id))


def counts_by_status(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """``(status, count)`` rows as counts in the status machine's order, every status present."""
    found = {str(status): int(count) for status, count in rows}
    return {str(status): found.get(str(status), 0) for status in RequestStatus}

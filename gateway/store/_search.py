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
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from contracts import RequestStatus

if TYPE_CHECKING:
    from ._port import StoredRequest

__all__ = [
    "DEFAULT_SEARCH_LIMIT",
    "MAX_SEARCH_LIMIT",
    "PROBLEM_SLUG",
    "Dialect",
    "Params",
    "ReaderScope",
    "RequestPage",
    "RequestQuery",
    "SearchCursor",
    "attempts_sql",
    "check_window",
    "counts_by_status",
    "filters_where",
    "newest_first",
    "page_of",
    "search_columns",
    "search_sql",
    "split_page",
    "status_counts_sql",
    "window_where",
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


def check_window(limit: int, since: dt.datetime | None, until: dt.datetime | None) -> None:
    """:class:`ValueError` unless ``limit`` is from 1 to :data:`MAX_SEARCH_LIMIT` and the times carry their zone."""
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_SEARCH_LIMIT}")
    if any(t is not None and t.tzinfo is None for t in (since, until)):
        raise ValueError("since and until must carry their time zone")


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
        check_window(self.limit, self.since, self.until)
        if self.problem is not None and not PROBLEM_SLUG.match(self.problem):
            raise ValueError("problem must be a problem type's slug, such as agency-unavailable")


@dataclasses.dataclass(frozen=True, slots=True)
class RequestPage:
    """One page of a search, newest first, and the cursor of the next (``None`` on the last page)."""

    requests: list[StoredRequest]
    next_cursor: SearchCursor | None


class Params:
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
    p = Params(dialect)
    where = filters_where(
        p, "", query.scope, query.statuses,
        (("id", query.request_id), ("service", query.service), ("agency", query.agency), ("mpp_id", query.mpp_id)),
    )  # fmt: skip
    if query.problem is not None:
        where.append(f"{_problem_type(dialect)} = {p(_PROBLEM_TYPE.format(slug=query.problem))}")
    where += window_where(p, "", query.since, query.until, query.after)
    sql = f"SELECT {search_columns(query.with_personal_data)} FROM requests"  # noqa: S608 - values are parameters
    return sql + newest_first(p, "", where, query.limit), p.values


def filters_where(
    p: Params, prefix: str, scope: ReaderScope | None, statuses: Sequence[StrEnum],
    equal: Iterable[tuple[str, str | None]],
) -> list[str]:  # fmt: skip
    """The conditions of a reader's scope, the statuses and the columns that must equal a value (when given);
    ``prefix`` qualifies the columns (``"j."``)."""
    where: list[str] = []
    if scope is not None:
        own = f"{prefix}client_id = {p(scope.client_id)}"
        where.append(own if scope.mpp_id is None else f"({own} OR {prefix}mpp_id = {p(scope.mpp_id)})")
    if statuses:
        where.append(f"{prefix}status IN ({', '.join(p(str(s)) for s in dict.fromkeys(statuses))})")
    for column, value in equal:
        if value is not None:
            where.append(f"{prefix}{column} = {p(value)}")
    return where


def window_where(
    p: Params, prefix: str, since: dt.datetime | None, until: dt.datetime | None, after: SearchCursor | None
) -> list[str]:
    """The conditions of created at or after ``since``, before ``until``, and below the cursor ``after``."""
    where: list[str] = []
    if since is not None:
        where.append(f"{prefix}created_at >= {p(since)}")
    if until is not None:
        where.append(f"{prefix}created_at < {p(until)}")
    if after is not None:
        at = after.created_at
        where.append(
            f"({prefix}created_at < {p(at)} OR ({prefix}created_at = {p(at)} AND {prefix}id < {p(after.id)}))"
        )
    return where


def newest_first(p: Params, prefix: str, where: Sequence[str], limit: int) -> str:
    """The ``WHERE`` of ``where`` (if any) and the keyset order, one row more than ``limit``."""
    sql = " WHERE " + " AND ".join(where) if where else ""
    return sql + f" ORDER BY {prefix}created_at DESC, {prefix}id DESC LIMIT {p(limit + 1)}"


def attempts_sql(request_ids: Sequence[str], dialect: Dialect) -> tuple[str, list[Any]]:
    """The ``SELECT`` of the attempts of every request of a page, by request and number."""
    columns = "SELECT request_id, number, started_at, finished_at, outcome, detail FROM attempts WHERE "
    order = " ORDER BY request_id, number"
    if dialect == "postgres":
        return columns + "request_id = ANY($1::text[])" + order, [list(request_ids)]
    return columns + f"request_id IN ({', '.join('?' for _ in request_ids)})" + order, list(request_ids)


def status_counts_sql(since: dt.datetime, dialect: Dialect) -> tuple[str, list[Any]]:
    """Requests created since ``since``, counted by status."""
    p = Params(dialect)
    sql = f"SELECT status, count(*) FROM requests WHERE created_at >= {p(since)} GROUP BY status"  # noqa: S608
    return sql, p.values


def page_of(found: list[StoredRequest], limit: int) -> RequestPage:
    """The page of what :func:`search_sql` found: one row more than ``limit`` means another page follows."""
    return RequestPage(*split_page(found, limit))


class _Keyed(Protocol):
    @property
    def created_at(self) -> dt.datetime: ...
    @property
    def id(self) -> str: ...


_Row = TypeVar("_Row", bound=_Keyed)


def split_page(found: list[_Row], limit: int) -> tuple[list[_Row], SearchCursor | None]:
    """The rows of a page and the next page's cursor (``None`` on the last): one row more than ``limit`` found
    means another page follows."""
    if len(found) <= limit:
        return found, None
    kept = found[:limit]
    return kept, SearchCursor(kept[-1].created_at, kept[-1].id)


def counts_by_status(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """``(status, count)`` rows as counts in the status machine's order, every status present."""
    found = {str(status): int(count) for status, count in rows}
    return {str(status): found.get(str(status), 0) for status in RequestStatus}

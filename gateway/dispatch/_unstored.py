"""A waited lookup not yet written: its run and its acceptance share one store write when the run ends in time.

A lookup whose client waits for the answer needs to be durable only before that answer: nothing was acknowledged
before it, so a crash in between loses nothing a counter was told. Its acceptance therefore stores nothing up front;
the run's end writes the request, its last attempt and both audit entries (``request.accepted`` and
``request.<status>``) in one transaction (:meth:`~gateway.store.RequestStore.insert_finished`). Whoever needs the
request in the store earlier stores it as it would have been stored up front (``in_progress`` under the run's
lease, with its ``request.accepted`` entry), once, and everybody after that uses the ordinary writes:

- the acceptance, when the wait expires before the run ends (before it answers 202);
- the run, before a write that presumes the row: an attempt that is not the last (a retry), or a deferral.

When the one write fails, the request is not stored, and so it is not answered: :attr:`Unstored.failure` holds why.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

import structlog

from contracts import RequestStatus

from ..store import AuditEvent, NewRequest, NewWebhook, RequestStore, StoredAttempt

__all__ = ["Unstored"]

log = structlog.get_logger("gateway.dispatch")


@dataclasses.dataclass(eq=False)
class Unstored:
    """A request accepted for a run but not yet in ``store``: the write that makes it durable, made once."""

    store: RequestStore
    request: NewRequest
    #: ``(owner, seconds)``: the lease it is stored under when it is stored before its run ends.
    lease: tuple[str, float]
    #: Its ``request.accepted`` entry, written with whichever write stores it.
    accepted: AuditEvent | None
    #: Why the request could not be stored; then it is not answered.
    failure: BaseException | None = None
    #: The write that stores the request, once one started; ``final`` when it also recorded the run's end.
    _write: asyncio.Future[None] | None = None
    _final: bool = False

    @property
    def written(self) -> bool:
        """Whether a write of the request has started (the ordinary writes apply from then on)."""
        return self._write is not None

    async def stored(self) -> None:
        """Store the request as in progress with its ``request.accepted`` entry, unless a write of it is under way
        or done; wait for that write. Raises what made it fail (the request is then not stored)."""
        if self._write is None:
            self._write = asyncio.ensure_future(self._insert())
        await asyncio.shield(self._write)

    async def _insert(self) -> None:
        try:
            await self.store.insert(self.request, lease=self.lease, audit=self.accepted)
        except BaseException as exc:
            self.failure = exc
            raise

    async def record_attempt(self, request_id: str, attempt: StoredAttempt) -> None:
        """An attempt that is not the last: the request is stored first."""
        await self.stored()
        await self.store.record_attempt(request_id, attempt)

    async def release(self, request_id: str, owner: str, **kwargs: Any) -> None:
        """A deferral: the request is stored first, then released as ever."""
        await self.stored()
        await self.store.release(request_id, owner, **kwargs)

    async def finish(
        self,
        request_id: str,
        owner: str,
        *,
        status: RequestStatus,
        attempt: StoredAttempt | None,
        result: dict[str, Any] | None = None,
        agency_reference: str | None = None,
        problem: dict[str, Any] | None = None,
        webhook: NewWebhook | None = None,
        at: dt.datetime | None = None,
        audit: AuditEvent | None = None,
    ) -> bool:
        """The run's end: the one write of the request when nothing was written yet, else the ordinary finish.

        ``False`` when the request is not stored (a failed write; logged, and :attr:`failure` says why).
        """
        if self._write is not None:
            try:
                await asyncio.shield(self._write)
            except Exception:  # the acceptance answered 503 for it: the request stays unstored
                return False
            if self._final:  # pragma: no cover - a run ends once
                return True
            return await self.store.finish(
                request_id, owner, status=status, attempt=attempt, result=result, agency_reference=agency_reference,
                problem=problem, webhook=webhook, at=at, audit=audit,
            )  # fmt: skip
        events = tuple(e for e in (self.accepted, audit) if e is not None)
        self._final = True
        # A bare future, not a task: the common case has nobody else waiting on it.
        self._write = write = asyncio.get_running_loop().create_future()
        try:
            await self.store.insert_finished(
                self.request, status=status, attempt=attempt, result=result, agency_reference=agency_reference,
                problem=problem, webhook=webhook, at=at, audit=events,
            )  # fmt: skip
        except asyncio.CancelledError:
            write.cancel()
            raise
        except Exception as exc:
            self.failure = exc
            write.set_exception(exc)
            write.exception()  # read here: those waiting on it learn of it from ``failure`` as well
            log.error("request.not_stored", reason=type(exc).__name__)
            return False
        write.set_result(None)
        return True

"""A mock of the imigrasi booking API (the INVENTED wire format), for tests and the gateway's demo.

One office, weekday slots from 08:00 to 15:00 (one hour each, ``capacity`` places) for ``days`` days after
``today``. Bookings are keyed by the ``Idempotency-Key`` header: the same key and body answer the original
booking again (200 instead of 201), another body ``IDEMPOTENCY_CONFLICT``; every delivery is counted per key.
Two switches on :class:`MockOffice` stand in for trouble: ``outage`` (503 ``UNAVAILABLE``) and
``drop_next_answer`` (the booking is made, then the connection is cut: the client cannot know).

Start it with :func:`start_mock`, which draws a fresh token with :mod:`secrets` and returns the settings the
adapter needs, or build the app with :func:`create_app`. The package also registers :data:`MOCK` in the gateway's
entry-point group ``mpp_gateway.mocks``, so ``mpp-gateway mocks`` and ``make run`` start this mock next to the
built-in ones (with the shared ``/_control/`` routes and fault injection) and configure the adapter for it.
When the adapter speaks the agency's real protocol, this mock must speak it too, quirks included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import re
import secrets
from collections import Counter
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web
from mocks import Control, MockSpec, Population

__all__ = ["MOCK", "STATE_KEY", "Booking", "MockOffice", "RunningMock", "create_app", "start_mock"]

_WIB = dt.timezone(dt.timedelta(hours=7))
_HOURS = range(8, 15)
_NIK = re.compile(r"^[0-9]{16}$")
_PHONE = re.compile(r"^628[1-9][0-9]{6,10}$")
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STATUS = {"UNAUTHORIZED": 401, "FORBIDDEN_OFFICE": 403, "UNKNOWN_OFFICE": 404, "SLOT_NOT_FOUND": 404,
           "NOT_FOUND": 404, "SLOT_FULL": 409, "ALREADY_BOOKED": 409, "IDEMPOTENCY_CONFLICT": 409,
           "INVALID_REQUEST": 422, "UNAVAILABLE": 503}


@dataclasses.dataclass(frozen=True)
class Booking:
    """One booking, with the body it was made with (for idempotency)."""

    key: str
    body: dict[str, Any]
    appointment: dict[str, Any]


class MockOffice:
    """The state of one mock office: its slots, bookings and delivery counts."""

    def __init__(self, *, token: str, office: str, today: dt.date, days: int, capacity: int) -> None:
        self.token = token
        self.office = office
        self.today = today
        self.days = days
        self.capacity = capacity
        self.bookings: dict[str, Booking] = {}
        #: Deliveries per Idempotency-Key, refused and replayed ones included.
        self.deliveries: Counter[str] = Counter()
        #: The gateway's shared test controls, when the mock runs under ``mocks.start_mocks``.
        self.control: Control | None = None
        self.outage = False
        self.drop_next_answer = False
        self._taken: Counter[str] = Counter()
        self._active: dict[str, str] = {}

    def slot_ids(self) -> list[str]:
        """Every slot of the schedule, in time order."""
        days = (self.today + dt.timedelta(days=n) for n in range(1, self.days + 1))
        return [self._slot_id(day, hour) for day in days if day.weekday() < 5 for hour in _HOURS]

    def _slot_id(self, day: dt.date, hour: int) -> str:
        return f"{self.office}-{day:%Y%m%d}-{hour:02d}00"

    def _slot(self, slot_id: str) -> dict[str, Any]:
        day = dt.datetime.strptime(slot_id[-13:-5], "%Y%m%d").date()
        hour = int(slot_id[-4:-2])
        return {"id": slot_id, "date": day.isoformat(), "start": f"{hour:02d}:00", "end": f"{hour + 1:02d}:00",
                "remaining": self.capacity - self._taken[slot_id]}

    async def slots(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        if request.match_info["office"] != self.office:
            return _error("UNKNOWN_OFFICE")
        query = request.query
        try:
            days = int(query.get("days", "7"))
            first = dt.date.fromisoformat(query["from"]) if "from" in query else self.today + dt.timedelta(days=1)
        except ValueError:
            return _error("INVALID_REQUEST")
        if not 1 <= days <= 14:
            return _error("INVALID_REQUEST")
        last = first + dt.timedelta(days=days - 1)
        free = [self._slot(s) for s in self.slot_ids() if self._taken[s] < self.capacity]
        listed = [s for s in free if first.isoformat() <= s["date"] <= last.isoformat()]
        return _json({"office": self.office, "slots": listed})

    async def book(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key", "")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        if _KEY.match(key):
            self.deliveries[key] += 1
            if self.control is not None:
                self.control.record_delivery("appointments", key)
        refused = self._refuse(request)
        if refused is not None:
            return refused
        if not _KEY.match(key) or not _valid_booking(body):
            return _error("INVALID_REQUEST")
        known = self.bookings.get(key)
        if known is not None:
            return _json({"appointment": known.appointment}) if known.body == body else _error("IDEMPOTENCY_CONFLICT")
        slot_id, nik = body["slot_id"], body["nik"]
        if slot_id not in self.slot_ids():
            return _error("SLOT_NOT_FOUND")
        if nik in self._active:
            return _error("ALREADY_BOOKED")
        if self._taken[slot_id] >= self.capacity:
            return _error("SLOT_FULL")
        slot = self._slot(slot_id)
        appointment = {"code": f"APT-{secrets.token_hex(3).upper()}", "office": self.office, "slot_id": slot_id,
                       "date": slot["date"], "start": slot["start"], "end": slot["end"], "status": "BOOKED"}
        self.bookings[key] = Booking(key, body, appointment)
        self._taken[slot_id] += 1
        self._active[nik] = key
        if self.drop_next_answer:
            self.drop_next_answer = False
            if request.transport is not None:
                request.transport.abort()
        return _json({"appointment": appointment}, status=201)

    async def by_reference(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        known = self.bookings.get(request.match_info["reference"])
        return _error("NOT_FOUND") if known is None else _json({"appointment": known.appointment})

    def _refuse(self, request: web.Request) -> web.Response | None:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(given, self.token.encode()):
            return _error("UNAUTHORIZED")
        return _error("UNAVAILABLE") if self.outage else None


def _valid_booking(body: object) -> bool:
    if not isinstance(body, dict) or set(body) != {"slot_id", "nik", "phone"}:
        return False
    if not all(isinstance(body[name], str) for name in ("slot_id", "nik", "phone")):
        return False
    return bool(_NIK.match(body["nik"]) and _PHONE.match(body["phone"]))


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(code: str) -> web.Response:
    return _json({"error": {"code": code, "message": code.replace("_", " ").lower()}}, status=_STATUS[code])


STATE_KEY = web.AppKey("mpp_imigrasi.mock", MockOffice)
"""Where :func:`create_app` puts the :class:`MockOffice` on the app."""


def create_app(
    *,
    token: str,
    office: str = "IMIGRASI-BANDUNG",
    today: dt.date | None = None,
    days: int = 14,
    capacity: int = 2,
    control: Control | None = None,
) -> web.Application:
    """The mock app for one office and one token; with ``control``, also its ``/_control/`` routes and faults."""
    if not token:
        raise ValueError("token must not be empty")
    state = MockOffice(
        token=token, office=office, today=today or dt.datetime.now(_WIB).date(), days=days, capacity=capacity
    )
    app = web.Application()
    app[STATE_KEY] = state
    if control is not None:
        state.control = control
        control.install(app)
    app.router.add_get("/v1/offices/{office}/slots", state.slots)
    app.router.add_post("/v1/appointments", state.book)
    app.router.add_get("/v1/appointments/by-reference/{reference}", state.by_reference)
    return app


@dataclasses.dataclass
class RunningMock:
    """A mock listening on a socket, with the settings its adapter needs (``base_url``, ``token``, ``office``)."""

    base_url: str
    settings: dict[str, str]
    app: web.Application
    runner: web.AppRunner

    @property
    def state(self) -> MockOffice:
        """The office's state: bookings, deliveries, switches."""
        return self.app[STATE_KEY]

    async def aclose(self) -> None:
        """Stop listening."""
        await self.runner.cleanup()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def start_mock(host: str = "127.0.0.1", port: int = 0, **options: Any) -> RunningMock:
    """Start the mock with a fresh token; ``options`` go to :func:`create_app` (office, today, days, capacity)."""
    token = secrets.token_urlsafe(24)
    app = create_app(token=token, **options)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    base_url = f"http://{host}:{runner.addresses[0][1]}"
    settings = {"base_url": base_url, "token": token, "office": app[STATE_KEY].office}
    return RunningMock(base_url, settings, app, runner)


def _build(population: Population, control: Control) -> tuple[web.Application, dict[str, str]]:
    # The office serves no one from the shared population: any synthetic NIK may book.
    token = secrets.token_urlsafe(24)
    app = create_app(token=token, control=control)
    return app, {"token": token, "office": app[STATE_KEY].office}


MOCK = MockSpec(_build, default_port=8105)
"""What this package registers under ``mpp_gateway.mocks`` (see ``pyproject.toml``): a fresh token per cluster."""

"""The adapter interface: what every agency integration, built in or third-party, implements."""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from contracts import LocalizedText, ServiceDescriptor, ServiceKind

from ._errors import AmbiguousOutcome, ContractError
from ._http import AgencyHttp
from ._inbound import AgencyDocuments, InboundRoute

__all__ = [
    "Adapter",
    "AdapterContext",
    "Call",
    "CallHandler",
    "Completed",
    "Outcome",
    "ProblemType",
    "Service",
    "WaitingAgency",
    "require_settings",
]

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclasses.dataclass(frozen=True)
class Service(Generic[P, R]):
    """One service an adapter offers: its catalog entry plus the models that validate payload and result."""

    id: str
    title: LocalizedText
    kind: ServiceKind
    personal_data: bool
    payload_model: type[P]
    result_model: type[R]
    description: LocalizedText | None = None

    @property
    def agency(self) -> str:
        """The agency slug, the first part of the id."""
        return self.id.split(".", 1)[0]

    def descriptor(self) -> ServiceDescriptor:
        """The catalog entry, with JSON Schemas generated from the models."""
        return ServiceDescriptor(
            id=self.id,
            agency=self.agency,
            title=self.title,
            description=self.description,
            kind=self.kind,
            personal_data=self.personal_data,
            payload_schema=self.payload_model.model_json_schema(),
            result_schema=self.result_model.model_json_schema(),
        )


@dataclasses.dataclass(frozen=True)
class ProblemType:
    """A kind of problem an adapter's rejections map to, served by the gateway at ``/problems/<slug>``."""

    slug: str
    status: int
    title: LocalizedText
    description: str


@dataclasses.dataclass(frozen=True)
class Call:
    """One execution of a request, as the dispatcher hands it to an adapter."""

    request_id: str
    service: str
    nik: str
    payload: BaseModel
    #: Stable reference for the agency: the same on every attempt, so a submission can be reconciled.
    reference: str
    attempt: int
    #: Monotonic-clock deadline (``time.monotonic()`` seconds) for the whole request.
    deadline: float


@dataclasses.dataclass(frozen=True)
class Completed:
    """The agency answered with a result."""

    result: BaseModel
    agency_reference: str | None = None


@dataclasses.dataclass(frozen=True)
class WaitingAgency:
    """The agency accepted the work and will finish it later (permits that take days)."""

    agency_reference: str


Outcome = Completed | WaitingAgency

CallHandler = Callable[[Call], Awaitable[Outcome]]
"""Carries out the calls of one service: what :meth:`Adapter.handlers` maps a service id to."""


@dataclasses.dataclass(frozen=True)
class AdapterContext:
    """Everything an adapter is given at construction; adapters never reach for globals or the environment."""

    http: AgencyHttp
    #: The agency's settings: ``MPP_<AGENCY>_<NAME>`` variables with the prefix removed, names lower-cased.
    settings: Mapping[str, str]
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    #: Where the adapter keeps what its agency pushes to its :meth:`Adapter.inbound_routes`, scoped to its agency:
    #: the gateway gives one to every adapter when it has a store; ``None`` without (tests pass a
    #: :class:`~adapters.MemoryDocuments`).
    documents: AgencyDocuments | None = None


def require_settings(
    settings: Mapping[str, str], names: Sequence[str], *, agency: str, label: str | None = None
) -> None:
    """Raise a ``ValueError`` naming every missing or blank setting by its variable, never by its value.

    Call it first in the adapter's ``__init__``: ``require_settings(context.settings, ("token",), agency=self.agency)``
    fails with ``the imigrasi adapter needs the settings: MPP_AGENCY__IMIGRASI__TOKEN``. ``label`` is the agency's
    name in that message (the slug by default).
    """
    missing = [name for name in names if not settings.get(name, "").strip()]
    if missing:
        prefix = f"MPP_AGENCY__{agency.upper().replace('-', '_')}__"
        variables = ", ".join(prefix + name.upper() for name in missing)
        raise ValueError(f"the {label or agency} adapter needs the settings: {variables}")


class Adapter(abc.ABC):
    """An agency integration: declares its services and executes one call at a time.

    A call is carried out by the handler :meth:`handlers` maps its service to: it translates the contract into the
    agency's wire format, calls the agency through ``context.http``, and returns an :data:`Outcome` or raises one
    of the :class:`~adapters.AgencyError` classes. An adapter may instead override :meth:`execute` whole (adapters
    written before :meth:`handlers` existed do); then :meth:`handlers` is never asked.
    """

    #: Agency slug: lower-case, the first part of every service id.
    agency: ClassVar[str]
    #: Human name of the agency, for the catalog and dashboards.
    agency_name: ClassVar[str] = ""
    #: The problem types this adapter's :class:`~adapters.AgencyRejected` slugs refer to.
    problem_types: ClassVar[Sequence[ProblemType]] = ()

    @abc.abstractmethod
    def services(self) -> Sequence[Service[Any, Any]]:
        """The services this adapter offers."""

    def handlers(self) -> Mapping[str, CallHandler]:
        """The handler of each service, by service id; asked once per adapter, on its first call.

        Typically ``{VERIFY.id: self._verify, LOOKUP.id: self._lookup}``. A handler still checks that the call's
        payload is its service's model. The default has no handler: override this or :meth:`execute`.
        """
        return {}

    @functools.cached_property
    def _dispatch_table(self) -> Mapping[str, CallHandler]:
        return MappingProxyType(dict(self.handlers()))

    async def execute(self, call: Call) -> Outcome:
        """Carry out one call; raise a classified :class:`~adapters.AgencyError` on failure.

        Runs the handler :meth:`handlers` gives for ``call.service``. A service without one is a
        :class:`~adapters.ContractError` ``unknown-service`` (404): the gateway routed a call the adapter does not
        offer.
        """
        handler = self._dispatch_table.get(call.service)
        if handler is None:
            raise ContractError(f"{self.agency} does not offer {call.service!r}", slug="unknown-service", status=404)
        return await handler(call)

    def inbound_routes(self) -> Sequence[InboundRoute]:
        """The HTTP routes the gateway mounts for this adapter (an agency pushing to the region); none by default.

        Asked once, after construction. Handlers that keep what the agency sends use ``context.documents``. See
        :class:`~adapters.InboundRoute` for where each route is mounted and how its caller is authenticated.
        """
        return ()

    async def reconcile(self, call: Call) -> Outcome | None:
        """After an ambiguous submission, ask the agency whether it holds ``call.reference``.

        Return the outcome when it does, ``None`` when it does not (the gateway may then resend), or raise
        :class:`~adapters.TransientAgencyError` when it cannot tell now. The default cannot reconcile at all.
        """
        raise AmbiguousOutcome(f"{self.agency} offers no way to look a submission up", agency=self.agency)

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing of their own
        """Release anything the adapter opened itself (the HTTP transport is closed by the gateway)."""

"""The adapter interface: what every agency integration, built in or third-party, implements."""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from contracts import LocalizedText, ServiceDescriptor, ServiceKind

from ._errors import AmbiguousOutcome
from ._http import AgencyHttp

__all__ = ["Adapter", "AdapterContext", "Call", "Completed", "Outcome", "ProblemType", "Service", "WaitingAgency"]

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


@dataclasses.dataclass(frozen=True)
class AdapterContext:
    """Everything an adapter is given at construction; adapters never reach for globals or the environment."""

    http: AgencyHttp
    #: The agency's settings: ``MPP_<AGENCY>_<NAME>`` variables with the prefix removed, names lower-cased.
    settings: Mapping[str, str]
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)


def require_settings(settings: Mapping[str, str], names: Sequence[str], *, agency: str, label: str) -> None:
    """Raise a ``ValueError`` naming every missing or blank setting by its variable, never by its value."""
    missing = [name for name in names if not settings.get(name, "").strip()]
    if missing:
        prefix = f"MPP_AGENCY__{agency.upper().replace('-', '_')}__"
        variables = ", ".join(prefix + name.upper() for name in missing)
        raise ValueError(f"the {label} adapter needs the settings: {variables}")


class Adapter(abc.ABC):
    """An agency integration: declares its services and executes one call at a time.

    ``execute`` translates the contract into the agency's wire format, calls it through ``context.http``, and
    returns an :data:`Outcome` or raises one of the :class:`~adapters.AgencyError` classes.
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

    @abc.abstractmethod
    async def execute(self, call: Call) -> Outcome:
        """Carry out one call; raise a classified :class:`~adapters.AgencyError` on failure."""

    async def reconcile(self, call: Call) -> Outcome | None:
        """After an ambiguous submission, ask the agency whether it holds ``call.reference``.

        Return the outcome when it does, ``None`` when it does not (the gateway may then resend), or raise
        :class:`~adapters.TransientAgencyError` when it cannot tell now. The default cannot reconcile at all.
        """
        raise AmbiguousOutcome(f"{self.agency} offers no way to look a submission up", agency=self.agency)

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing of their own
        """Release anything the adapter opened itself (the HTTP transport is closed by the gateway)."""

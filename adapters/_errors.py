"""The one error hierarchy of the gateway and its adapters.

::

    MppError
    ├── ContractError               the caller's request breaks the contract: a 4xx problem, never retried
    └── AgencyError                 something about the agency call; carries agency, service and a safe detail
        ├── TransientAgencyError    connection refused, timeout before sending, 5xx, 429, HTML error page:
        │                           retry with backoff (``retry_after`` when the agency said how long)
        ├── AgencyRejected          the agency answered no, with its reason code: final, never retried
        ├── AmbiguousOutcome        a submission may have landed (timeout after sending): reconcile first
        └── AgencyMisconfigured     bad credentials, wrong IP, quota or access hours: not retried per request,
            │                       surfaced to operations
            └── AgencyProtocolError a well-formed reply (the agency's envelope, decoded) that the adapter cannot
                                    read: the protocol moved or the adapter is wrong; final, counted for operations

Foreign exceptions (httpx, pydantic, JSON decoding) are translated where they enter: the HTTP edge in
:mod:`adapters._http`, the mapping modules of each adapter. Messages never carry personal data or credentials.
"""

from __future__ import annotations

__all__ = [
    "AgencyError",
    "AgencyMisconfigured",
    "AgencyProtocolError",
    "AgencyRejected",
    "AmbiguousOutcome",
    "ContractError",
    "MppError",
    "TransientAgencyError",
]


class MppError(Exception):
    """Root of every error the gateway and its adapters raise on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ContractError(MppError):
    """The request does not satisfy the contract (unknown service, bad payload, missing consent, ...)."""

    def __init__(self, detail: str, *, slug: str = "invalid-request", status: int = 422) -> None:
        super().__init__(detail)
        self.slug = slug
        self.status = status


class AgencyError(MppError):
    """Base of the four outcome classes of an agency call."""

    outcome: str = "agency-error"

    def __init__(self, detail: str, *, agency: str = "", code: str | None = None) -> None:
        super().__init__(detail)
        self.agency = agency
        self.code = code


class TransientAgencyError(AgencyError):
    """The call failed in a way that may succeed if tried again later."""

    outcome = "transient"

    def __init__(
        self,
        detail: str,
        *,
        agency: str = "",
        code: str | None = None,
        retry_after: float | None = None,
        sent: bool = False,
        cause: str | None = None,
    ) -> None:
        super().__init__(detail, agency=agency, code=code)
        self.retry_after = retry_after
        #: True when the request may have reached the agency (it matters for submissions only).
        self.sent = sent
        #: What went wrong in a few words operators group by (``timeout``, ``http 503``, ``connection reset``);
        #: never personal data. ``None``: the gateway derives one from the code or the detail.
        self.cause = cause


class AgencyRejected(AgencyError):
    """The agency gave a final, negative answer about the citizen or the data (no such NIK, invalid KBLI)."""

    outcome = "rejected"

    def __init__(
        self, detail: str, *, agency: str = "", code: str | None = None, slug: str = "agency-rejected"
    ) -> None:
        super().__init__(detail, agency=agency, code=code)
        #: Stable problem type slug, e.g. ``nik-not-found``; the gateway maps it to a problem ``type`` URI.
        self.slug = slug


class AmbiguousOutcome(AgencyError):
    """A submission was sent and no answer came back: the agency may or may not have it."""

    outcome = "ambiguous"


class AgencyMisconfigured(AgencyError):
    """The gateway's own setup with the agency is wrong or exhausted; no citizen's fault, needs operations."""

    outcome = "misconfigured"


class AgencyProtocolError(AgencyMisconfigured):
    """The agency answered in its own format, but the adapter cannot read the reply: final, never retried.

    The same question would get the same reply, so a retry only hides the fault (and, for a lookup, tells the
    counter "agency unavailable" about a citizen the agency did answer for). The gateway answers the request with
    ``agency-protocol-error``, counts it by agency and ``method``, and logs it. ``method`` is the agency's method
    or path template and ``field`` the wire field that could not be read: both are names, never values, and the
    detail is built from them alone, so no personal data can ride along.
    """

    outcome = "protocol-error"

    def __init__(self, *, agency: str, method: str, field: str, detail: str | None = None) -> None:
        super().__init__(
            detail or f"{agency} answered {method} with a reply whose '{field}' the adapter cannot read",
            agency=agency,
        )
        self.method = method
        self.field = field

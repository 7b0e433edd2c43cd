"""Problem types and their rendering: every error the API returns is RFC 9457 ``application/problem+json``."""

from __future__ import annotations

from ._catalog import BUILTIN_PROBLEMS, DEFAULT_PROBLEMS, ApiProblem, ProblemCatalog, problem_response, type_uri

__all__ = [
    "BUILTIN_PROBLEMS",
    "DEFAULT_PROBLEMS",
    "ApiProblem",
    "ProblemCatalog",
    "problem_response",
    "type_uri",
]

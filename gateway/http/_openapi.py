"""The OpenAPI 3.1 description of the API, generated from the contract models and the loaded services."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from adapters import Service
from contracts import CONTRACT_VERSION, Problem, RequestRecord, ServiceDescriptor, ServiceRequest

from ..problems import DEFAULT_PROBLEMS, ProblemCatalog, type_uri
from ._inbound import MountedRoute
from ._journey_runs import journey_runs_paths
from ._journeys import JOURNEY_MODELS, journey_paths
from ._ops import ops_paths
from ._reports import reports_paths
from ._search import search_operation

__all__ = ["build_openapi"]

_REF = "#/components/schemas/{model}"
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": _PROBLEM}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Malformed JSON body.",
        401: "Missing or unknown API key.",
        403: "The client is not granted this service or MPP.",
        404: "Not found, or not visible to this client.",
        405: "Method not allowed.",
        408: "The body did not arrive in time (request-timeout); send it again.",
        413: "Body larger than the gateway accepts.",
        409: "Conflict.",
        415: "Body is not application/json.",
        422: "Validation failed: 'errors' lists field paths; or consent is missing.",
        429: "This client's request rate is exceeded; Retry-After says when to try again.",
        500: "Unexpected error (identified by trace_id).",
        503: "Agency unavailable (circuit open; see Retry-After), or not ready.",
    }
    if 401 in codes:  # every authenticated call counts against the client's rate limit
        codes = tuple(sorted({*codes, 429}))
    if 413 in codes:  # a route that reads a body waits for it only so long
        codes = tuple(sorted({*codes, 408}))
    return {str(code): _problem_response(texts[code]) for code in codes}


#: What pydantic reads and writes for a ``datetime.time``: the offset only when the time has one ("08:00:00").
_TIME = {
    "type": "string",
    "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?$",
}


def _plain_times(node: Any) -> Any:
    """``node`` with pydantic's ``format: time`` replaced by :data:`_TIME`.

    JSON Schema's ``time`` format is RFC 3339's full-time, whose offset is required; pydantic writes a naive time
    without one, so a result carrying office hours would break its own published schema.
    """
    if isinstance(node, list):
        return [_plain_times(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("format") == "time" and node.get("type") == "string":
        return {**{k: v for k, v in node.items() if k != "format"}, **_TIME}
    return {key: _plain_times(value) for key, value in node.items()}


def _service_name(service_id: str, part: str) -> str:
    words = service_id.replace("-", ".").split(".")
    return "".join(w.capitalize() for w in words) + part


def _discriminate_by_service(schemas: dict[str, Any], services: Sequence[Service[Any, Any]]) -> None:
    """Make ``ServiceRequest`` and ``RequestRecord`` unions with one variant per service, told apart by ``service``.

    A variant is the contract's envelope with ``service`` fixed to the service's id and ``payload`` (``result``)
    the service's own schema, so that code generators make one typed class per service.
    """
    for union, part in (("ServiceRequest", "Request"), ("RequestRecord", "Record")):
        envelope = schemas[union]
        mapping: dict[str, str] = {}
        for service in services:
            variant = copy.deepcopy(envelope)
            variant["title"] = f"{service.id} {part.lower()}"
            variant["properties"]["service"] = {"type": "string", "const": service.id, "title": "Service"}
            if part == "Request":
                payload = _service_name(service.id, "Payload")
                variant["properties"]["payload"] = {"$ref": _REF.format(model=payload)}
                if schemas[payload].get("required"):  # else an absent payload is an empty one
                    variant["required"] = [*variant["required"], "payload"]
            else:
                variant["properties"]["result"] = {
                    "anyOf": [{"$ref": _REF.format(model=_service_name(service.id, "Result"))}, {"type": "null"}],
                    "default": None,
                    "description": "The service's result once completed; null otherwise, and after the purge.",
                }
            name = _service_name(service.id, part)
            schemas[name] = variant
            mapping[service.id] = _REF.format(model=name)
        schemas[union] = {
            "title": union,
            "description": f"{envelope['description']} One variant per service, told apart by `service`.",
            "oneOf": [{"$ref": ref} for ref in mapping.values()],
            "discriminator": {"propertyName": "service", "mapping": mapping},
        }


def _inbound_paths(inbound: Sequence[MountedRoute]) -> dict[str, Any]:
    """The path items of the adapters' inbound routes, from what each route declares."""
    paths: dict[str, Any] = {}
    for mounted in inbound:
        route = mounted.route
        # oss POST /receiveNIB -> ossPostReceiveNIB, oss GET /nib/{nib} -> ossGetNibByNib
        spoken = re.sub(r"\{([^}]+)\}", r"by \1", f"{mounted.agency} {route.method.lower()} {route.path}")
        words = [w for w in re.split(r"[^A-Za-z0-9]+", spoken) if w]
        operation: dict[str, Any] = {
            "operationId": words[0].lower() + "".join(w[:1].upper() + w[1:] for w in words[1:]),
            "summary": route.summary or f"{route.method} {mounted.path}",
            "tags": [mounted.agency],
        }
        if route.description:
            operation["description"] = route.description
        if route.auth == "agency":
            operation["security"] = []  # the agency is authenticated by the adapter, in its own way
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{([a-z_][a-z0-9_]*)\}", route.path)
        ]
        parameters += [
            {"name": name, "in": "header", "required": True, "description": text, "schema": {"type": "string"}}
            for name, text in route.request_headers.items()
        ]
        if parameters:
            operation["parameters"] = parameters
        if route.request_schema is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": dict(route.request_schema)}},
            }
        codes = {500}
        if route.auth == "client":
            codes.add(401)
        if route.method in {"POST", "PUT", "PATCH"} and route.too_large is None:
            codes.add(413)
        errors = _errors(*sorted(codes))
        if route.grant is not None:
            errors["403"] = _problem_response(f"The client is not granted {route.grant}.")
        errors.update({str(code): _problem_response(text) for code, text in route.problems.items()})
        operation["responses"] = {
            "200": {
                "description": "The answer." if route.too_large is None else "The answer, a refusal included.",
                "content": {"application/json": {"schema": dict(route.response_schema or {})}},
            },
            **dict(sorted(errors.items())),
        }
        paths.setdefault(mounted.path, {})[route.method.lower()] = operation
    return paths


def build_openapi(
    services: Iterable[Service[Any, Any]],
    *,
    problems: ProblemCatalog = DEFAULT_PROBLEMS,
    server_url: str | None = None,
    inbound: Sequence[MountedRoute] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document: every route, every error response, the contract and each service's schemas, and
    the ``inbound`` routes of the adapters (:func:`gateway.http.inbound_routes`)."""
    models: list[tuple[type[BaseModel], Any]] = [
        (ServiceRequest, "validation"),
        (RequestRecord, "serialization"),
        (ServiceDescriptor, "serialization"),
        (Problem, "serialization"),
        *JOURNEY_MODELS,
    ]
    service_list = sorted(services, key=lambda s: s.id)
    _, defs = models_json_schema(models, ref_template=_REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    for service in service_list:
        for part, model, mode in (
            ("Payload", service.payload_model, "validation"),
            ("Result", service.result_model, "serialization"),
        ):
            schema = _plain_times(model.model_json_schema(ref_template=_REF, mode=mode))
            schemas.update(schema.pop("$defs", {}))
            schema["title"] = f"{service.id} {part.lower()}"
            schemas[_service_name(service.id, part)] = schema
    if service_list:
        _discriminate_by_service(schemas, service_list)
    schemas["ServiceCatalog"] = {
        "type": "object",
        "required": ["services"],
        "properties": {"services": {"type": "array", "items": {"$ref": "#/components/schemas/ServiceDescriptor"}}},
    }
    request_id = {"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}
    service_param = {"name": "service_id", "in": "path", "required": True, "schema": {"type": "string"}}
    record = {"application/json": {"schema": {"$ref": "#/components/schemas/RequestRecord"}}}
    payload_variants = [{"$ref": f"#/components/schemas/{_service_name(s.id, 'Payload')}"} for s in service_list]
    status_schema = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
    paths: dict[str, Any] = {
        "/v1/services": {
            "get": {
                "operationId": "listServices",
                "summary": "The service catalog",
                "tags": ["catalog"],
                "responses": {
                    "200": {
                        "description": "Every service, with its payload and result schemas.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServiceCatalog"}}},
                    },
                    **_errors(401, 500),
                },
            }
        },
        "/v1/services/{service_id}": {
            "get": {
                "operationId": "getService",
                "summary": "One catalog entry",
                "tags": ["catalog"],
                "parameters": [service_param],
                "responses": {
                    "200": {
                        "description": "The service.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServiceDescriptor"}}},
                    },
                    **_errors(401, 404, 500),
                },
            }
        },
        "/v1/requests": {
            "post": {
                "operationId": "createRequest",
                "summary": "Ask an agency for a service on behalf of a citizen",
                "description": (
                    "The request is validated and stored before any answer. With `Prefer: wait=N` (RFC 7240) the "
                    "gateway answers 200 with the final record if it finished within N seconds, else 202 with "
                    "`Location`. `service` picks the body's variant, whose `payload` is that service's payload schema."
                ),
                "tags": ["requests"],
                "parameters": [
                    {
                        "name": "Prefer",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "example": "wait=10",
                    },
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": (
                            "Makes a retry safe: the same key and body answer with the same request. Required for "
                            "submissions."
                        ),
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
                        "example": "loket-07-2026-11-22-0042",
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServiceRequest"}}},
                },
                "responses": {
                    "200": {"description": "Finished within the wait: the final record.", "content": record},
                    "202": {
                        "description": "Accepted and stored; poll `Location`.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": record,
                    },
                    **_errors(400, 401, 403, 404, 413, 415, 422, 500, 503),
                },
            }
        },
        "/v1/requests/{request_id}": {
            "get": {
                "operationId": "getRequest",
                "summary": "A request's record: status, result, attempts",
                "tags": ["requests"],
                "parameters": [request_id],
                "responses": {"200": {"description": "The record.", "content": record}, **_errors(401, 404, 500)},
            }
        },
        "/v1/requests/{request_id}/events": {
            "get": {
                "operationId": "getRequestEvents",
                "summary": "The record at each status change, as server-sent events (ends at a final status)",
                "description": (
                    "A browser's `EventSource` cannot send `Authorization`: it opens this with `?token=`, a stream "
                    "token from `POST /v1/requests/{request_id}/stream-token` (valid once, for this request only)."
                ),
                "tags": ["requests"],
                "parameters": [request_id],
                "security": [{"apiKey": []}, {"streamToken": []}],
                "responses": {
                    "200": {
                        "description": "`event: status` with the record as `data`, one per change.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_errors(401, 404, 500),
                    "429": _problem_response(
                        "This client's request rate is exceeded, or it holds as many event streams as it may "
                        "(too-many-event-streams); Retry-After says when to try again."
                    ),
                    "503": _problem_response(
                        "This replica holds as many event streams as it serves (event-streams-full); see Retry-After."
                    ),
                },
            }
        },
        "/v1/requests/{request_id}/stream-token": {
            "post": {
                "operationId": "createStreamToken",
                "summary": "A stream token: opens the request's event stream once, within about a minute",
                "tags": ["requests"],
                "parameters": [request_id],
                "responses": {
                    "200": {
                        "description": "The token, the seconds it is valid for, and the stream's URL carrying it.",
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "required": ["token", "expires_in", "events_url"],
                            "properties": {"token": {"type": "string"}, "expires_in": {"type": "integer"},
                                           "events_url": {"type": "string"}},
                        }}},
                    },
                    **_errors(401, 404, 500),
                },
            }
        },
        "/v1/agencies": {
            "get": {
                "operationId": "listAgencies",
                "summary": "Health, circuit state, latency and error figures per agency",
                "tags": ["operations"],
                "responses": {
                    "200": {
                        "description": "One entry per loaded agency.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["agencies"],
                                    "properties": {
                                        "agencies": {"type": "array", "items": {"type": "object"}},
                                        "queue": {"type": "object"},
                                    },
                                }
                            }
                        },
                    },
                    **_errors(401, 500),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {"description": "Alive.", "content": {"application/json": {"schema": status_schema}}}
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness: store reachable, adapters loaded",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {"description": "Ready.", "content": {"application/json": {"schema": status_schema}}},
                    **_errors(503),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format)",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/docs": {
            "get": {
                "operationId": "docs",
                "summary": "Readable API reference (works offline)",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {"description": "HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}
                },
            }
        },
        "/problems/{slug}": {
            "get": {
                "operationId": "problemType",
                "summary": "Description of a problem type (the target of every problem's `type`)",
                "tags": ["operations"],
                "security": [],
                "parameters": [{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}},
                    "404": _problem_response("Unknown problem type."),
                },
            }
        },
        "/console": {
            "get": {
                "operationId": "console",
                "summary": "The operations console (works offline; asks for an ops key, then calls the ops routes)",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {"description": "HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}},
                    "304": {"description": "Unchanged since the copy the browser holds (ETag)."},
                },
            }
        },
        "/console/{asset}": {
            "get": {
                "operationId": "consoleAsset",
                "summary": "A file of the operations console: its script or style sheet",
                "tags": ["operations"],
                "security": [],
                "parameters": [{"name": "asset", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "The file.",
                        "content": {
                            "text/javascript": {"schema": {"type": "string"}},
                            "text/css": {"schema": {"type": "string"}},
                            "text/html": {"schema": {"type": "string"}},
                        },
                    },
                    "304": {"description": "Unchanged since the copy the browser holds (ETag)."},
                    "404": _problem_response("No such file."),
                },
            }
        },
    }
    paths["/v1/requests"]["get"] = search_operation(_errors)
    paths.update(ops_paths())
    paths.update(journey_paths(_errors, _problem_response))
    paths.update(journey_runs_paths(_errors))
    paths.update(reports_paths())
    paths.update(_inbound_paths(inbound))
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "MPP Integration Gateway",
            "version": f"{CONTRACT_VERSION}.0",
            "description": (
                "One API for every counter of a Mal Pelayanan Publik; adapters speak each agency's protocol."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "The client's API key; or, where the region's identity provider is configured, a JWT it "
                        "issued whose client_id (else azp, else sub) claim names a configured client."
                    ),
                },
                "streamToken": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": (
                        "A stream token (`POST /v1/requests/{request_id}/stream-token`): single use, short-lived, "
                        "taken only by the request's event stream. API keys are never taken from the query."
                    ),
                },
            },
        },
        "security": [{"apiKey": []}],
        "x-service-payloads": {s.id: payload_variants[i] for i, s in enumerate(service_list)},
        "x-problem-types": {
            type_uri(p.slug): {"status": p.status, "title": p.title.en, "title_id": p.title.id}
            for p in problems.values()
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc

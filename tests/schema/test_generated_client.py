"""Pydantic models generated from the served /openapi.json by datamodel-code-generator, as a counter app would
make them: one typed class per service for the request, its payload, the record and its result."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import httpx
import pytest
from datamodel_code_generator import DataModelType, InputFileType, PythonVersion, generate
from datamodel_code_generator.format import Formatter
from pydantic import ValidationError

from tests.fakes import NIK
from tests.schema._live import ALL_SERVICES_KEY, LiveGateway

AUTH = {"Authorization": f"Bearer {ALL_SERVICES_KEY}"}
COUNTER = {"mpp_id": "mpp-kota-bandung", "desk": "loket-07", "operator": "op-0042"}


@pytest.fixture(scope="module")
def models(live: LiveGateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The models generated from the document the running gateway serves, imported as a module."""
    document = httpx.get(f"{live.url}/openapi.json", timeout=10).text
    path = tmp_path_factory.mktemp("generated") / "mpp_models.py"
    generate(
        document,
        input_file_type=InputFileType.OpenAPI,
        output=path,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_311,
        formatters=[Formatter.BUILTIN],
        disable_timestamp=True,
    )
    spec = importlib.util.spec_from_file_location("mpp_models", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the postponed annotations through the module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def _final_record(live: LiveGateway, models: ModuleType, answer: httpx.Response) -> Any:
    """The answer parsed into the generated record union, polled until the request is final."""
    record = models.RequestRecord.model_validate_json(answer.content).root
    for _ in range(50):
        if record.status.value in {"completed", "rejected", "failed"}:
            break
        polled = httpx.get(f"{live.url}/v1/requests/{record.id}", headers=AUTH, timeout=10)
        assert polled.status_code == 200, polled.text
        record = models.RequestRecord.model_validate_json(polled.content).root
    return record


def test_generated_models_send_a_typed_request_and_read_its_typed_result(
    live: LiveGateway, models: ModuleType
) -> None:
    """A Dukcapil verification built from the generated classes is accepted over a real socket, and the answer
    parses into the service's own record class whose result has the verification's typed fields."""
    assert live.cluster is not None
    citizen = live.cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    request = models.DukcapilNikVerifyRequest(
        service="dukcapil.nik.verify",
        applicant=models.Applicant(nik=citizen.nik),
        counter=models.Counter(**COUNTER),
        consent=models.Consent(
            method=models.ConsentMethod.written, reference="F-2026-0042", given_at=datetime.now(UTC)
        ),
        payload=models.DukcapilNikVerifyPayload(full_name=citizen.full_name, birth_date=citizen.birth_date),
    )
    body = models.ServiceRequest(request).model_dump(mode="json", exclude_none=True)

    answer = httpx.post(f"{live.url}/v1/requests", json=body, headers={**AUTH, "Prefer": "wait=1"}, timeout=10)

    assert answer.status_code in (200, 202), answer.text
    record = _final_record(live, models, answer)
    assert isinstance(record, models.DukcapilNikVerifyRecord)
    assert record.status == models.RequestStatus.completed, record.problem
    result = record.result
    assert isinstance(result, models.DukcapilNikVerifyResult)
    assert result.matched is True and result.threshold == 80 and result.duplicate_record is False
    assert set(result.fields) == {"full_name", "birth_date"}
    assert all(isinstance(verdict, models.FieldMatch) and verdict.match for verdict in result.fields.values())


def test_generated_union_picks_the_class_by_service(models: ModuleType) -> None:
    """The generated request union turns a body into the class its ``service`` names, payload class included."""
    payload = {"nib": "9120001234567"}
    body = {"service": "oss.nib.check", "applicant": {"nik": NIK}, "counter": COUNTER, "payload": payload}

    request = models.ServiceRequest.model_validate(body).root

    assert isinstance(request, models.OssNibCheckRequest)
    assert isinstance(request.payload, models.OssNibCheckPayload)


def test_generated_models_refuse_a_payload_of_the_wrong_type(models: ModuleType) -> None:
    """A payload of another service's class, or a payload field of the wrong type, fails validation in the
    generated models before anything is sent."""
    envelope: dict[str, Any] = {"applicant": {"nik": NIK}, "counter": COUNTER}
    with pytest.raises(ValidationError, match="payload"):
        models.DukcapilNikVerifyRequest(
            service="dukcapil.nik.verify", **envelope, payload=models.DukcapilNikLookupPayload()
        )
    with pytest.raises(ValidationError, match=r"payload\.threshold"):
        models.ServiceRequest.model_validate(
            {"service": "dukcapil.nik.verify", **envelope, "payload": {"threshold": "high"}}
        )
    with pytest.raises(ValidationError, match="service"):
        models.DukcapilNikVerifyRequest(service="oss.nib.check", **envelope, payload={})

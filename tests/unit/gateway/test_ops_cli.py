"""``mpp-gateway status`` and ``mpp-gateway requests``, through the command's entry point, on a real SQLite file."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

import pytest

from contracts import RequestStatus
from gateway import PostgresStore, SqliteStore
from gateway.cli import main
from gateway.store import KeyRing, generate_data_key
from tests.fakes import NIK
from tests.postgres import PostgresServer
from tests.store.support import attempt, new

NAME = "Siti Aminah Rahayu"
NOW = dt.datetime.now(dt.UTC)


async def fill(path: Path) -> None:
    """Requests as a gateway with a data key stores them: two accepted and failed in the last hour (two problems),
    one accepted yesterday that failed just now, one completed, one waiting in the queue and one deferred."""
    store = SqliteStore(path, keys=KeyRing.parse(generate_data_key("k1")))
    await store.open()
    body = {"applicant": {"nik": NIK}, "payload": {"value": NAME}}

    async def add(request_id: str, minutes_ago: float, status: RequestStatus | None, slug: str | None = None,
                  **fields: str) -> None:  # fmt: skip
        created = NOW - dt.timedelta(minutes=minutes_ago)
        await store.insert(dataclasses.replace(new(request_id, envelope=body, created_at=created), **fields))
        if status is None:
            return
        assert await store.claim(request_id, "w", 30) is not None
        problem = {"type": f"/problems/{slug}", "title": slug, "status": 503} if slug else None
        result = {"echoed": NAME} if status is RequestStatus.COMPLETED else None
        outcome = "completed" if result else "transient"
        await store.finish(request_id, "w", status=status, attempt=attempt(1, outcome), result=result,
                           problem=problem)  # fmt: skip

    await add("req_failed_1", 10, RequestStatus.FAILED, "agency-unavailable", agency="dukcapil",
              service="dukcapil.nik.verify")  # fmt: skip
    await add("req_failed_2", 20, RequestStatus.FAILED, "deadline-exceeded", agency="bpjs-kesehatan",
              service="bpjs-kesehatan.peserta.by-nik", mpp_id="mpp-b")  # fmt: skip
    await add("req_failed_old", 60 * 24, RequestStatus.FAILED, "agency-unavailable", agency="dukcapil")
    await add("req_done", 5, RequestStatus.COMPLETED, agency="dukcapil")
    await add("req_waiting", 3, None, agency="dukcapil")
    await add("req_deferred", 2, None, agency="oss")
    assert await store.claim("req_deferred", "w", 30) is not None
    await store.release("req_deferred", "w", not_before=time.time() + 120, attempt=attempt(1, "deferred"))
    await store.aclose()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A filled SQLite file, named by MPP_STORE_PATH; no data key is configured for the commands."""
    path = tmp_path / "gateway.sqlite3"
    asyncio.run(fill(path))
    monkeypatch.delenv("MPP_STORE_DSN", raising=False)
    monkeypatch.delenv("MPP_DATA_KEYS", raising=False)
    monkeypatch.setenv("MPP_STORE_PATH", str(path))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert NIK not in out + err and NAME not in out + err
    return code, out, err


def test_requests_lists_failed_requests_of_the_last_hour_as_a_table(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`requests --status failed --since 1h`: an aligned table, newest first, problem slug and masked NIK only."""
    code, out, _ = run(capsys, "requests", "--status", "failed", "--since", "1h")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "CREATED", "(UTC)", "SERVICE", "AGENCY", "STATUS", "PROBLEM", "ATTEMPTS",
                                "NIK", "(MASKED)"]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ["req_failed_1", "req_failed_2"]
    first = lines[1].split()
    assert first[3:] == ["dukcapil.nik.verify", "dukcapil", "failed", "agency-unavailable", "1", "3201**********01"]
    # Aligned: each column starts where its heading does, on every line; counts end where theirs does.
    for line in lines[1:]:
        assert line[lines[0].index("SERVICE"):].split()[0].endswith((".verify", ".by-nik"))
        assert line[lines[0].index("STATUS"):].startswith("failed  ")
        assert line[lines[0].index("ATTEMPTS") + len("ATTEMPTS") - 1] == "1"


def test_requests_filters_and_pages(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--agency, --mpp, --problem, --service and --limit narrow the table; a page says how to get the next."""
    code, out, _ = run(capsys, "requests", "--agency", "dukcapil", "--problem", "agency-unavailable")
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["req_failed_1", "req_failed_old"]
    _, out, _ = run(capsys, "requests", "--mpp", "mpp-b")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["req_failed_2"]
    _, out, _ = run(capsys, "requests", "--service", "dukcapil.nik.verify", "--status", "failed,completed")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["req_failed_1"]
    _, out, _ = run(capsys, "requests", "--limit", "2")
    assert [line.split()[0] for line in out.splitlines()[1:3]] == ["req_deferred", "req_waiting"]
    cursor = out.strip().splitlines()[-1].removeprefix("More: add --cursor ")
    _, more, _ = run(capsys, "requests", "--limit", "2", "--cursor", cursor)
    assert [line.split()[0] for line in more.splitlines()[1:3]] == ["req_done", "req_failed_1"]
    _, none, _ = run(capsys, "requests", "--status", "rejected")
    assert none.strip() == "No request matches."


def test_requests_json_is_the_masked_record(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints what an operations client gets from GET /v1/requests: no result, the NIK masked."""
    code, out, _ = run(capsys, "requests", "--id", "req_done", "--json")
    page = json.loads(out)
    assert code == 0 and page["next_cursor"] is None
    (record,) = page["requests"]
    assert (record["id"], record["status"], record["result"]) == ("req_done", "completed", None)
    assert record["subject"] == {"nik_masked": "3201**********01"}


def test_status_shows_queue_failures_and_requests_of_the_last_hour(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status`: the queue per agency with deferred requests, failures by problem type and requests by status."""
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert f"SQLite {database}" in out
    lines = out.splitlines()
    queue = lines[lines.index("Queue (accepted or in progress)") + 1:]
    assert queue[0].split() == ["AGENCY", "DEPTH", "OLDEST", "DEFERRED", "NEXT", "TRY"]
    assert queue[1].split()[:2] == ["dukcapil", "1"] and queue[1].split()[-1] == "-"
    assert queue[2].split()[:2] == ["oss", "1"] and "in 1m" in queue[2] and queue[2].split()[-4] == "1"
    failures = lines[lines.index("Failed in the last hour, by problem type") + 1:]
    # Failures count by when they failed: the request accepted yesterday failed within the hour.
    assert [f.split() for f in failures[1:3]] == [["agency-unavailable", "2"], ["deadline-exceeded", "1"]]
    by_status = lines[lines.index("Requests accepted in the last hour, by status now") + 1:]
    assert ["failed", "2"] in [s.split() for s in by_status] and ["accepted", "2"] in [s.split() for s in by_status]


def test_status_json(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`status --json`: the same figures as one JSON document, in the overview's names."""
    code, out, _ = run(capsys, "status", "--json")
    body = json.loads(out)
    assert code == 0
    assert [(q["agency"], q["depth"], q["deferred"]) for q in body["queue"]] == [("dukcapil", 1, 0), ("oss", 1, 1)]
    assert body["queue"][1]["next_try_at"] and 0 < body["queue"][0]["oldest_age_seconds"] < 3600
    assert body["failures_last_hour"] == {"agency-unavailable": 2, "deadline-exceeded": 1}
    assert body["requests_last_hour"]["failed"] == 2 and body["requests_last_hour"]["completed"] == 1


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["requests", "--status", "finished"], "--status"),
        (["requests", "--since", "yesterday"], "--since"),
        (["requests", "--limit", "0"], "--limit"),
        (["requests", "--problem", "/problems/x"], "--problem"),
        (["requests", "--cursor", "nope"], "--cursor"),
    ],
)
def test_a_bad_option_exits_2_naming_it(
    database: Path, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    """A bad option is one line on stderr naming it, exit 2."""
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and named in err


def test_a_missing_database_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a database at MPP_STORE_PATH both commands say so (exit 2) and create nothing."""
    monkeypatch.delenv("MPP_STORE_DSN", raising=False)
    monkeypatch.setenv("MPP_STORE_PATH", str(tmp_path / "none.sqlite3"))
    for command in ("status", "requests"):
        code, _, err = run(capsys, command)
        assert code == 2 and "no such file" in err and "MPP_STORE_PATH" in err
    assert list(tmp_path.iterdir()) == []


def test_requests_reads_postgresql_when_a_dsn_is_set(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With MPP_STORE_DSN the commands read PostgreSQL, the same table and figures as on SQLite."""
    dsn = postgres.create_database()
    try:

        async def one_failed() -> None:
            store = PostgresStore(dsn, pool_size=2, keys=KeyRing.parse(generate_data_key("k1")))
            await store.open()
            body = {"applicant": {"nik": NIK}, "payload": {"value": NAME}}
            await store.insert(dataclasses.replace(new("req_pg", envelope=body), agency="dukcapil"))
            assert await store.claim("req_pg", "w", 30) is not None
            problem = {"type": "/problems/agency-unavailable", "title": "Agency unavailable", "status": 503}
            await store.finish("req_pg", "w", status=RequestStatus.FAILED, attempt=attempt(1, "transient"),
                               problem=problem)  # fmt: skip
            await store.aclose()

        asyncio.run(one_failed())
        monkeypatch.setenv("MPP_STORE_DSN", dsn)
        code, out, _ = run(capsys, "requests", "--status", "failed", "--since", "1h")
        assert code == 0 and out.splitlines()[1].split()[0] == "req_pg" and "agency-unavailable" in out
        code, out, _ = run(capsys, "status", "--json")
        assert code == 0 and json.loads(out)["failures_last_hour"] == {"agency-unavailable": 1}
        assert "PostgreSQL" in json.loads(out)["store"]
    finally:
        postgres.drop_database(dsn)

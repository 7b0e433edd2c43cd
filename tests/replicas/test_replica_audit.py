"""Three replicas on one PostgreSQL, one SIGKILLed during a burst of submissions: every request keeps its audit
entries (accepted; its final status), every registration the agency received names an audited request, and the
replicas' entries form one chain."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import httpx
import pytest

from gateway import PostgresStore
from gateway.audit import verify_store
from tests.chaos.runner import SUBMISSION, register_payload
from tests.fakes import consent_given_at
from tests.replicas.test_replicas import FINAL, KEY, Cluster, cluster, submit, wait_ready  # noqa: F401 - a fixture

BURST = 30


@pytest.mark.slow
async def test_a_killed_replica_leaves_no_request_without_its_audit_entries(cluster: Cluster) -> None:  # noqa: F811
    """Accepted entry for every stored request, final entry for every final one, none for the agency alone."""
    headers = {"Authorization": f"Bearer {KEY}"}
    clients = [httpx.AsyncClient(base_url=url, headers=headers, timeout=10) for url in cluster.urls]
    origin = cluster.agency_origin()
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(base_url=origin, timeout=10) as agency:
        for client in clients:
            await stack.enter_async_context(client)
        await asyncio.gather(*(wait_ready(client) for client in clients))
        citizens = (await agency.get("/_control/citizens", params={"status": "active", "limit": BURST})).json()
        (await agency.put("/_control/faults", json={"latency_ms": 300})).raise_for_status()
        bodies = [
            {"service": SUBMISSION, "applicant": {"nik": c["nik"]},
             "counter": {"mpp_id": "mpp-a", "desk": f"loket-{i % 9:02d}", "operator": "op-1"},
             "consent": {"method": "written", "reference": f"F-{i}", "given_at": consent_given_at()},
             "payload": register_payload(c)}
            for i, c in enumerate(citizens["citizens"])
        ]  # fmt: skip
        keys = [str(uuid.uuid4()) for _ in range(BURST)]
        sent = [asyncio.ensure_future(submit(clients, i, bodies[i], keys[i])) for i in range(BURST)]
        await asyncio.sleep(0.3)
        cluster.kill(0)  # mid-burst: acceptances, runs and final statuses in flight on it
        ids = [(await answer).json()["id"] for answer in sent]
        for _ in range(150):
            conn = await asyncpg.connect(cluster.dsn)
            try:
                waiting = await conn.fetchval("SELECT count(*) FROM requests WHERE status <> ALL($1::text[])", FINAL)
            finally:
                await conn.close()
            if waiting == 0:
                break
            await asyncio.sleep(0.3)
        assert waiting == 0
        delivered = set((await agency.get("/_control/deliveries")).json()["by_reference"])
    conn = await asyncpg.connect(cluster.dsn)
    try:
        rows = await conn.fetch(
            "SELECT r.id, r.status, "
            "EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = r.id AND a.action = 'request.accepted'), "
            "EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = r.id AND a.action = 'request.' || r.status) "
            "FROM requests r"
        )
    finally:
        await conn.close()
    assert {row[0] for row in rows} == set(ids)
    missing = {row[0]: row[1] for row in rows if not (row[2] and row[3])}
    assert missing == {}
    assert delivered <= set(ids)
    store = PostgresStore(cluster.dsn, pool_size=2)
    await store.open()
    try:
        report = await verify_store(store)
    finally:
        await store.aclose()
    assert report.intact, report.finding

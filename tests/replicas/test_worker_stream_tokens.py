"""``mpp-gateway serve --workers 2`` without ``MPP_STREAM_TOKEN_KEY``: a stream token issued by one worker opens the
event stream on whichever worker the browser's next connection reaches.

Real processes and sockets, as in ``test_workers``: each token is asked for on a connection of its own and
redeemed on another, so the kernel spreads issuing and redeeming over both workers.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bench._bodies import lookup_body
from tests.replicas.test_workers import KEY, Workers, _citizens, _ready, workers  # noqa: F401 - a fixture

PAIRS = 24


@pytest.mark.slow
async def test_a_token_from_one_worker_opens_the_stream_on_any(workers: Workers) -> None:  # noqa: F811
    """Every token, issued and redeemed on separate connections, opens the stream once: the workers share a key."""
    workers.start_gateway()
    await _ready(workers.url, supervisor=workers)
    citizen = (await _citizens(workers, 1))[0]
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=workers.url, headers=headers, timeout=20) as client:
        created = await client.post("/v1/requests", json=lookup_body(0, citizen), headers={"Prefer": "wait=10"})
    assert created.status_code == 200, created.text
    request_id = created.json()["id"]

    async def issue_then_redeem() -> tuple[int, int]:
        async with httpx.AsyncClient(base_url=workers.url, headers=headers, timeout=20) as issuer:
            issued = (await issuer.post(f"/v1/requests/{request_id}/stream-token")).json()
        async with httpx.AsyncClient(base_url=workers.url, timeout=20) as browser:
            first = await browser.get(issued["events_url"])
        async with httpx.AsyncClient(base_url=workers.url, timeout=20) as browser:
            again = await browser.get(issued["events_url"])
        return first.status_code, again.status_code

    outcomes = await asyncio.gather(*(issue_then_redeem() for _ in range(PAIRS)))
    assert [first for first, _ in outcomes] == [200] * PAIRS
    # Single use is per worker: a replay reaching the other worker within the minute is taken there once more.
    assert {again for _, again in outcomes} <= {200, 401} and 401 in {again for _, again in outcomes}

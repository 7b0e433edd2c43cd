"""One running gateway with every agency mock, shared by the schema tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.schema._live import LiveGateway


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    """The gateway on SQLite plus every agency mock, on loopback sockets."""
    gateway = LiveGateway(tmp_path_factory.mktemp("schema") / "gateway.sqlite3")
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()

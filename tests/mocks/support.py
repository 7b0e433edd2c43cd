"""Helpers shared by the mock tests (a module, not conftest, so that tests can import its types)."""

from __future__ import annotations

from typing import Any

import aiohttp

from mocks import MockAgency


class DukcapilClient:
    """Posts to the Dukcapil mock with the cluster's credentials, the way an adapter would."""

    def __init__(self, agency: MockAgency, http: aiohttp.ClientSession) -> None:
        self.agency = agency
        self.http = http
        self.settings = agency.settings

    def url(self, method: str, institution: str | None = None) -> str:
        return f"{self.agency.base_url}/dukcapil/get_json/{institution or self.settings['institution']}/{method}"

    def body(self, **fields: Any) -> dict[str, Any]:
        credentials = {key: self.settings[key] for key in ("user_id", "password", "ip_user")}
        return {**credentials, **fields}

    async def call(self, method: str, body: dict[str, Any] | None = None, /, **fields: Any) -> dict[str, Any]:
        """Post and return the parsed envelope, asserting the HTTP 200 every answer carries."""
        async with self.http.post(self.url(method), json=self.body(**fields) if body is None else body) as resp:
            assert resp.status == 200, await resp.text()
            payload: dict[str, Any] = await resp.json()
            return payload

    async def row(self, method: str, body: dict[str, Any] | None = None, /, **fields: Any) -> dict[str, Any]:
        """The first content row of the answer."""
        envelope = await self.call(method, body, **fields)
        row: dict[str, Any] = envelope["content"][0]
        return row

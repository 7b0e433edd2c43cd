"""The operations console: a static page shipped in the package and served at ``/console``.

The page is plain files (``console/index.html``, ``console.js``, ``console.css``): no build step, no CDN, so it works
offline. The routes are public because a browser cannot send a key with a page load; the page asks the operator
for the ops key and calls the ops routes with it. Every answer carries a strict Content-Security-Policy (this
origin only, no inline script or style), so a value that slipped past the page's escaping still cannot run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from ..problems import ApiProblem
from ._edge import public

__all__ = ["CONSOLE_ASSETS", "CONSOLE_CSP", "ConsoleAsset", "console_routes", "load_console"]

#: This origin only; nothing inline, no plugins, no framing, no base rewrite; forms post nowhere else.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

#: The files the console is made of, by name, with their media type.
CONSOLE_ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class ConsoleAsset:
    """One console file as served: its bytes, media type and entity tag."""

    body: bytes
    content_type: str
    etag: str


def load_console() -> dict[str, ConsoleAsset]:
    """Read the console's files from the installed package, once."""
    folder = resources.files(__package__ or "gateway.http").joinpath("console")
    assets: dict[str, ConsoleAsset] = {}
    for name, content_type in CONSOLE_ASSETS.items():
        body = folder.joinpath(name).read_bytes()
        assets[name] = ConsoleAsset(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return assets


def _headers(asset: ConsoleAsset) -> dict[str, str]:
    # no-cache: kept, but revalidated by its ETag on every load, so an upgraded gateway serves the new page at once.
    return {
        "Content-Type": asset.content_type,
        "Content-Security-Policy": CONSOLE_CSP,
        "Cache-Control": "no-cache",
        "ETag": asset.etag,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def _answer(request: web.Request, asset: ConsoleAsset) -> web.Response:
    headers = _headers(asset)
    if asset.etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}:
        del headers["Content-Type"]
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers=headers)


def console_routes(assets: dict[str, ConsoleAsset] | None = None) -> list[web.RouteDef]:
    """``GET /console`` (the page) and ``GET /console/{asset}`` (its script and style sheet), both public."""
    files = load_console() if assets is None else assets

    @public
    async def console_page(request: web.Request) -> web.Response:
        return _answer(request, files["index.html"])

    @public
    async def console_asset(request: web.Request) -> web.Response:
        asset = files.get(request.match_info["asset"])
        if asset is None:
            raise ApiProblem("not-found", "the console has no such file")
        return _answer(request, asset)

    return [web.get("/console", console_page), web.get("/console/{asset}", console_asset)]

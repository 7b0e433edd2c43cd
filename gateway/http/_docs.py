"""Human-readable pages rendered on the server from the OpenAPI document: no scripts, no CDN, works offline."""

from __future__ import annotations

import html
from typing import Any

from adapters import ProblemType

from ..problems import ProblemCatalog

__all__ = ["render_docs", "render_problem"]

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#1d2330}
h1,h2,h3{line-height:1.2} code,pre{font:13px ui-monospace,monospace;background:#f3f4f6;padding:.1em .3em}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em} td,th{border:1px solid #d6d9e0;padding:.3em .5em;
text-align:left;vertical-align:top} th{background:#eef1f6} .m{font-weight:bold;text-transform:uppercase}
.get{color:#1565c0} .post{color:#2e7d32} nav a{margin-right:1em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " | ".join(_type_of(s) for s in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    extra = []
    if "enum" in schema:
        extra.append("one of " + ", ".join(f"<code>{_e(v)}</code>" for v in schema["enum"]))
    if "pattern" in schema:
        extra.append(f"pattern <code>{_e(schema['pattern'])}</code>")
    if "format" in schema:
        extra.append(_e(schema["format"]))
    return _e(kind) + (f" ({'; '.join(extra)})" if extra else "")


def _schema_table(name: str, schema: dict[str, Any]) -> str:
    parts = [f'<h3 id="schema-{_e(name)}">{_e(name)}</h3>']
    if schema.get("description"):
        parts.append(f"<p>{_e(schema['description'])}</p>")
    props = schema.get("properties")
    if not props:
        parts.append(f"<p>Type: {_type_of(schema)}</p>")
        return "".join(parts)
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{_e(key)}</code>{' *' if key in required else ''}</td><td>{_type_of(value)}</td>"
        f"<td>{_e(value.get('description', ''))}</td></tr>"
        for key, value in props.items()
    )
    parts.append(f"<table><tr><th>Field</th><th>Type</th><th>Meaning</th></tr>{rows}</table>")
    return "".join(parts)


def render_docs(spec: dict[str, Any], catalog: list[dict[str, Any]], problems: ProblemCatalog) -> str:
    """The API reference page."""
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{_e(spec['info']['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(spec['info']['title'])} <small>v{_e(spec['info']['version'])}</small></h1>",
        f"<p>{_e(spec['info']['description'])}</p>",
        '<nav><a href="#operations">Operations</a><a href="#services">Services</a>'
        '<a href="#problems">Problems</a><a href="#schemas">Schemas</a><a href="/openapi.json">openapi.json</a></nav>',
        "<p>Authenticate with <code>Authorization: Bearer &lt;API key&gt;</code>. Errors are "
        "<code>application/problem+json</code> (RFC 9457).</p>",
        '<h2 id="operations">Operations</h2>',
    ]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            out.append(f'<h3><span class="m {method}">{_e(method)}</span> <code>{_e(path)}</code></h3>')
            out.append(f"<p>{_e(op.get('summary', ''))}</p>")
            if op.get("description"):
                out.append(f"<p>{_e(op['description'])}</p>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                out.append(f"<p>Body: {_type_of(body)}</p>")
            rows = "".join(
                f"<tr><td>{_e(code)}</td><td>{_e(resp.get('description', ''))}</td></tr>"
                for code, resp in op.get("responses", {}).items()
            )
            out.append(f"<table><tr><th>Status</th><th>Meaning</th></tr>{rows}</table>")
    out.append(
        '<h2 id="services">Services</h2><table><tr><th>Id</th><th>Title</th><th>Kind</th><th>Personal data</th></tr>'
    )
    for svc in catalog:
        out.append(
            f"<tr><td><code>{_e(svc['id'])}</code></td><td>{_e(svc['title']['id'])}<br><i>{_e(svc['title']['en'])}"
            f"</i></td><td>{_e(svc['kind'])}</td><td>{'yes: consent required' if svc['personal_data'] else 'no'}"
            "</td></tr>"
        )
    out.append("</table>")
    out.append('<h2 id="problems">Problem types</h2><table><tr><th>type</th><th>Status</th><th>Title</th></tr>')
    for p in problems.values():
        out.append(
            f'<tr><td><a href="/problems/{_e(p.slug)}"><code>/problems/{_e(p.slug)}</code></a></td>'
            f"<td>{p.status}</td><td>{_e(p.title.en)}<br><i>{_e(p.title.id)}</i></td></tr>"
        )
    out.append('</table><h2 id="schemas">Schemas</h2>')
    for name, schema in spec["components"]["schemas"].items():
        out.append(_schema_table(name, schema))
    out.append("</body></html>")
    return "".join(out)


def render_problem(problem: ProblemType) -> str:
    """The page a problem's ``type`` URI resolves to."""
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(problem.title.en)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{_e(problem.title.en)}</h1><p><i>{_e(problem.title.id)}</i></p>"
        f"<p>HTTP status {problem.status}.</p><p>{_e(problem.description)}</p>"
        '<p><a href="/docs#problems">All problem types</a></p></body></html>'
    )

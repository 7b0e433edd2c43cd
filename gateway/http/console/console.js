// The operations console: plain ES2020 module, no build step, no third-party code.
// Everything shown comes from the gateway's ops routes (which mask personal data) and is inserted as text
// (createTextNode / textContent), never as HTML.

const KEY_STORAGE = "mpp-ops-key";
const POLL_MS = 2000;
const SVG_NS = "http://www.w3.org/2000/svg";
const STATUSES = ["accepted", "in_progress", "waiting_agency", "completed", "rejected", "failed"];
const CIRCUIT_LABELS = { closed: "closed", half_open: "half open", open: "open" };

class AuthError extends Error {
  constructor(status) {
    super(status === 403 ? "This key does not belong to an ops client (403)." : "The key was refused (401).");
    this.status = status;
  }
}

class Unavailable extends Error {
  constructor(status) {
    super(`not available (${status})`);
    this.status = status;
  }
}

// ---- DOM helpers: text only ----------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function table(caption, headers, rows, attrs = {}) {
  return el(
    "table",
    attrs,
    el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows),
  );
}

function notice(text, kind = "muted") {
  return el("p", { class: `notice ${kind}` }, text);
}

function errorNotice(error) {
  if (error instanceof Unavailable) return notice(`Not available: this gateway does not serve it (${error.status}).`);
  return notice(`Could not load: ${error.message}`, "error");
}

// ---- formatting ----------------------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtAge(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Number(seconds));
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function ago(iso) {
  if (!iso) return "";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "";
  return `${fmtAge((Date.now() - t) / 1000)} ago`;
}

function fmtMs(value) {
  if (value === null || value === undefined) return "—";
  const v = Number(value);
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`;
}

function fmtPct(value) {
  if (value === null || value === undefined) return "—";
  return `${(Number(value) * 100).toFixed(1)} %`;
}

function fmtNum(value) {
  return value === null || value === undefined ? "—" : String(value);
}

function fmtMap(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "object") return String(value);
  const parts = Object.entries(value).map(([k, v]) => {
    if (v !== null && typeof v === "object") return `${k}: ${fmtMap(v)}`;
    return `${k}: ${v === null ? "—" : v}`;
  });
  return parts.length ? parts.join(", ") : "—";
}

function slugOf(problemType) {
  if (!problemType) return "";
  return String(problemType).split("/").filter(Boolean).pop() || "";
}

function problemLink(slug) {
  if (!slug) return "—";
  return el("a", { href: `/problems/${encodeURIComponent(slug)}` }, slug);
}

function requestLink(id) {
  return el("a", { href: `#/requests/${encodeURIComponent(id)}` }, id);
}

function badge(text, kind) {
  return el("span", { class: `badge ${kind}` }, text);
}

// ---- the API -------------------------------------------------------------------------------------------------

function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

async function call(path, accept = "application/json") {
  const key = storedKey();
  if (!key) throw new AuthError(401);
  const resp = await fetch(path, {
    headers: { Authorization: `Bearer ${key}`, Accept: accept },
    cache: "no-store",
    credentials: "omit",
  });
  if (resp.status === 401 || resp.status === 403) throw new AuthError(resp.status);
  if (resp.status === 404 || resp.status === 405 || resp.status === 501) {
    let body = null;
    try {
      body = await resp.json();
    } catch {
      body = null;
    }
    const error = new Unavailable(resp.status);
    error.problem = body;
    throw error;
  }
  if (!resp.ok) {
    let detail = `${resp.status}`;
    try {
      const problem = await resp.json();
      detail = `${resp.status} ${problem.title || ""}${problem.detail ? `: ${problem.detail}` : ""}`;
    } catch {
      // not a problem document
    }
    throw new Error(detail);
  }
  return resp;
}

async function getJson(path) {
  return (await call(path)).json();
}

// ---- live indicator ------------------------------------------------------------------------------------------

function setLive(ok, text) {
  document.getElementById("live-dot").className = ok ? "dot ok" : "dot bad";
  document.getElementById("live-text").textContent = text;
}

// ---- views ---------------------------------------------------------------------------------------------------

function section(id, title, ...children) {
  return el("section", { class: "card", id, "aria-labelledby": `${id}-heading` }, el("h2", { id: `${id}-heading` }, title), children);
}

function overviewView() {
  const agencies = el("div", { class: "panel", "data-panel": "agencies" }, notice("Loading…"));
  const queue = el("div", { class: "panel", "data-panel": "queue" }, notice("Loading…"));
  const failures = el("div", { class: "panel", "data-panel": "failures" }, notice("Loading…"));
  const root = el(
    "div",
    { class: "view overview" },
    section("agencies", "Agencies", agencies),
    el("div", { class: "columns" }, section("queue", "Queue", queue), section("failures", "Failures in the last hour", failures)),
  );
  async function refresh() {
    try {
      const data = await getJson("/v1/ops/overview");
      agencies.replaceChildren(agencyTable(data.agencies || []));
      queue.replaceChildren(queueTable(data.queue || []));
      failures.replaceChildren(failureTable(data.failures_last_hour || {}));
      return data.generated_at;
    } catch (error) {
      if (error instanceof AuthError) throw error;
      for (const panel of [agencies, queue, failures]) panel.replaceChildren(errorNotice(error));
      if (error instanceof Unavailable) return null;
      throw error;
    }
  }
  return { title: "Overview", root, refresh };
}

function agencyTable(rows) {
  if (!rows.length) return notice("No agencies.");
  const body = rows.map((a) => {
    const state = String(a.circuit || "unknown");
    const failure = a.last_failure;
    return el(
      "tr",
      { "data-agency": a.agency, "data-circuit": state },
      el("th", { scope: "row" }, a.agency),
      el("td", {}, badge(CIRCUIT_LABELS[state] || state, `circuit circuit-${state}`)),
      el("td", { class: "time" }, a.circuit_since ? [fmtTime(a.circuit_since), el("br"), el("small", {}, ago(a.circuit_since))] : "—"),
      el("td", { class: "num" }, fmtPct(a.error_rate)),
      el("td", { class: "num" }, fmtMs(a.p50_ms)),
      el("td", { class: "num" }, fmtMs(a.p95_ms)),
      el("td", { class: "num" }, fmtNum(a.in_flight)),
      el("td", { class: "num" }, fmtNum(a.waiting)),
      el("td", { class: "small" }, fmtMap(a.rate_limit)),
      el("td", { class: "small" }, fmtMap(a.quota)),
      el(
        "td",
        { class: "cause" },
        failure
          ? [el("span", { class: "cause-text" }, failure.cause || "—"), el("br"), el("small", {}, fmtTime(failure.at), " · "), problemLink(failure.problem)]
          : "—",
      ),
    );
  });
  const headers = ["Agency", "Circuit", "Since", "Error rate (5 min)", "p50", "p95", "In flight", "Waiting", "Rate limit", "Quota", "Last failure"];
  return table("Agencies: circuit state and figures", headers, body, { class: "agencies" });
}

function queueTable(rows) {
  if (!rows.length) return notice("The queue is empty.");
  const body = rows.map((q) =>
    el(
      "tr",
      { "data-agency": q.agency },
      el("th", { scope: "row" }, q.agency),
      el("td", { class: "num" }, fmtNum(q.depth)),
      el("td", { class: "num" }, fmtAge(q.oldest_age_seconds)),
      el("td", { class: "num" }, fmtNum(q.deferred)),
      el("td", {}, q.next_try_at ? fmtTime(q.next_try_at) : "—"),
    ),
  );
  return table("Queue per agency", ["Agency", "Depth", "Oldest", "Deferred", "Next try"], body, { class: "queue" });
}

function failureTable(counts) {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return notice("No failures in the last hour.", "good");
  const max = Math.max(...entries.map(([, n]) => n), 1);
  const body = entries.map(([slug, n]) =>
    el(
      "tr",
      { "data-problem": slug },
      el("th", { scope: "row" }, problemLink(slug)),
      el("td", { class: "num" }, String(n)),
      el("td", { class: "barcell" }, hbar(n / max, `${n} failures`)),
    ),
  );
  return table("Failures in the last hour by problem type", ["Problem type", "Count", ""], body, { class: "failures" });
}

function hbar(fraction, label) {
  return svg(
    "svg",
    { viewBox: "0 0 100 10", preserveAspectRatio: "none", class: "hbar", role: "img", "aria-label": label },
    svg("rect", { x: 0, y: 1, width: Math.max(1, fraction * 100).toFixed(2), height: 8, class: "fail" }),
  );
}

// -- requests --------------------------------------------------------------------------------------------------

const SEARCH_FIELDS = [
  ["id", "Request id", "req_…"],
  ["service", "Service", "dukcapil.nik.verify"],
  ["agency", "Agency", "dukcapil"],
  ["mpp_id", "MPP", "mpp-…"],
  ["problem", "Problem type", "agency-unavailable"],
  ["since", "Since", "1h, 30m, 2d or ISO 8601"],
  ["until", "Until", "ISO 8601"],
];

// A search view: its form (the text `fields` and a menu of `statuses`), a page of what `path` finds drawn by
// `tableOf`, and the link to the next page. `name` is the collection (`requests`: the route `#/requests`, the
// answer's list), `prefix` that of the form's ids.
function searchView(params, { name, title, path, prefix, fields, statuses, tableOf }) {
  const route = `#/${name}`;
  const form = el("form", { class: "search", role: "search", "aria-label": `Search ${name}` });
  for (const [field, label, placeholder] of fields) {
    form.append(
      el("div", { class: "field" }, el("label", { for: `${prefix}-${field}` }, label), el("input", { id: `${prefix}-${field}`, name: field, placeholder, value: params.get(field) || "" })),
    );
  }
  const status = el("select", { id: `${prefix}-status`, name: "status" }, el("option", { value: "" }, "any"));
  for (const s of statuses) status.append(el("option", { value: s, selected: params.get("status") === s }, s));
  form.append(el("div", { class: "field" }, el("label", { for: `${prefix}-status` }, "Status"), status));
  form.append(el("div", { class: "field actions" }, el("button", { type: "submit" }, "Search"), el("a", { href: route }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [field, value] of new FormData(form)) if (String(value).trim()) query.set(field, String(value).trim());
    location.hash = `${route}${query.toString() ? `?${query}` : ""}`;
  });
  const results = el("div", { class: "panel", "data-panel": name }, notice("Loading…"));
  const root = el("div", { class: `view ${name}` }, section(name, title, form, results));

  async function refresh() {
    const query = new URLSearchParams(params);
    if (!query.has("limit")) query.set("limit", "50");
    try {
      const data = await getJson(`${path}?${query}`);
      results.replaceChildren(tableOf(data[name] || []), pager(params, data.next_cursor, name));
    } catch (error) {
      if (error instanceof AuthError) throw error;
      results.replaceChildren(errorNotice(error));
      if (!(error instanceof Unavailable)) throw error;
    }
    return null;
  }
  return { title, root, refresh };
}

function requestsView(params) {
  return searchView(params, {
    name: "requests", title: "Requests", path: "/v1/requests", prefix: "q", fields: SEARCH_FIELDS, statuses: STATUSES,
    tableOf: requestTable,
  });
}

function requestTable(rows) {
  if (!rows.length) return notice("No request matches.");
  const body = rows.map((r) =>
    el(
      "tr",
      { "data-request": r.id, "data-status": r.status },
      el("td", {}, fmtTime(r.created_at)),
      el("th", { scope: "row" }, requestLink(r.id)),
      el("td", {}, r.service),
      el("td", {}, r.agency),
      el("td", {}, (r.counter && r.counter.mpp_id) || "—"),
      el("td", {}, badge(r.status, `status status-${r.status}`)),
      el("td", {}, problemLink(slugOf(r.problem && r.problem.type))),
      el("td", { class: "num" }, String((r.attempts || []).length)),
      el("td", { class: "mono" }, (r.subject && r.subject.nik_masked) || "—"),
    ),
  );
  const headers = ["Created", "Request", "Service", "Agency", "MPP", "Status", "Problem", "Attempts", "NIK (masked)"];
  return table("Requests found", headers, body, { class: "requests" });
}

function pager(params, nextCursor, name) {
  if (!nextCursor) return el("p", { class: "muted" }, "End of results.");
  const query = new URLSearchParams(params);
  query.set("cursor", nextCursor);
  return el("p", {}, el("a", { href: `#/${name}?${query}` }, `Older ${name} →`));
}

// -- one request -----------------------------------------------------------------------------------------------

function attemptKind(outcome) {
  if (outcome === "deferred") return "Deferral";
  if (outcome === "reconciled" || outcome === "not_at_agency" || String(outcome).startsWith("reconcile")) return "Reconcile call";
  return "Agency call";
}

function requestView(id) {
  const summary = el("div", { class: "panel", "data-panel": "summary" }, notice("Loading…"));
  const timeline = el("div", { class: "panel", "data-panel": "timeline" });
  const trace = el("div", { class: "panel", "data-panel": "trace" });
  const root = el(
    "div",
    { class: "view request" },
    el("p", {}, el("a", { href: "#/requests" }, "← Requests")),
    section("request", `Request ${id}`, summary),
    section("timeline", "Timeline", timeline),
    section("trace", "Trace", trace),
  );
  async function refresh() {
    const record = await recordOf(`/v1/requests/${encodeURIComponent(id)}`, `request ${id}`, summary, [timeline, trace]);
    if (record === null) return null;
    summary.replaceChildren(recordSummary(record));
    timeline.replaceChildren(recordTimeline(record));
    await showTrace(trace, record.trace_id, "request");
    return null;
  }
  return { title: `Request ${id}`, root, refresh };
}

// The record at `path`; or null, once `summary` says why there is none (`what`: "request req_…") and the `others`
// panels are emptied.
async function recordOf(path, what, summary, others) {
  try {
    return await getJson(path);
  } catch (error) {
    if (error instanceof AuthError) throw error;
    summary.replaceChildren(error instanceof Unavailable ? notice(`No ${what} (${error.status}).`) : errorNotice(error));
    for (const panel of others) panel.replaceChildren();
    if (!(error instanceof Unavailable)) throw error;
    return null;
  }
}

// The `trace` panel of a request's or journey's (`noun`) record: the trace's waterfall, or why there is none.
async function showTrace(trace, traceId, noun) {
  if (!traceId) {
    trace.replaceChildren(notice(`This ${noun} has no trace id.`));
    return;
  }
  try {
    const data = await getJson(`/v1/traces/${encodeURIComponent(traceId)}`);
    trace.replaceChildren(...waterfall(data));
  } catch (error) {
    if (error instanceof AuthError) throw error;
    trace.replaceChildren(
      error instanceof Unavailable
        ? notice(`Trace ${traceId}: not available (the gateway keeps recent spans only, or does not serve traces).`)
        : errorNotice(error),
    );
  }
}

function recordSummary(r) {
  const items = [
    ["Status", badge(r.status, `status status-${r.status}`)],
    ["Service", r.service],
    ["Agency", r.agency],
    ["MPP / desk", `${(r.counter && r.counter.mpp_id) || "—"} / ${(r.counter && r.counter.desk) || "—"}`],
    ["Client", r.client_id],
    ["NIK (masked)", (r.subject && r.subject.nik_masked) || "—"],
    ["Created", fmtTime(r.created_at)],
    ["Updated", fmtTime(r.updated_at)],
    ["Finished", fmtTime(r.finished_at)],
    ["Trace id", el("span", { class: "mono" }, r.trace_id || "—")],
  ];
  if (r.problem) {
    items.push(["Problem", [problemLink(slugOf(r.problem.type)), " ", r.problem.title || "", r.problem.detail ? ` — ${r.problem.detail}` : ""]]);
  }
  if (r.purged_at) items.push(["Personal data purged", fmtTime(r.purged_at)]);
  return el("dl", { class: "summary" }, items.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function recordTimeline(r) {
  const start = new Date(r.created_at).getTime();
  const offset = (iso) => {
    const t = new Date(iso).getTime();
    return Number.isNaN(t) || Number.isNaN(start) ? "" : `+${fmtMs(t - start)}`;
  };
  const entries = [el("li", { class: "event accepted" }, el("span", { class: "when" }, fmtTime(r.created_at)), el("span", { class: "what" }, "Accepted"))];
  for (const a of r.attempts || []) {
    const duration = new Date(a.finished_at).getTime() - new Date(a.started_at).getTime();
    entries.push(
      el(
        "li",
        { class: `event attempt outcome-${a.outcome}`, "data-outcome": a.outcome, "data-number": a.number },
        el("span", { class: "when" }, fmtTime(a.started_at), " ", el("small", {}, offset(a.started_at))),
        el("span", { class: "what" }, `${attemptKind(a.outcome)} #${a.number} `, badge(a.outcome, `outcome outcome-${a.outcome}`), ` ${fmtMs(duration)}`),
        a.detail ? el("span", { class: "detail" }, a.detail) : null,
      ),
    );
  }
  if (r.finished_at) {
    entries.push(
      el("li", { class: "event finished" }, el("span", { class: "when" }, fmtTime(r.finished_at), " ", el("small", {}, offset(r.finished_at))), el("span", { class: "what" }, `Finished: ${r.status}`)),
    );
  }
  return el("ol", { class: "timeline", "aria-label": "Attempts, reconcile calls and deferrals in order" }, entries);
}

function waterfall(data) {
  const spans = data.spans || [];
  const parts = [];
  if (data.jaeger_url && /^https?:\/\//i.test(data.jaeger_url)) {
    parts.push(el("p", {}, el("a", { href: data.jaeger_url, target: "_blank", rel: "noopener noreferrer", class: "jaeger" }, "Open this trace in Jaeger")));
  }
  parts.push(el("p", { class: "muted" }, `Trace ${data.trace_id}: ${spans.length} spans.`));
  if (!spans.length) return parts;
  const times = spans.map((s) => ({ s, start: new Date(s.start).getTime(), end: new Date(s.end).getTime() }));
  const t0 = Math.min(...times.map((t) => t.start));
  const t1 = Math.max(...times.map((t) => t.end));
  const total = Math.max(t1 - t0, 1);
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  for (const t of times) {
    const parent = t.s.parent_span_id && ids.has(t.s.parent_span_id) ? t.s.parent_span_id : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(t);
  }
  for (const list of children.values()) list.sort((a, b) => a.start - b.start);
  const ordered = [];
  const visit = (parent, depth) => {
    for (const t of children.get(parent) || []) {
      ordered.push([t, depth]);
      visit(t.s.span_id, depth + 1);
    }
  };
  visit(null, 0);
  const rows = ordered.map(([t, depth]) => {
    const x = ((t.start - t0) / total) * 1000;
    const w = Math.max(((t.end - t.start) / total) * 1000, 2);
    const status = String(t.s.status || "UNSET");
    const name = el("th", { scope: "row", class: "span-name" }, el("span", {}, t.s.name), status === "ERROR" ? [" ", badge("error", "outcome outcome-failed")] : null);
    name.style.paddingLeft = `${0.4 + depth * 1.1}em`;
    const details = spanDetails(t.s);
    if (details) name.append(details);
    const label = `${t.s.name}: starts at +${fmtMs(t.start - t0)}, lasts ${fmtMs(t.s.duration_ms ?? t.end - t.start)}, status ${status}`;
    return el(
      "tr",
      { class: "span", "data-span-id": t.s.span_id, "data-parent-id": t.s.parent_span_id || "", "data-depth": depth, "data-status": status },
      name,
      el("td", { class: "num" }, `+${fmtMs(t.start - t0)}`),
      el("td", { class: "num" }, fmtMs(t.s.duration_ms ?? t.end - t.start)),
      el(
        "td",
        { class: "barcell" },
        svg(
          "svg",
          { viewBox: "0 0 1000 16", preserveAspectRatio: "none", class: "wbar", role: "img", "aria-label": label },
          svg("rect", { x: x.toFixed(1), y: 2, width: w.toFixed(1), height: 12, class: status === "ERROR" ? "bar error" : "bar ok" }),
        ),
      ),
    );
  });
  parts.push(table(`Spans of trace ${data.trace_id}`, ["Span", "Start", "Duration", `Waterfall (0 – ${fmtMs(total)})`], rows, { class: "waterfall" }));
  return parts;
}

function spanDetails(span) {
  const attrs = Object.entries(span.attributes || {});
  const events = span.events || [];
  if (!attrs.length && !events.length) return null;
  const list = el("dl", { class: "attrs" }, attrs.map(([k, v]) => [el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]));
  const evs = events.length ? el("ul", { class: "events" }, events.map((e) => el("li", {}, `${fmtTime(e.at)} ${e.name} `, el("small", {}, fmtMap(e.attributes))))) : null;
  return el("details", {}, el("summary", {}, `${attrs.length} attributes, ${events.length} events`), list, evs);
}

// -- journeys --------------------------------------------------------------------------------------------------

const JOURNEY_STATUSES = ["running", "completed", "failed", "cancelled"];
const JOURNEY_FIELDS = [
  ["id", "Journey id", "jrn_…"],
  ["journey", "Journey", "business.micro-start"],
  ["mpp_id", "MPP", "mpp-…"],
  ["since", "Since", "1h, 30m, 2d or ISO 8601"],
  ["until", "Until", "ISO 8601"],
];

function journeyLink(id) {
  return el("a", { href: `#/journeys/${encodeURIComponent(id)}` }, id);
}

function withinVisit(value) {
  if (value === true) return badge("yes", "outcome outcome-completed");
  if (value === false) return badge("no", "outcome outcome-failed");
  return "—";
}

function journeysView(params) {
  return searchView(params, {
    name: "journeys", title: "Journeys", path: "/v1/journey-runs", prefix: "j", fields: JOURNEY_FIELDS,
    statuses: JOURNEY_STATUSES, tableOf: journeyTable,
  });
}

function journeyTable(rows) {
  if (!rows.length) return notice("No journey matches.");
  const body = rows.map((j) =>
    el(
      "tr",
      { "data-journey": j.id, "data-status": j.status },
      el("td", {}, fmtTime(j.created_at)),
      el("th", { scope: "row" }, journeyLink(j.id)),
      el("td", {}, j.journey),
      el("td", {}, j.mpp_id),
      el("td", {}, badge(j.status, `status status-${j.status}`)),
      el("td", {}, withinVisit(j.within_visit)),
      el("td", { class: "num", "data-steps": `${j.steps_done}/${j.steps_total}` }, `${j.steps_done} / ${j.steps_total}`),
      el("td", { class: "mono" }, (j.applicant && j.applicant.nik_masked) || "—"),
    ),
  );
  const headers = ["Created", "Journey id", "Journey", "MPP", "Status", "Within visit", "Steps done", "NIK (masked)"];
  return table("Journeys found", headers, body, { class: "journeys" });
}

// -- one journey -----------------------------------------------------------------------------------------------

function journeyView(id) {
  const summary = el("div", { class: "panel", "data-panel": "journey-summary" }, notice("Loading…"));
  const steps = el("div", { class: "panel", "data-panel": "steps" });
  const trace = el("div", { class: "panel", "data-panel": "trace" });
  const root = el(
    "div",
    { class: "view journey" },
    el("p", {}, el("a", { href: "#/journeys" }, "← Journeys")),
    section("journey", `Journey ${id}`, summary),
    section("steps", "Steps", steps),
    section("journey-trace", "Trace", trace),
  );
  async function refresh() {
    const record = await recordOf(`/v1/journeys/${encodeURIComponent(id)}`, `journey ${id}`, summary, [steps, trace]);
    if (record === null) return null;
    summary.replaceChildren(journeySummary(record));
    steps.replaceChildren(stepTable(record));
    await showTrace(trace, record.trace_id, "journey");
    return null;
  }
  return { title: `Journey ${id}`, root, refresh };
}

function journeySummary(j) {
  const started = new Date(j.created_at).getTime();
  const ended = j.finished_at ? new Date(j.finished_at).getTime() : NaN;
  const items = [
    ["Status", badge(j.status, `status status-${j.status}`)],
    ["Journey", j.journey],
    ["MPP / desk", `${(j.counter && j.counter.mpp_id) || "—"} / ${(j.counter && j.counter.desk) || "—"}`],
    ["Client", j.client_id],
    ["NIK (masked)", (j.subject && j.subject.nik_masked) || "—"],
    ["Created", fmtTime(j.created_at)],
    ["Finished", fmtTime(j.finished_at)],
    ["Duration", Number.isNaN(ended) ? "—" : fmtMs(ended - started)],
    ["Visit budget", `${fmtNum(j.visit_budget_seconds)} s`],
    ["Within visit", withinVisit(j.within_visit)],
    ["Trace id", el("span", { class: "mono" }, j.trace_id || "—")],
  ];
  if (j.problem) {
    items.push(["Problem", [problemLink(slugOf(j.problem.type)), " ", j.problem.title || "", j.problem.detail ? ` — ${j.problem.detail}` : ""]]);
  }
  return el("dl", { class: "summary" }, items.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function stepTable(j) {
  const start = new Date(j.created_at).getTime();
  const offset = (iso) => {
    const t = iso ? new Date(iso).getTime() : NaN;
    return Number.isNaN(t) || Number.isNaN(start) ? "—" : `+${fmtMs(t - start)}`;
  };
  const rows = (j.steps || []).map((s) => {
    const took = s.started_at && s.finished_at ? new Date(s.finished_at).getTime() - new Date(s.started_at).getTime() : NaN;
    const problem = s.problem ? [problemLink(slugOf(s.problem.type)), s.problem.detail ? ` — ${s.problem.detail}` : ""] : s.skipped_because || "—";
    return el(
      "tr",
      { "data-step": s.name, "data-status": s.status },
      el("th", { scope: "row" }, s.name, s.required ? null : el("small", {}, " (optional)")),
      el("td", {}, s.service),
      el("td", {}, badge(s.status, `status status-${s.status}`)),
      el("td", {}, s.request_id ? requestLink(s.request_id) : "—"),
      el("td", { class: "num" }, offset(s.started_at)),
      el("td", { class: "num" }, Number.isNaN(took) ? "—" : fmtMs(took)),
      el("td", { class: "num" }, `${s.attempts} / ${s.runs}`),
      el("td", {}, problem),
    );
  });
  const headers = ["Step", "Service", "Status", "Request", "Started", "Took", "Attempts / runs", "Problem"];
  return table("Steps of the journey", headers, rows, { class: "steps" });
}

// -- service levels --------------------------------------------------------------------------------------------

const GROUPINGS = [
  ["agency", "Agency"],
  ["service", "Service"],
  ["mpp", "MPP"],
  ["agency,service", "Agency and service"],
];
const GROUP_FIELD = { agency: "agency", service: "service", mpp: "mpp_id" };
const STACK = [
  ["completed", "Completed", "ok"],
  ["rejected", "Rejected", "warn"],
  ["failed", "Failed", "fail"],
  ["other", "Not final", "other"],
];

function serviceLevelsView(params) {
  const form = el("form", { class: "search", "aria-label": "Service-level report" });
  form.append(
    el("div", { class: "field" }, el("label", { for: "sl-from" }, "From"), el("input", { id: "sl-from", name: "from", placeholder: "ISO 8601 (default: the report's)", value: params.get("from") || "" })),
    el("div", { class: "field" }, el("label", { for: "sl-to" }, "To"), el("input", { id: "sl-to", name: "to", placeholder: "ISO 8601", value: params.get("to") || "" })),
  );
  const group = el("select", { id: "sl-group", name: "group_by" });
  for (const [value, label] of GROUPINGS) group.append(el("option", { value, selected: (params.get("group_by") || "agency") === value }, label));
  const bucket = el("select", { id: "sl-bucket", name: "bucket" });
  for (const value of ["hour", "day"]) bucket.append(el("option", { value, selected: (params.get("bucket") || "hour") === value }, value));
  form.append(
    el("div", { class: "field" }, el("label", { for: "sl-group" }, "Group by"), group),
    el("div", { class: "field" }, el("label", { for: "sl-bucket" }, "Per"), bucket),
    el("div", { class: "field actions" }, el("button", { type: "submit" }, "Show")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (String(value).trim()) query.set(name, String(value).trim());
    location.hash = `#/service-levels?${query}`;
  });
  const query = new URLSearchParams();
  for (const name of ["from", "to", "group_by", "bucket"]) if (params.get(name)) query.set(name, params.get(name));
  if (!query.has("group_by")) query.set("group_by", "agency");
  if (!query.has("bucket")) query.set("bucket", "hour");
  const csvButton = el("button", { type: "button", id: "csv-download" }, "Download CSV");
  const csvStatus = el("span", { class: "muted", role: "status" });
  csvButton.addEventListener("click", () => downloadCsv(query, csvStatus));
  const charts = el("div", { class: "panel", "data-panel": "charts" }, notice("Loading…"));
  const rows = el("div", { class: "panel", "data-panel": "report-rows" });
  const root = el(
    "div",
    { class: "view service-levels" },
    section("service-levels", "Service levels", form, el("p", {}, csvButton, " ", csvStatus), charts),
    section("report", "Report rows", rows),
  );
  async function refresh() {
    const json = new URLSearchParams(query);
    json.set("format", "json");
    try {
      const data = await getJson(`/v1/reports/service-levels?${json}`);
      charts.replaceChildren(...levelCharts(data));
      rows.replaceChildren(levelTable(data));
    } catch (error) {
      if (error instanceof AuthError) throw error;
      charts.replaceChildren(errorNotice(error));
      rows.replaceChildren();
      if (!(error instanceof Unavailable)) throw error;
    }
    return null;
  }
  return { title: "Service levels", root, refresh };
}

async function downloadCsv(query, status) {
  const csv = new URLSearchParams(query);
  csv.set("format", "csv");
  status.textContent = "Preparing…";
  try {
    const blob = await (await call(`/v1/reports/service-levels?${csv}`, "text/csv")).blob();
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: "service-levels.csv" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    status.textContent = "Downloaded service-levels.csv";
  } catch (error) {
    status.textContent = `CSV not available: ${error.message}`;
  }
}

function groupKey(row, fields) {
  return fields.map((f) => row[GROUP_FIELD[f] || f] ?? "—").join(" · ") || "all";
}

function levelCharts(data) {
  const rows = data.rows || [];
  if (!rows.length) return [notice("No requests in this period.")];
  const fields = data.group_by || [];
  const groups = new Map();
  for (const row of rows) {
    const key = groupKey(row, fields);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  const buckets = [...new Set(rows.map((r) => r.bucket_start))].sort();
  const max = Math.max(...rows.map((r) => r.requests || 0), 1);
  const legend = el("ul", { class: "legend", "aria-label": "Legend" }, STACK.map(([, label, cls]) => el("li", {}, el("span", { class: `swatch ${cls}`, "aria-hidden": "true" }), label)));
  const figures = [...groups.entries()].sort().map(([key, list]) => stackedChart(key, list, buckets, max, data.bucket));
  return [legend, el("div", { class: "charts" }, figures)];
}

function stackedChart(key, rows, buckets, max, bucketUnit) {
  const W = 600;
  const H = 180;
  const left = 36;
  const bottom = 22;
  const plotH = H - bottom - 8;
  const slot = (W - left) / Math.max(buckets.length, 1);
  const barW = Math.max(Math.min(slot * 0.7, 48), 2);
  const byBucket = new Map(rows.map((r) => [r.bucket_start, r]));
  const totals = { requests: 0, completed: 0, rejected: 0, failed: 0 };
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `Requests per ${bucketUnit || "bucket"} for ${key}` });
  chart.append(
    svg("line", { x1: left, y1: 8, x2: left, y2: H - bottom, class: "axis" }),
    svg("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: "axis" }),
    svg("text", { x: left - 4, y: 14, class: "tick", "text-anchor": "end" }, String(max)),
    svg("text", { x: left - 4, y: H - bottom, class: "tick", "text-anchor": "end" }, "0"),
  );
  buckets.forEach((b, i) => {
    const row = byBucket.get(b);
    if (!row) return;
    const counts = {
      completed: row.completed || 0,
      rejected: row.rejected || 0,
      failed: row.failed || 0,
    };
    counts.other = Math.max((row.requests || 0) - counts.completed - counts.rejected - counts.failed, 0);
    totals.requests += row.requests || 0;
    totals.completed += counts.completed;
    totals.rejected += counts.rejected;
    totals.failed += counts.failed;
    const x = left + i * slot + (slot - barW) / 2;
    let y = H - bottom;
    const title = `${key}, ${fmtTime(b)}: ${row.requests} requests, ${counts.completed} completed, ${counts.rejected} rejected, ${counts.failed} failed`;
    const g = svg("g", {
      class: "bucket",
      "data-bucket": b,
      "data-requests": row.requests || 0,
      "data-completed": counts.completed,
      "data-rejected": counts.rejected,
      "data-failed": counts.failed,
    }, svg("title", {}, title));
    for (const [name, , cls] of STACK) {
      const h = (counts[name] / max) * plotH;
      if (h <= 0) continue;
      y -= h;
      g.append(svg("rect", { x: x.toFixed(1), y: y.toFixed(1), width: barW.toFixed(1), height: h.toFixed(1), class: `seg ${cls}` }));
    }
    chart.append(g);
  });
  if (buckets.length) {
    chart.append(svg("text", { x: left, y: H - 6, class: "tick" }, fmtTime(buckets[0])));
    if (buckets.length > 1) chart.append(svg("text", { x: W, y: H - 6, class: "tick", "text-anchor": "end" }, fmtTime(buckets[buckets.length - 1])));
  }
  const caption = `${key}: ${totals.requests} requests, ${totals.completed} completed, ${totals.rejected} rejected, ${totals.failed} failed`;
  return el(
    "figure",
    { class: "chart-card", "data-group": key, "data-requests": totals.requests, "data-completed": totals.completed, "data-rejected": totals.rejected, "data-failed": totals.failed },
    el("h3", {}, key),
    chart,
    el("figcaption", {}, caption),
  );
}

function levelTable(data) {
  const rows = data.rows || [];
  if (!rows.length) return notice("No rows.");
  const fields = data.group_by || [];
  const headers = ["Period start", ...fields.map((f) => GROUPINGS.find(([v]) => v === f)?.[1] || f), "Requests", "Completed", "Rejected", "Failed", "Failed by problem", "p50", "p95", "p99", "Availability", "Journeys within visit", "Ratings", "Rating mean"];
  const body = rows.map((r) =>
    el(
      "tr",
      {},
      el("td", {}, fmtTime(r.bucket_start)),
      fields.map((f) => el("th", { scope: "row" }, r[GROUP_FIELD[f] || f] ?? "—")),
      el("td", { class: "num" }, fmtNum(r.requests)),
      el("td", { class: "num" }, fmtNum(r.completed)),
      el("td", { class: "num" }, fmtNum(r.rejected)),
      el("td", { class: "num" }, fmtNum(r.failed)),
      el("td", { class: "small" }, fmtMap(r.failed_by_problem)),
      el("td", { class: "num" }, fmtMs(r.p50_ms)),
      el("td", { class: "num" }, fmtMs(r.p95_ms)),
      el("td", { class: "num" }, fmtMs(r.p99_ms)),
      el("td", { class: "num" }, fmtPct(r.availability)),
      el("td", { class: "num" }, fmtPct(r.journeys_within_visit)),
      el("td", { class: "num" }, fmtNum(r.ratings)),
      el("td", { class: "num" }, r.rating_mean === null || r.rating_mean === undefined ? "—" : Number(r.rating_mean).toFixed(2)),
    ),
  );
  return table("Service-level report rows", headers, body, { class: "report" });
}

// ---- key entry, routing and polling --------------------------------------------------------------------------

let current = null;
let timer = null;

function showKeyForm(message = "") {
  stopPolling();
  current = null;
  document.getElementById("forget-key").hidden = true;
  setLive(false, "Not connected");
  const main = document.getElementById("main");
  main.replaceChildren(document.getElementById("key-form").content.cloneNode(true));
  document.getElementById("key-error").textContent = message;
  const form = document.getElementById("key-entry");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = String(new FormData(form).get("key") || "").trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    route();
  });
  document.getElementById("key-input").focus();
}

function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?");
  return { path, params: new URLSearchParams(query) };
}

function viewFor(path, params) {
  const match = path.match(/^\/requests\/(.+)$/);
  if (match) return requestView(decodeURIComponent(match[1]));
  if (path === "/requests") return requestsView(params);
  const journey = path.match(/^\/journeys\/(.+)$/);
  if (journey) return journeyView(decodeURIComponent(journey[1]));
  if (path === "/journeys") return journeysView(params);
  if (path === "/service-levels") return serviceLevelsView(params);
  return overviewView();
}

function route() {
  if (!storedKey()) {
    showKeyForm();
    return;
  }
  document.getElementById("forget-key").hidden = false;
  const { path, params } = parseHash();
  current = viewFor(path, params);
  document.title = `${current.title}: MPP Gateway console`;
  for (const link of document.querySelectorAll("nav a")) {
    const target = link.getAttribute("href").replace(/^#/, "");
    const active = target === "/" ? path === "/" : path.startsWith(target);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.getElementById("main").replaceChildren(current.root);
  startPolling();
}

async function tick() {
  const view = current;
  if (!view || view.busy) return;
  view.busy = true;
  try {
    const generated = await view.refresh();
    if (view === current) setLive(true, `Live · updated ${fmtTime(generated || new Date().toISOString())}`);
  } catch (error) {
    if (error instanceof AuthError) {
      sessionStorage.removeItem(KEY_STORAGE);
      showKeyForm(error.message);
    } else if (view === current) {
      setLive(false, `Connection problem: ${error.message}`);
    }
  } finally {
    view.busy = false;
  }
}

function startPolling() {
  stopPolling();
  tick();
  timer = setInterval(tick, POLL_MS);
}

function stopPolling() {
  if (timer !== null) clearInterval(timer);
  timer = null;
}

document.getElementById("forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE);
  showKeyForm("Key forgotten.");
});
window.addEventListener("hashchange", route);
route();

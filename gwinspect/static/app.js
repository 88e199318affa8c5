// The panel page: hash routing (#/?q=&offset= for the list, #/t/<id> for a trace),
// the list view, and live updates (server-sent events, or polling when they fail).
import { renderDetail } from "./detail.js";
import { clear, fmtBytes, fmtMs, fmtTime, getJSON, h, statusClass } from "./dom.js";

const LIMIT = 50;
const $ = (id) => document.getElementById(id);
const state = { q: "", offset: 0, view: "list", traceId: null, shown: new Set(), loading: false, again: false };

function readHash() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const m = /^\/t\/([A-Za-z0-9_-]{16,64})$/.exec(hash);
  if (m) return { view: "detail", traceId: m[1] };
  const params = new URLSearchParams(hash.split("?")[1] || "");
  return { view: "list", q: params.get("q") || "", offset: Math.max(0, Number(params.get("offset")) || 0) };
}

function listHash() {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.offset) params.set("offset", String(state.offset));
  const s = params.toString();
  return s ? `#/?${s}` : "#/";
}

function notes(t) {
  const out = [];
  if (t.state === "in_progress") out.push(h("span", { class: "badge info", text: "in progress" }));
  if (t.error) out.push(h("span", { class: "badge err", text: t.error }));
  if (t.violations.error) out.push(h("span", { class: "badge err", text: `${t.violations.error} error${t.violations.error > 1 ? "s" : ""}` }));
  if (t.violations.warning) out.push(h("span", { class: "badge warn", text: `${t.violations.warning} warning${t.violations.warning > 1 ? "s" : ""}` }));
  if (t.disconnected) out.push(h("span", { class: "badge warn", text: "disconnected" }));
  return out;
}

function row(t, fresh) {
  const target = t.path + (t.query_string ? `?${t.query_string}` : "");
  const href = `#/t/${encodeURIComponent(t.id)}`;
  const tr = h("tr", { class: fresh ? "fresh" : null, "data-id": t.id },
    h("td", { class: "c-time", title: t.started_at, text: fmtTime(t.started_at) }),
    h("td", { class: "c-method", text: t.method ?? t.type }),
    h("td", { class: "c-path" }, h("a", { href, title: target, text: target || "/" })),
    h("td", { class: `c-status ${statusClass(t.status)}`, text: t.status ?? "—" }),
    h("td", { class: "c-dur", text: t.duration_ms === null ? "…" : fmtMs(t.duration_ms) }),
    h("td", { class: "c-size", text: fmtBytes(t.response_body_size) }),
    h("td", { class: "c-proto", text: `${t.protocol} · ${t.type === "websocket" ? "ws" : t.type}` }),
    h("td", { class: "c-notes" }, notes(t)));
  tr.addEventListener("click", (e) => { if (!e.target.closest("a")) location.hash = href; });
  return tr;
}

async function loadList() {
  if (state.loading) { state.again = true; return; }
  state.loading = true;
  try {
    const params = new URLSearchParams({ limit: String(LIMIT), offset: String(state.offset) });
    if (state.q) params.set("q", state.q);
    const doc = await getJSON(`api/traces?${params}`);
    const firstLoad = state.shown.size === 0;
    const rows = doc.traces.map((t) => row(t, !firstLoad && !state.shown.has(t.id)));
    state.shown = new Set(doc.traces.map((t) => t.id).concat(firstLoad && !doc.traces.length ? ["-"] : []));
    clear($("rows")).append(...rows);
    $("empty").hidden = doc.total !== 0;
    $("empty").textContent = state.q ? "No request matches this filter." : "No requests recorded yet. Send some traffic to the app and they appear here.";
    const last = Math.min(state.offset + doc.traces.length, doc.total);
    $("range").textContent = doc.total ? `${state.offset + 1}–${last} of ${doc.total}` : "0 requests";
    $("newer").disabled = state.offset === 0;
    $("older").disabled = last >= doc.total;
    $("list-error").hidden = true;
  } catch (err) {
    if (!err.status) console.error(err);
    $("list-error").hidden = false;
    $("list-error").textContent = `Could not load requests: ${err.message}`;
  } finally {
    state.loading = false;
    if (state.again) { state.again = false; loadList(); }
  }
}

async function loadDetail(id) {
  const root = $("detail-view");
  try {
    const [trace, curl] = await Promise.all([
      getJSON(`api/traces/${encodeURIComponent(id)}`),
      fetch(`api/traces/${encodeURIComponent(id)}.curl`, { cache: "no-store" }).then((r) => (r.ok ? r.text() : "")),
    ]);
    if (state.view === "detail" && state.traceId === id) renderDetail(root, trace, curl);
    return trace;
  } catch (err) {
    if (!err.status) console.error(err); // a bug in the page, not a missing trace
    clear(root).append(h("a", { class: "button", href: "#/", text: "← All requests" }),
      h("p", { class: "error-text", text: `Could not load this request: ${err.message}` }));
    return null;
  }
}

let detailState = null;
let detailTimer = null;

// Show one trace; while it is in flight, refresh it every second (its events grow without the
// store announcing anything until it completes).
async function showDetail(id) {
  clearTimeout(detailTimer);
  const trace = await loadDetail(id);
  detailState = trace ? trace.state : null;
  if (trace && trace.state === "in_progress") {
    detailTimer = setTimeout(() => { if (state.view === "detail" && state.traceId === id) showDetail(id); }, 1000);
  }
}

async function route() {
  Object.assign(state, readHash());
  $("list-view").hidden = state.view !== "list";
  $("detail-view").hidden = state.view !== "detail";
  if (state.view === "list") {
    clearTimeout(detailTimer);
    if ($("filter").value !== state.q) $("filter").value = state.q;
    updateBundleLink();
    await loadList();
  } else {
    window.scrollTo(0, 0);
    await showDetail(state.traceId);
  }
}

function updateBundleLink() {
  $("bundle").href = state.q ? `api/export?${new URLSearchParams({ q: state.q })}` : "api/export";
}

// Something changed in the store: refresh what is on screen (only page one moves by itself).
function onChange(ids) {
  if (state.view === "list" && state.offset === 0) loadList();
  else if (state.view === "list") $("range").textContent += " · new requests on page one";
  else if (state.view === "detail" && detailState === "in_progress" && (!ids || ids.includes(state.traceId))) {
    showDetail(state.traceId);
  }
}

function setLive(text, cls) {
  const el = $("live");
  el.textContent = text;
  el.className = `live ${cls}`;
}

function startPolling() {
  setLive("● polling", "ok");
  let sequence = null;
  setInterval(async () => {
    try {
      const doc = await getJSON("api/traces?limit=1");
      if (sequence !== null && doc.sequence !== sequence) onChange(null);
      sequence = doc.sequence;
      setLive("● polling", "ok");
    } catch (_) { setLive("○ offline", "bad"); }
  }, 1000);
}

function startLive() {
  if (typeof EventSource !== "function") { startPolling(); return; }
  const source = new EventSource("api/events");
  let failures = 0;
  source.addEventListener("open", () => { failures = 0; setLive("● live", "ok"); });
  source.addEventListener("traces", (e) => {
    let data = null;
    try { data = JSON.parse(e.data); } catch (_) { /* ignore a garbled event */ }
    onChange(data && Array.isArray(data.ids) ? data.ids : null);
  });
  source.addEventListener("error", () => {
    // Streams end on purpose (bounded on WSGI) and the browser reconnects; give up only when it cannot.
    failures++;
    if (source.readyState === EventSource.CLOSED || failures > 5) { source.close(); startPolling(); }
  });
}

function init() {
  let timer = null;
  $("filter").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.q = $("filter").value.trim();
      state.offset = 0;
      history.replaceState(null, "", listHash());
      state.shown = new Set();
      updateBundleLink();
      loadList();
    }, 200);
  });
  $("newer").addEventListener("click", () => { state.offset = Math.max(0, state.offset - LIMIT); location.hash = listHash(); });
  $("older").addEventListener("click", () => { state.offset += LIMIT; location.hash = listHash(); });
  const clearButton = $("clear");
  let armed = null;
  clearButton.addEventListener("click", async () => {
    if (!armed) {
      clearButton.textContent = "Click again to clear";
      armed = setTimeout(() => { armed = null; clearButton.textContent = "Clear"; }, 3000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    clearButton.textContent = "Clear";
    const r = await fetch("api/clear", { method: "POST", cache: "no-store" });
    if (!r.ok) setLive(`clear refused (${r.status})`, "bad");
    state.shown = new Set();
    location.hash = "#/";
    loadList();
  });
  window.addEventListener("hashchange", route);
  route();
  startLive();
}

init();

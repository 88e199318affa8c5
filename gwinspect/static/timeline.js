// The waterfall: one row per recorded event, at its offset, with the time until the
// next event as its bar; violations next to their event; a scrubber that replays it.
import { append, fmtBytes, fmtMs, h, isBlob, show } from "./dom.js";

const MAX_ROWS = 2000; // more rows on demand: a long WebSocket can hold 10,000 events

function size(v) {
  if (isBlob(v)) return v.size;
  if (typeof v === "string") return new TextEncoder().encode(v).length;
  return 0;
}

// [label, lane] for one event; lanes colour the bars (in, out, ws, error, meta).
export function describe(ev) {
  const m = ev.message;
  if (m && typeof m === "object") {
    const type = String(m.type ?? "?");
    if (type === "http.request") return [`${type} ${fmtBytes(size(m.body))}${m.more_body ? " (more)" : ""}`, "in"];
    if (type === "http.response.start") return [`${type} ${m.status ?? ""}`, "out"];
    if (type === "http.response.body") {
      return [`${type} ${fmtBytes(size(m.body))}${m.more_body ? " (more)" : ""}`, "out"];
    }
    if (type === "http.disconnect" || type === "websocket.disconnect") {
      return [`${type}${m.code !== undefined ? " " + m.code : ""}`, "error"];
    }
    if (type === "websocket.receive" || type === "websocket.send") {
      const text = m.text !== undefined && m.text !== null;
      const frame = text ? `text ${fmtBytes(size(m.text))}` : `bytes ${fmtBytes(size(m.bytes))}`;
      return [`${type} ${frame}`, "ws"];
    }
    if (type === "websocket.close") return [`${type} ${m.code ?? 1000}${m.reason ? " " + m.reason : ""}`, "ws"];
    return [type, ev.kind === "receive" ? "in" : "out"];
  }
  switch (ev.kind) {
    case "start_response": return [`start_response ${show(ev.status)}`, "out"];
    case "input": return [`input ${ev.call}() ${fmtBytes(size(ev.data))}`, "in"];
    case "write": return [`write() ${fmtBytes(size(ev.data))}`, "out"];
    case "chunk": return [`chunk ${fmtBytes(size(ev.data))}`, "out"];
    case "file": return [`file_wrapper ${show(ev.file?.name ?? "")}`, "out"];
    case "close": return [ev.exhausted ? "close() (body complete)" : "close() before the body ended", ev.exhausted ? "meta" : "error"];
    case "exception": return [`exception in ${ev.where}: ${ev.type}: ${ev.message}`, "error"];
    case "disconnect": return ["client disconnected", "error"];
    default: return [String(ev.kind), "meta"];
  }
}

// When the client could first get a response byte (WSGI servers send headers with the first body bytes).
export function firstByte(trace) {
  for (const ev of trace.events) {
    if (trace.protocol === "wsgi" && ["write", "chunk", "file"].includes(ev.kind)) return ev.t_ms;
    const type = ev.message?.type;
    if (ev.kind === "send" && ["http.response.start", "websocket.accept", "websocket.http.response.start",
      "websocket.close"].includes(type)) return ev.t_ms;
  }
  return null;
}

function eventFields(ev) {
  const rest = {};
  for (const [k, v] of Object.entries(ev)) if (k !== "t_ms" && k !== "kind") rest[k] = v;
  return show(rest);
}

export function timelineView(trace) {
  const events = trace.events;
  const end = Math.max(trace.duration_ms ?? 0, events.length ? events[events.length - 1].t_ms : 0, 0.001);
  const pct = (t) => `${Math.min(100, Math.max(0, (t / end) * 100))}%`;
  const byEvent = new Map();
  for (const v of trace.violations) {
    if (Number.isInteger(v.event)) byEvent.set(v.event, [...(byEvent.get(v.event) || []), v]);
  }
  const ttfb = firstByte(trace);
  const rows = h("div", { class: "wf-rows" });
  const rowEls = [];
  const renderRows = (upTo) => {
    for (let i = rowEls.length; i < Math.min(events.length, upTo); i++) {
      const ev = events[i];
      const next = i + 1 < events.length ? events[i + 1].t_ms : (trace.duration_ms ?? ev.t_ms);
      const [label, lane] = describe(ev);
      const bar = h("span", { class: `wf-bar lane-${lane}`, title: `${fmtMs(ev.t_ms)} → ${fmtMs(next)}` });
      bar.style.left = pct(ev.t_ms);
      bar.style.width = pct(Math.max(0, next - ev.t_ms));
      const fields = h("pre", { class: "code wf-fields", hidden: true, text: eventFields(ev) });
      const row = h("div", { class: "wf-row", "data-t": ev.t_ms },
        h("button", { class: "wf-head", type: "button", "aria-expanded": "false",
          onclick: (e) => {
            fields.hidden = !fields.hidden;
            e.currentTarget.setAttribute("aria-expanded", String(!fields.hidden));
          } },
        h("span", { class: "wf-i", text: i }), h("span", { class: "wf-t", text: fmtMs(ev.t_ms) }),
        h("span", { class: "wf-d", text: `+${fmtMs(Math.max(0, next - ev.t_ms))}` }),
        h("span", { class: `wf-label lane-${lane}`, title: label, text: label }),
        h("span", { class: "wf-track" }, bar)),
        (byEvent.get(i) || []).map((v) => h("p", { class: `violation sev-${v.severity}` },
          h("span", { class: "badge", text: v.severity }), ` ${v.rule}: ${v.message}`)),
        fields);
      rowEls.push(row);
      rows.append(row);
    }
  };
  renderRows(MAX_ROWS);
  const more = events.length > MAX_ROWS ? h("button", { type: "button", class: "more",
    text: `Show all ${events.length} events`, onclick: () => { renderRows(events.length); more.remove(); } }) : null;

  const scrub = h("input", { type: "range", min: 0, max: 1000, value: 1000, class: "scrub",
    "aria-label": "Replay the timeline up to a moment" });
  const readout = h("span", { class: "scrub-readout" });
  const box = h("div", { class: "waterfall" });
  const update = () => {
    const t = (Number(scrub.value) / 1000) * end;
    box.style.setProperty("--cursor", pct(t));
    let seen = 0;
    let out = 0;
    for (const row of rowEls) {
      const past = Number(row.dataset.t) <= t;
      row.classList.toggle("future", !past);
      if (past) seen++;
    }
    for (const ev of events) {
      if (ev.t_ms > t) break;
      const m = ev.message;
      if (m?.type === "http.response.body") out += size(m.body);
      else if (m?.type === "websocket.send") out += size(m.text ?? m.bytes);
      else if (ev.kind === "chunk" || ev.kind === "write") out += size(ev.data);
    }
    const started = ttfb !== null && ttfb <= t ? "response started" : "no response yet";
    readout.textContent = `at ${fmtMs(t)}: ${seen} of ${events.length} events · ${started} · ${fmtBytes(out)} sent`;
  };
  scrub.addEventListener("input", update);
  update();
  const ticks = h("div", { class: "wf-scale" },
    [0, 0.25, 0.5, 0.75, 1].map((f) => { const s = h("span", { text: fmtMs(f * end) }); s.style.left = `${f * 100}%`; return s; }));
  const marker = ttfb !== null ? h("span", { class: "wf-ttfb", title: `time to first byte ${fmtMs(ttfb)}` }) : null;
  if (marker) marker.style.left = pct(ttfb);
  append(box, [h("div", { class: "wf-controls" }, h("label", { class: "scrub-label" }, "Replay ", scrub), readout),
    h("div", { class: "wf-header" }, h("span", { class: "wf-head-cols", text: "#  offset  duration  event" }),
      h("span", { class: "wf-track wf-scale-track" }, ticks, marker)),
    rows, more]);
  if (!events.length) box.append(h("p", { class: "muted", text: "No events recorded." }));
  return box;
}

// The detail view of one trace: summary, actions, error, waterfall, headers, bodies,
// violations, and the environ or scope -- every value as text.
import { bodyView } from "./body.js";
import { append, clear, fmtBytes, fmtMs, h, show, statusClass } from "./dom.js";
import { firstByte, timelineView } from "./timeline.js";

function table(rows, empty) {
  if (!rows.length) return h("p", { class: "muted", text: empty });
  return h("table", { class: "kv" }, h("tbody", {}, rows.map(([k, v]) =>
    h("tr", {}, h("th", { scope: "row", text: k }), h("td", {}, h("span", { class: "kv-v", text: show(v) }))))));
}

function headerOf(headers, name) {
  const hit = (headers || []).find(([k]) => String(k).toLowerCase() === name);
  return hit ? hit[1] : null;
}

function section(title, ...content) {
  return h("section", { class: "card" }, h("h2", { text: title }), ...content);
}

async function copyText(text, button, fallback) {
  fallback.hidden = false; // the command stays visible, for when the clipboard is not available
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents(fallback);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    button.textContent = "Select + copy below";
  }
  setTimeout(() => { button.textContent = "Copy as curl"; }, 2000);
}

export function renderDetail(root, trace, curl) {
  clear(root);
  const req = trace.request;
  const resp = trace.response;
  const ttfb = firstByte(trace);
  const id = encodeURIComponent(trace.id);
  const curlBox = h("pre", { class: "code curl", hidden: true, text: curl || "" });
  const copy = h("button", { type: "button", text: "Copy as curl" });
  copy.addEventListener("click", () => copyText(curl || "", copy, curlBox));
  const target = req.path + (req.query_string ? `?${req.query_string}` : "");

  append(root, [
    h("div", { class: "detail-head" },
      h("a", { class: "button", href: "#/", text: "← All requests" }),
      h("h1", { class: "detail-title" },
        h("span", { class: "method", text: req.method ?? trace.type }), " ",
        h("span", { class: "path", text: target }), " ",
        h("span", { class: `status ${statusClass(resp?.status)}`, text: resp?.status ?? "—" })),
      h("div", { class: "actions" }, copy,
        h("a", { class: "button", href: `api/traces/${id}?download=1`, download: `gwinspect-${trace.id}.json`,
          text: "Download JSON" }),
        h("a", { class: "button", href: `api/traces/${id}.har?download=1`, download: `${trace.id}.har`,
          text: "HAR" }))),
    curlBox,
    h("dl", { class: "facts" }, [
      ["started", trace.started_at], ["duration", trace.duration_ms === null ? "in progress" : fmtMs(trace.duration_ms)],
      ["time to first byte", ttfb === null ? "—" : fmtMs(ttfb)], ["protocol", `${trace.protocol} · ${trace.type}`],
      ["http", req.http_version ?? "—"], ["client", req.client ?? "—"], ["state", trace.state],
      ["request body", fmtBytes(req.body_size)], ["response body", resp ? fmtBytes(resp.body_size) : "—"],
      ["events", `${trace.events.length}${trace.events_dropped ? ` (+${trace.events_dropped} dropped)` : ""}`],
    ].map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", { text: v })))),
    trace.disconnected ? h("p", { class: "flag warn", text: "The client disconnected before the response was complete." }) : null,
    trace.partial ? h("p", { class: "flag warn", text: "Partial trace: gwinspect could not record everything (the app was not affected)." }) : null,
  ]);
  if (trace.error) {
    root.append(section("Exception", h("p", { class: "error-text", text: `${trace.error.type}: ${trace.error.message}` }),
      h("pre", { class: "code traceback", text: trace.error.traceback })));
  }
  const loose = trace.violations.filter((v) => !Number.isInteger(v.event));
  if (trace.violations.length) {
    root.append(section(`Violations (${trace.violations.length})`,
      h("ul", { class: "violations" }, trace.violations.map((v) => h("li", { class: `violation sev-${v.severity}` },
        h("span", { class: "badge", text: v.severity }), ` ${v.rule}: ${v.message}`,
        Number.isInteger(v.event) ? h("span", { class: "muted", text: ` (event #${v.event})` } ) : null))),
      loose.length ? null : h("p", { class: "muted", text: "Each is also shown next to its event in the timeline." })));
  }
  root.append(section("Timeline", timelineView(trace)));
  const reqType = headerOf(req.headers, "content-type");
  const respType = resp ? headerOf(resp.headers, "content-type") : null;
  root.append(h("div", { class: "two" },
    section("Request", h("h3", { text: "Headers" }), table(req.headers, "(no headers)"),
      trace.type === "http" ? [h("h3", { text: "Body" }), bodyView(trace, "in", req.body_size, reqType)] : null),
    section("Response", resp ? [h("h3", { text: "Headers" }), table(resp.headers, "(no headers)"),
      trace.type === "http" ? [h("h3", { text: "Body" }), bodyView(trace, "out", resp.body_size, respType)] : null]
      : h("p", { class: "muted", text: "No response was started." }))));
  const context = trace.environ ?? trace.scope ?? {};
  root.append(section(trace.environ ? "WSGI environ" : "ASGI scope",
    table(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), "(empty)")));
}

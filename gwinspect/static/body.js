// Request and response bodies, put back together from the recorded events and shown
// as pretty JSON, text, or a hex dump for binary -- always as text, truncation marked.
import { fmtBytes, h, isBlob } from "./dom.js";

const HEX_LIMIT = 16 * 1024; // bytes shown in a hex dump before "…"

function blobBytes(blob) {
  if (blob.encoding === "utf-8") return new TextEncoder().encode(blob.data);
  const bin = atob(blob.data);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// The body blobs of one direction: "in" (what the app read) or "out" (what it sent).
export function bodyBlobs(trace, direction) {
  const blobs = [];
  for (const ev of trace.events) {
    let data = null;
    if (trace.protocol === "wsgi") {
      const kinds = direction === "in" ? ["input"] : ["write", "chunk"];
      if (kinds.includes(ev.kind)) data = ev.data;
    } else if (ev.message) {
      const type = direction === "in" ? "http.request" : "http.response.body";
      if (ev.message.type === type) data = ev.message.body;
    }
    if (isBlob(data)) blobs.push(data);
  }
  return blobs;
}

function joinBytes(blobs) {
  const parts = blobs.map(blobBytes);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function hexDump(bytes) {
  const lines = [];
  const n = Math.min(bytes.length, HEX_LIMIT);
  for (let i = 0; i < n; i += 16) {
    const row = bytes.subarray(i, Math.min(i + 16, n));
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${i.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes not shown`);
  return lines.join("\n");
}

// Decide how to show some bytes: {kind: "json"|"text"|"hex"|"empty", text}.
export function formatBody(bytes, contentType) {
  if (bytes.length === 0) return { kind: "empty", text: "" };
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (_) {
    return { kind: "hex", text: hexDump(bytes) };
  }
  const looksJson = /json/i.test(contentType || "") || /^\s*[[{]/.test(text);
  if (looksJson) {
    let parsed;
    try { parsed = JSON.parse(text); } catch (_) { return { kind: "text", text }; }
    // Indented only while that stays small: indentation grows with the square of the nesting
    // depth, so a hostile 8 KB body nested 4,000 deep would become 32 MB and freeze the tab.
    if (depthOf(parsed) <= MAX_PRETTY_DEPTH) {
      const pretty = JSON.stringify(parsed, null, 2);
      if (pretty.length <= 16 * text.length + 65536) return { kind: "json", text: pretty };
    }
    return { kind: "json", text };
  }
  return { kind: "text", text };
}

const MAX_PRETTY_DEPTH = 64;

// How deeply a parsed JSON value nests (without recursion: the value may nest thousands deep);
// counting stops past MAX_PRETTY_DEPTH.
function depthOf(value) {
  let deepest = 0;
  const stack = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop();
    if (item === null || typeof item !== "object") continue;
    if (depth > deepest) {
      deepest = depth;
      if (deepest > MAX_PRETTY_DEPTH) return deepest;
    }
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return deepest;
}

// A <div> showing one body: a caption (size, format, truncation) and the content.
export function bodyView(trace, direction, declaredSize, contentType) {
  const blobs = bodyBlobs(trace, direction);
  const bytes = joinBytes(blobs);
  const truncated = blobs.some((b) => b.truncated) || (declaredSize || 0) > bytes.length;
  const shown = formatBody(bytes, contentType);
  const caption = [fmtBytes(declaredSize ?? bytes.length)];
  if (shown.kind !== "empty") caption.push(shown.kind === "hex" ? "binary (hex)" : shown.kind);
  const box = h("div", { class: "body" },
    h("p", { class: "caption" }, caption.join(" · "),
      truncated ? h("span", { class: "badge warn", text: `truncated: ${fmtBytes(bytes.length)} recorded` }) : null));
  if (shown.kind === "empty") box.append(h("p", { class: "muted", text: "(no body)" }));
  else box.append(h("pre", { class: `code ${shown.kind}`, text: truncated ? `${shown.text}\n… [truncated]` : shown.text }));
  return box;
}

// DOM helpers and formatters. Every recorded value is attacker-controlled: it only
// ever reaches the page as a text node (textContent / createTextNode), never as HTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function statusClass(status) {
  if (status === null || status === undefined) return "s-none";
  return `s-${String(status)[0]}xx`;
}

// A recorded bytes value: {"encoding": "utf-8"|"base64", "data", "size", "truncated"}.
export function isBlob(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) && typeof v.encoding === "string" &&
    typeof v.data === "string" && typeof v.size === "number" && typeof v.truncated === "boolean" &&
    Object.keys(v).length === 4;
}

// A display string for any recorded value (bytes decoded, nested data as indented JSON).
export function show(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return v;
  if (isBlob(v)) {
    const text = v.encoding === "utf-8" ? v.data : `base64:${v.data}`;
    return v.truncated ? `${text} … [truncated: ${v.data.length} of ${v.size} bytes]` : text;
  }
  if (typeof v === "object") {
    const replacer = (k, x) => (isBlob(x) ? show(x) : x);
    const flat = JSON.stringify(v, replacer);
    return flat.length <= 80 ? flat : JSON.stringify(v, replacer, 2);
  }
  return String(v);
}

export async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) {
    let message = `${response.status}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    const err = new Error(message);
    err.status = response.status;
    throw err;
  }
  return response.json();
}

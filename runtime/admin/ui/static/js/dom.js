// Small DOM helpers. Every text from the API goes in through textContent (never as HTML).

/** h("a", {href: "#/"}, "text", child, ...): an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** Replace el's children (null, false and undefined are left out, arrays flattened). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An id in monospace, optionally a link. */
export function mono(text, href) {
  return href ? h("a", { class: "mono", href }, text) : h("span", { class: "mono" }, text);
}

const STATUS_TONE = {
  scheduled: "info",
  pending: "info",
  running: "ok",
  suspended: "wait",
  "backing-off": "warn",
  paused: "warn",
  completed: "done",
  success: "ok",
  failure: "bad",
};

/** A status badge: the word itself, colored by its meaning. */
export function badge(text, tone) {
  return h("span", { class: `badge ${tone || STATUS_TONE[text] || "plain"}` }, text);
}

/** "5 s ago" / "in 3 min" for an ISO time, with the exact time as its title. */
export function relTime(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const t = new Date(iso);
  return h("time", { datetime: iso, title: t.toISOString() }, relative(t));
}

export function relative(t, now = Date.now()) {
  const s = Math.round((t.getTime() - now) / 1000);
  const a = Math.abs(s);
  let text;
  if (a < 1) return "now";
  if (a < 60) text = `${a} s`;
  else if (a < 3600) text = `${Math.round(a / 60)} min`;
  else if (a < 86400) text = `${Math.round(a / 3600)} h`;
  else text = `${Math.round(a / 86400)} d`;
  return s < 0 ? `${text} ago` : `in ${text}`;
}

/** A table with a caption; rows are arrays of cells (nodes or text). */
export function table(caption, columns, rows, { empty = "Nothing here yet." } = {}) {
  if (!rows.length) return emptyState(empty);
  return h(
    "table",
    {},
    h("caption", { class: "sr-only" }, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h(
          "tr",
          {},
          r.map((cell) => h("td", {}, cell)),
        ),
      ),
    ),
  );
}

export function emptyState(text) {
  return h("p", { class: "empty" }, text);
}

/** A definition list from [label, value] pairs (null values are left out). */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs
      .filter(([, v]) => v !== undefined && v !== null && v !== "")
      .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

/** Show an error banner above the page (role=alert, so screen readers announce it). */
export function showError(error) {
  const banner = document.getElementById("banner");
  fill(
    banner,
    h("strong", {}, "The admin API failed. "),
    error.message || String(error),
    h("button", { type: "button", class: "link", onclick: clearError }, "Dismiss"),
  );
  banner.hidden = false;
}

export function clearError() {
  const banner = document.getElementById("banner");
  banner.hidden = true;
  banner.replaceChildren();
}

/** A short confirmation toast (role=status). */
export function notice(text) {
  const el = document.getElementById("notice");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => (el.hidden = true), 4000);
}

/** Ask before a destructive action; resolves true when confirmed. Uses the page's <dialog>. */
export function confirmAction(title, text, action) {
  const dialog = document.getElementById("confirm");
  dialog.querySelector("#confirm-title").textContent = title;
  dialog.querySelector("#confirm-text").textContent = text;
  dialog.querySelector("#confirm-ok").textContent = action;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

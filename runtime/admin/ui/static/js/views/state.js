// The K/V state of a virtual object or workflow by key: read it, edit it, write it back.
// GET /services/{name}/state/{key}; POST /services/{name}/state replaces the whole state,
// conditional on the version read (a write that lost the race is dropped and reported).

import { go } from "../app.js";
import { api, seg } from "../api.js";
import { emptyState, fill, h, notice, showError } from "../dom.js";

const KEYED = new Set(["VirtualObject", "Workflow"]);
const enc = new TextEncoder();

function picker(services, q) {
  const form = h(
    "form",
    { class: "filters", "aria-label": "Choose an object" },
    h("label", { for: "state-service" }, "Service"),
    h(
      "select",
      { id: "state-service", name: "service", required: true },
      services.map((s) => h("option", { value: s.name, selected: s.name === q.service }, s.name)),
    ),
    h("label", { for: "state-key" }, "Key"),
    h("input", {
      id: "state-key",
      name: "key",
      value: q.key || "",
      required: true,
      placeholder: "object key",
    }),
    h("button", { type: "submit" }, "Load"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(form);
    go("/state", { service: f.get("service"), key: f.get("key") });
  });
  return form;
}

function row(name = "", text = "", bytes = null) {
  const binary = bytes !== null;
  return h(
    "tr",
    { class: "state-row", dataset: binary ? { bytes: JSON.stringify(bytes) } : {} },
    h(
      "td",
      {},
      h("input", {
        class: "mono state-name",
        value: name,
        "aria-label": "State key",
        required: true,
      }),
    ),
    h(
      "td",
      {},
      binary
        ? h("span", { class: "muted" }, `${bytes.length} bytes, not UTF-8 (kept as is)`)
        : h(
            "textarea",
            { class: "mono state-value", rows: 1, "aria-label": `Value of ${name || "new entry"}` },
            text,
          ),
    ),
    h(
      "td",
      {},
      h(
        "button",
        { type: "button", class: "link", onclick: (e) => e.target.closest("tr").remove() },
        "Remove",
      ),
    ),
  );
}

function collect(tbody) {
  const out = {};
  for (const tr of tbody.querySelectorAll("tr.state-row")) {
    const name = tr.querySelector(".state-name").value;
    if (name in out) throw new Error(`the state key “${name}” appears twice`);
    const area = tr.querySelector(".state-value");
    out[name] = area ? Array.from(enc.encode(area.value)) : JSON.parse(tr.dataset.bytes);
  }
  return out;
}

async function editor(ctx, service, key) {
  const path = `/services/${seg(service)}/state/${seg(key)}`;
  const current = await api.get(path);
  if (!ctx.current()) return null;
  const tbody = h(
    "tbody",
    {},
    Object.keys(current.state).map((k) =>
      current.state_utf8[k] === null ? row(k, "", current.state[k]) : row(k, current.state_utf8[k]),
    ),
  );
  const form = h(
    "form",
    { class: "state-editor", "aria-label": `State of ${service}/${key}` },
    h(
      "table",
      {},
      h("caption", { class: "sr-only" }, `State of ${service}/${key}`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Key"),
          h("th", { scope: "col" }, "Value (UTF-8 text, e.g. JSON)"),
          h("th", {}, ""),
        ),
      ),
      tbody,
    ),
    Object.keys(current.state).length
      ? null
      : emptyState("No state under this key yet: add entries and save."),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        { type: "button", class: "secondary", onclick: () => tbody.append(row()) },
        "Add entry",
      ),
      h("button", { type: "submit" }, "Save state"),
      h(
        "span",
        { class: "muted small mono", title: "state version" },
        `version ${current.version.slice(0, 12)}…`,
      ),
    ),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let newState;
    try {
      newState = collect(tbody);
    } catch (err) {
      showError(err);
      return;
    }
    try {
      const r = await api.post(`/services/${seg(service)}/state`, {
        object_key: key,
        new_state: newState,
        version: current.version,
      });
      if (r.headers.get("x-rt-state-version-mismatch") === "true") {
        showError(
          new Error(
            "The state changed since it was loaded: nothing was written. It is reloaded now.",
          ),
        );
      } else {
        notice("State written: it applies once the key's running handler, if any, is done.");
        await waitApplied(path, current.version);
      }
    } catch (err) {
      showError(err);
      return;
    }
    if (ctx.current()) await render(ctx);
  });
  return form;
}

/** Wait (briefly) until the read side shows a version other than `before`. */
async function waitApplied(path, before) {
  for (let i = 0; i < 50; i++) {
    const s = await api.get(path);
    if (s.version !== before) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function render(ctx) {
  const { services } = await api.get("/services");
  if (!ctx.current()) return;
  const keyed = services.filter((s) => KEYED.has(s.ty));
  const q = ctx.query;
  const parts = [
    h("h1", {}, "State"),
    h("p", { class: "muted" }, "The durable K/V state of a virtual object or workflow, by key."),
  ];
  if (!keyed.length) {
    fill(ctx.main, ...parts, emptyState("No virtual object or workflow is registered."));
    return;
  }
  parts.push(picker(keyed, q));
  fill(ctx.main, parts);
  if (q.service && q.key !== undefined && q.key !== "") {
    const form = await editor(ctx, q.service, q.key);
    if (form && ctx.current())
      ctx.main.append(h("h2", { class: "mono" }, `${q.service}/${q.key}`), form);
  }
}

// Kafka subscriptions (GET/POST/DELETE /subscriptions): list, create, delete.

import { api, seg } from "../api.js";
import { confirmAction, emptyState, fill, h, mono, notice, showError, table } from "../dom.js";

function options(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf("=");
    if (i < 1) throw new Error(`option “${t}” is not name=value`);
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

function createForm(ctx) {
  const form = h(
    "form",
    { class: "stacked", "aria-label": "Create a subscription" },
    h("label", { for: "sub-source" }, "Source"),
    h("input", {
      id: "sub-source",
      name: "source",
      required: true,
      placeholder: "kafka://default/orders",
      class: "mono",
    }),
    h("label", { for: "sub-sink" }, "Sink"),
    h("input", {
      id: "sub-sink",
      name: "sink",
      required: true,
      placeholder: "service://Orders/process",
      class: "mono",
    }),
    h("label", { for: "sub-options" }, "Options (name=value per line)"),
    h("textarea", {
      id: "sub-options",
      name: "options",
      rows: 3,
      class: "mono",
      placeholder: "auto.offset.reset=earliest",
    }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create subscription")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    try {
      const r = await api.post("/subscriptions", {
        source: f.get("source"),
        sink: f.get("sink"),
        options: options(f.get("options")),
      });
      notice(`Subscription ${r.data.id} created`);
      await render(ctx);
    } catch (err) {
      showError(err);
    }
  });
  return form;
}

export async function render(ctx) {
  const { subscriptions } = await api.get("/subscriptions");
  if (!ctx.current()) return;
  const remove = async (s) => {
    const ok = await confirmAction(
      "Delete this subscription?",
      `Records of ${s.source} stop invoking ${s.sink} (offsets in flight are committed first).`,
      "Delete",
    );
    if (!ok) return;
    try {
      await api.del(`/subscriptions/${seg(s.id)}`);
      notice(`Subscription ${s.id} deleted`);
    } catch (err) {
      showError(err);
    }
    await render(ctx);
  };
  fill(
    ctx.main,
    h("h1", {}, "Subscriptions"),
    h(
      "p",
      { class: "muted" },
      "Kafka topics whose records invoke a handler, exactly once per record.",
    ),
    subscriptions.length
      ? table(
          "Subscriptions",
          ["Id", "Source", "Sink", "Options", ""],
          subscriptions.map((s) => [
            mono(s.id),
            mono(s.source),
            mono(s.sink),
            Object.entries(s.options).map(([k, v]) =>
              h("div", { class: "mono small" }, `${k}=${v}`),
            ),
            h(
              "button",
              { type: "button", class: "link danger-text", onclick: () => remove(s) },
              "Delete",
            ),
          ]),
        )
      : emptyState(
          "No subscriptions. Create one below or with: rt subscribe <topic> <Service/handler>.",
        ),
    h(
      "p",
      { class: "muted small" },
      "Consumer lag and dead-letter counts per subscription are not in the admin API yet.",
    ),
    h("h2", {}, "New subscription"),
    createForm(ctx),
  );
}

// Services and their handlers with their options (GET /services, GET /services/{name}).

import { api, seg } from "../api.js";
import { badge, emptyState, facts, fill, h, table } from "../dom.js";

const KEYED = new Set(["VirtualObject", "Workflow"]);

export async function render(ctx) {
  if (ctx.params.length) return detail(ctx, ctx.params[0]);
  const { services } = await api.get("/services");
  if (!ctx.current()) return;
  fill(
    ctx.main,
    h("h1", {}, "Services"),
    services.length
      ? table(
          "Services",
          ["Service", "Type", "Public", "Handlers", "Journal retention", "Deployment"],
          services.map((s) => [
            h("a", { href: `#/services/${seg(s.name)}` }, s.name),
            badge(s.ty, "plain"),
            s.public ? "yes" : "private",
            String(s.handlers.length),
            s.journal_retention ?? "—",
            h("span", { class: "mono" }, s.deployment_id),
          ]),
        )
      : emptyState("No services registered: start rt with an app (rt dev app.py)."),
  );
}

/** "from 100ms, ×2, at most 10s; forever" — a retry policy in a line. */
function retryText(p) {
  if (!p) return null;
  const attempts =
    p.max_attempts === null ? "forever" : `${p.max_attempts} attempts, then ${p.on_max_attempts}`;
  return `from ${p.initial_interval}, ×${p.exponentiation_factor}, at most ${p.max_interval}; ${attempts}`;
}

function handlerOptions(x) {
  return h(
    "dl",
    { class: "mini" },
    [
      ["journal", x.journal_retention],
      ["idempotency", x.idempotency_retention],
      ["inactivity", x.inactivity_timeout],
      ["abort", x.abort_timeout ?? "never"],
      ["retry", retryText(x.retry_policy)],
      ["lazy state", x.enable_lazy_state ? "yes" : null],
    ]
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

function schema(label, value) {
  if (value === null || value === undefined) return null;
  return h(
    "details",
    {},
    h("summary", {}, label),
    h("pre", { class: "code" }, JSON.stringify(value, null, 2)),
  );
}

async function detail(ctx, name) {
  const s = await api.get(`/services/${seg(name)}`);
  if (!ctx.current()) return;
  const keyed = KEYED.has(s.ty);
  fill(
    ctx.main,
    h("p", { class: "crumbs" }, h("a", { href: "#/services" }, "Services"), " / "),
    h("h1", {}, s.name, " ", badge(s.ty, "plain")),
    s.documentation ? h("p", {}, s.documentation) : null,
    h(
      "p",
      { class: "actions" },
      h(
        "a",
        { class: "button", href: `#/invocations?service=${seg(s.name)}` },
        "Invocations in flight",
      ),
      keyed
        ? h("a", { class: "button", href: `#/state?service=${seg(s.name)}` }, "Object state")
        : null,
    ),
    h("h2", {}, "Options"),
    facts([
      ["Public (ingress)", s.public ? "yes" : "no: callable from handlers only"],
      ["Revision", String(s.revision)],
      ["Deployment", h("span", { class: "mono" }, s.deployment_id)],
      ["Journal retention", s.journal_retention ?? "—"],
      ["Idempotency retention", s.idempotency_retention ?? "—"],
      ["Workflow retention", s.workflow_completion_retention],
      ["Inactivity timeout", s.inactivity_timeout ?? "default"],
      ["Abort timeout", s.abort_timeout ?? "default"],
      ["Retry policy", retryText(s.retry_policy)],
    ]),
    h("h2", {}, "Handlers"),
    table(
      `Handlers of ${s.name}`,
      ["Handler", "Type", "Public", "Input", "Output", "Runs with", "Documentation"],
      s.handlers.map((x) => [
        h("strong", {}, x.name),
        x.ty ? badge(x.ty, "plain") : h("span", { class: "muted" }, "—"),
        x.public ? "yes" : "private",
        [x.input_description, schema("schema", x.input_json_schema)],
        [x.output_description, schema("schema", x.output_json_schema)],
        handlerOptions(x),
        x.documentation ?? "",
      ]),
      { empty: "This service has no handlers." },
    ),
  );
}

// Overview: the cluster as this node sees it (GET /cluster, GET /services), refreshed live.

import { api } from "../api.js";
import { badge, emptyState, fill, h, table } from "../dom.js";

const REFRESH_MS = 3000;

function card(label, value, hint) {
  return h(
    "div",
    { class: "card" },
    h("div", { class: "card-label" }, label),
    h("div", { class: "card-value" }, value),
    hint ? h("div", { class: "card-hint muted" }, hint) : null,
  );
}

const rate = (r) => (r === null || r === undefined ? "—" : `${r.toLocaleString()} /s`);

export async function render(ctx) {
  const cards = h("div", { class: "cards", "aria-live": "polite" });
  const parts = h("section", { "aria-labelledby": "partitions-title" });
  const svcs = h("section", { "aria-labelledby": "services-title" });
  fill(
    ctx.main,
    h("h1", {}, "Overview"),
    cards,
    h("h2", { id: "partitions-title" }, "Partitions"),
    parts,
    h("h2", { id: "services-title" }, "Services"),
    svcs,
    h(
      "p",
      { class: "muted small" },
      "Not shown yet: which worker owns each partition, the nodes of the consumer group, " +
        "Kafka lag and invocation latency — the admin API does not report them.",
    ),
  );
  await ctx.poll(async () => {
    const [cluster, { services }] = await Promise.all([api.get("/cluster"), api.get("/services")]);
    if (!ctx.current()) return;
    const owned = cluster.partitions.filter((p) => p.leader_epoch > 0).length;
    fill(
      cards,
      card("Services", cluster.services, `${cluster.handlers} handlers`),
      card("In flight", cluster.in_flight.toLocaleString(), "invocations not completed"),
      card(
        "Throughput",
        rate(cluster.applied_per_second),
        cluster.rate_window_seconds
          ? `log records applied, over ${Math.round(cluster.rate_window_seconds)} s`
          : "measured from the next refresh on",
      ),
      card("Partitions", cluster.partitions.length, `${owned} with a leader`),
      card("Timers", cluster.timers.toLocaleString(), "sleeps, delays, retries, cron"),
      card("Dead letters", cluster.pending_dead_letters, "stored, not yet produced"),
    );
    fill(
      parts,
      table(
        "Partitions of rt.log",
        [
          "Partition",
          "Leader",
          "Epoch",
          "Applied offset",
          "In flight",
          "Timers",
          "DLQ pending",
          "Rate",
        ],
        cluster.partitions.map((p) => [
          h("span", { class: "mono" }, `p${p.partition}`),
          p.leader_epoch > 0 ? badge(`epoch ${p.leader_epoch}`, "ok") : badge("none", "warn"),
          String(p.epoch),
          p.applied_offset === null
            ? h("span", { class: "muted" }, "—")
            : p.applied_offset.toLocaleString(),
          String(p.in_flight),
          String(p.timers),
          String(p.pending_dead_letters),
          rate(p.applied_per_second),
        ]),
        { empty: "No partitions." },
      ),
    );
    fill(
      svcs,
      services.length
        ? table(
            "Services",
            ["Service", "Type", "Handlers", ""],
            services.map((s) => [
              h("a", { href: `#/services/${encodeURIComponent(s.name)}` }, s.name),
              badge(s.ty, "plain"),
              s.handlers.map((x) => x.name).join(", "),
              h(
                "a",
                { href: `#/invocations?service=${encodeURIComponent(s.name)}` },
                "Invocations",
              ),
            ]),
          )
        : emptyState("No services registered: start rt with an app (rt dev app.py)."),
    );
  }, REFRESH_MS);
}

// Cron jobs (GET/POST/DELETE /cron, an rt extension): list, create, delete.

import { api, seg } from "../api.js";
import {
  confirmAction,
  emptyState,
  fill,
  h,
  mono,
  notice,
  relTime,
  showError,
  table,
} from "../dom.js";

function every(ms) {
  if (ms % 3600000 === 0) return `every ${ms / 3600000} h`;
  if (ms % 60000 === 0) return `every ${ms / 60000} min`;
  return `every ${ms / 1000} s`;
}

function createForm(ctx) {
  const form = h(
    "form",
    { class: "stacked", "aria-label": "Create a cron job" },
    h("label", { for: "cron-id" }, "Id (optional)"),
    h("input", { id: "cron-id", name: "id", class: "mono", placeholder: "nightly-report" }),
    h("label", { for: "cron-target" }, "Target"),
    h("input", {
      id: "cron-target",
      name: "target",
      required: true,
      class: "mono",
      placeholder: "Reports/nightly or Obj/key/handler",
    }),
    h("label", { for: "cron-kind" }, "Repeat by"),
    h(
      "select",
      { id: "cron-kind", name: "kind" },
      h("option", { value: "schedule" }, "cron expression (UTC)"),
      h("option", { value: "every" }, "interval (30s, 5m, PT1H)"),
    ),
    h("label", { for: "cron-schedule" }, "Schedule"),
    h("input", {
      id: "cron-schedule",
      name: "schedule",
      required: true,
      class: "mono",
      placeholder: "0 3 * * *  or  30s",
    }),
    h("label", { for: "cron-body" }, "Body (JSON, optional)"),
    h("textarea", { id: "cron-body", name: "body", rows: 2, class: "mono" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create cron job")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const schedule = f.get("schedule").trim();
    const req = { target: f.get("target").trim() };
    if (f.get("id").trim()) req.id = f.get("id").trim();
    req[f.get("kind") === "every" ? "every" : "schedule"] = schedule;
    try {
      if (f.get("body").trim()) req.body = JSON.parse(f.get("body"));
      const r = await api.post("/cron", req);
      notice(`Cron job ${r.data.id} created`);
      await render(ctx);
    } catch (err) {
      showError(err);
    }
  });
  return form;
}

export async function render(ctx) {
  const { jobs } = await api.get("/cron");
  if (!ctx.current()) return;
  const remove = async (j) => {
    if (
      !(await confirmAction(
        "Delete this cron job?",
        `${j.target} is not invoked by ${j.id} any more.`,
        "Delete",
      ))
    )
      return;
    try {
      await api.del(`/cron/${seg(j.id)}`);
      notice(`Cron job ${j.id} deleted`);
    } catch (err) {
      showError(err);
    }
    await render(ctx);
  };
  fill(
    ctx.main,
    h("h1", {}, "Cron jobs"),
    h("p", { class: "muted" }, "Recurring invocations, durable in the log (an rt extension)."),
    jobs.length
      ? table(
          "Cron jobs",
          ["Id", "Target", "Schedule", "Next run", "Last run", "Last invocation", ""],
          jobs.map((j) => [
            mono(j.id),
            mono(j.target),
            j.schedule ? mono(j.schedule) : every(j.every_ms),
            relTime(j.next_run),
            relTime(j.last_run),
            j.last_invocation_id
              ? mono(j.last_invocation_id, `#/invocations/${seg(j.last_invocation_id)}`)
              : "—",
            h(
              "button",
              { type: "button", class: "link danger-text", onclick: () => remove(j) },
              "Delete",
            ),
          ]),
        )
      : emptyState("No cron jobs. Create one below or with: rt cron add TARGET --every 1m."),
    h("h2", {}, "New cron job"),
    createForm(ctx),
  );
}

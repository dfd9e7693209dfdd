// Invocations (GET /invocations): in flight (filters, pages, live refresh) or completed (the
// history, newest first, by result, paged by cursor); open by id.

import { go } from "../app.js";
import { api, query, seg } from "../api.js";
import { badge, emptyState, fill, h, mono, relTime, showError, table } from "../dom.js";

const PAGE = 25;
const REFRESH_MS = 2000;
const STATUSES = ["scheduled", "pending", "running", "suspended", "backing-off", "paused"];
const RESULTS = ["success", "failure", "killed", "cancelled"];
const KIND_TONE = { success: "ok", failure: "bad", killed: "bad", cancelled: "warn" };

function select(id, label, options, value) {
  return [
    h("label", { for: id }, label),
    h(
      "select",
      { id, name: id },
      h("option", { value: "" }, "any"),
      options.map((o) => h("option", { value: o, selected: o === value }, o)),
    ),
  ];
}

export async function render(ctx) {
  const q = ctx.query;
  const page = Math.max(0, parseInt(q.page || "0", 10) || 0);
  const history = q.view === "completed";
  const { services } = await api.get("/services");
  if (!ctx.current()) return;
  const service = services.find((s) => s.name === q.service);
  const handlers = service ? service.handlers.map((x) => x.name) : [];

  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter invocations" },
    select(
      "service",
      "Service",
      services.map((s) => s.name),
      q.service,
    ),
    select("handler", "Handler", handlers, q.handler),
    h("label", { for: "key" }, "Key"),
    h("input", { id: "key", name: "key", value: q.key || "", placeholder: "object key" }),
    history
      ? select("result", "Result", RESULTS, q.result)
      : select("status", "Status", STATUSES, q.status),
    h("button", { type: "submit" }, "Filter"),
  );
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(filters);
    go("/invocations", {
      service: f.get("service"),
      handler: f.get("service") === q.service ? f.get("handler") : "",
      key: f.get("key"),
      status: f.get("status"),
      result: f.get("result"),
      view: q.view,
    });
  });
  filters.querySelector("#service").addEventListener("change", () => filters.requestSubmit());

  const open = h(
    "form",
    { class: "open-by-id", "aria-label": "Open an invocation by id" },
    h("label", { for: "open-id" }, "Open by id"),
    h("input", { id: "open-id", name: "id", placeholder: "inv_…", class: "mono", required: true }),
    h("button", { type: "submit", class: "secondary" }, "Open"),
  );
  open.addEventListener("submit", (e) => {
    e.preventDefault();
    const id = new FormData(open).get("id").trim();
    if (id) go(`/invocations/${seg(id)}`);
  });

  const viewLink = (view, text) =>
    h(
      "a",
      {
        href: `#/invocations${query({ service: q.service, handler: q.handler, key: q.key, view })}`,
        "aria-current": (view === "completed") === history ? "page" : null,
      },
      text,
    );
  const switcher = h(
    "nav",
    { class: "switch", "aria-label": "Which invocations" },
    viewLink("", "In flight"),
    viewLink("completed", "Completed"),
  );
  if (history) return renderHistory(ctx, q, filters, open, switcher);

  const live = h("input", { type: "checkbox", id: "live", checked: true });
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const results = h("div", { class: "results" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  fill(
    ctx.main,
    h("h1", {}, "Invocations"),
    switcher,
    h("p", { class: "muted" }, "Invocations not completed yet, oldest first."),
    h("div", { class: "toolbar" }, filters, open),
    h("div", { class: "toolbar" }, summary, h("label", { class: "check" }, live, " Live")),
    results,
    pager,
  );

  const pageLink = (n, text) =>
    h(
      "a",
      { class: "button secondary", href: `#/invocations${query({ ...q, page: n || "" })}` },
      text,
    );

  await ctx.poll(async () => {
    if (!live.checked && results.childElementCount) return;
    const params = { service: q.service, handler: q.handler, key: q.key, status: q.status };
    const found = await api.get(
      `/invocations${query({ ...params, limit: PAGE, offset: page * PAGE })}`,
    );
    if (!ctx.current()) return;
    const total = found.total ?? found.invocations.length;
    const first = page * PAGE + 1;
    summary.textContent = total
      ? `${first}–${first + found.invocations.length - 1} of ${total} in flight`
      : "";
    fill(
      results,
      found.invocations.length
        ? table(
            "Invocations in flight",
            ["Id", "Target", "Status", "Created", "Modified", "Attempt", "Last failure"],
            found.invocations.map((d) => [
              mono(d.id, `#/invocations/${seg(d.id)}`),
              d.target,
              [badge(d.status), d.cancel_requested ? badge("cancelling", "warn") : null],
              relTime(d.created_at),
              relTime(d.modified_at),
              d.retry_count ? `${d.attempt} (${d.retry_count} retries)` : String(d.attempt),
              d.last_failure
                ? h(
                    "span",
                    { class: "failure", title: d.last_failure },
                    `[${d.last_failure_error_code}] ${d.last_failure}`,
                  )
                : "",
            ]),
          )
        : emptyState(page ? "No invocations on this page." : "No invocation in flight matches."),
    );
    fill(
      pager,
      page > 0 ? pageLink(page - 1, "← Previous page") : null,
      found.more ? pageLink(page + 1, "Next page →") : null,
    );
  }, REFRESH_MS);
}

/** The history: completed invocations, newest completion first; "More" follows the cursor. */
async function renderHistory(ctx, q, filters, open, switcher) {
  const results = h("div", { class: "results" });
  const more = h("button", { type: "button", class: "secondary" }, "More");
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  fill(
    ctx.main,
    h("h1", {}, "Invocations"),
    switcher,
    h(
      "p",
      { class: "muted" },
      "Completed invocations still retained, newest completion first.",
    ),
    h("div", { class: "toolbar" }, filters, open),
    summary,
    results,
    pager,
  );
  const rows = [];
  let cursor = null;
  const load = async () => {
    const params = { service: q.service, handler: q.handler, key: q.key, result: q.result };
    const found = await api.get(
      `/invocations${query({ ...params, status: "completed", limit: PAGE, cursor })}`,
    );
    if (!ctx.current()) return;
    rows.push(...found.invocations);
    cursor = found.next_cursor;
    summary.textContent = rows.length
      ? `${rows.length} completed${cursor ? ", more after these" : ""}`
      : "";
    fill(
      results,
      rows.length
        ? table(
            "Completed invocations",
            ["Id", "Target", "Result", "Created", "Completed", "Attempt", "Failure"],
            rows.map((d) => [
              mono(d.id, `#/invocations/${seg(d.id)}`),
              d.target,
              badge(d.completion_kind || d.completion_result, KIND_TONE[d.completion_kind]),
              relTime(d.created_at),
              d.completed_at ? relTime(d.completed_at) : "",
              String(d.attempt),
              d.completion_failure
                ? h(
                    "span",
                    { class: "failure", title: d.completion_failure },
                    `[${d.completion_failure_code}] ${d.completion_failure}`,
                  )
                : "",
            ]),
          )
        : emptyState("No completed invocation matches (or its retention passed)."),
    );
    fill(pager, cursor ? more : null);
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      await load();
    } catch (e) {
      showError(e);
    } finally {
      more.disabled = false;
    }
  });
  await load();
}

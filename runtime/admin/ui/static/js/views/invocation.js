// One invocation: its status, actions (pause, resume, cancel, kill, restart as new, purge)
// and its journal as a timeline.

import { api, seg } from "../api.js";
import {
  badge,
  confirmAction,
  emptyState,
  facts,
  fill,
  h,
  mono,
  notice,
  relTime,
  showError,
} from "../dom.js";

const REFRESH_MS = 2000;
const SHORT = 160;

const link = (id) => mono(id, `#/invocations/${seg(id)}`);

function value(e) {
  if (e.value === null || e.value === undefined) {
    return e.value_size ? h("span", { class: "muted" }, `${e.value_size} bytes (binary)`) : null;
  }
  const cut = e.value_size > e.value.length ? " …" : "";
  if (e.value.length <= SHORT) return h("code", { class: "value" }, e.value + cut);
  return h(
    "details",
    { class: "value" },
    h("summary", {}, h("code", {}, e.value.slice(0, SHORT) + " …")),
    h("pre", { class: "code" }, e.value + cut),
  );
}

function outcome(e) {
  if (e.result === "failure")
    return [badge("failure", "bad"), ` [${e.failure_code}] ${e.failure_message}`];
  if (e.result === "void") return h("span", { class: "muted" }, "done (no value)");
  return value(e);
}

const KIND_TEXT = {
  Input: "Input",
  Output: "Output",
  Run: "Run",
  Call: "Call",
  Send: "Send",
  Sleep: "Sleep",
  Awakeable: "Awakeable",
  CompleteAwakeable: "Resolve awakeable",
  GetPromise: "Await promise",
  PeekPromise: "Peek promise",
  CompletePromise: "Complete promise",
  GetState: "Get state",
  SetState: "Set state",
  ClearState: "Clear state",
  ClearAllState: "Clear all state",
  GetStateKeys: "State keys",
  AttachInvocation: "Attach",
  GetInvocationOutput: "Get output",
  CancelInvocation: "Cancel invocation",
  Emit: "Emit to Kafka",
};

/** What a command does, in words and links. */
function commandBody(kind, e, done) {
  const target = e.name ? e.name.replace(/ \(inv_[^)]*\)$/, "") : "";
  switch (kind) {
    case "Input":
      return [h("span", { class: "what" }, "Input"), value(e)];
    case "Output":
      return [h("span", { class: "what" }, "Output"), outcome(e)];
    case "Call":
    case "Send":
      return [
        h("span", { class: "what" }, `${KIND_TEXT[kind]} ${target}`),
        " → ",
        link(e.invocation_id),
        e.due_at ? [" starts ", relTime(e.due_at)] : null,
        value(e),
      ];
    case "Sleep":
      return [
        h("span", { class: "what" }, e.name ? `Sleep “${e.name}”` : "Sleep"),
        done ? " until " : " wakes up ",
        relTime(e.due_at),
      ];
    case "Awakeable":
    case "CompleteAwakeable":
      return [
        h("span", { class: "what" }, KIND_TEXT[kind]),
        " ",
        mono(e.awakeable_id),
        kind === "CompleteAwakeable" ? outcome(e) : null,
      ];
    case "CompletePromise":
      return [h("span", { class: "what" }, `${KIND_TEXT[kind]} “${e.name}”`), outcome(e)];
    case "AttachInvocation":
    case "GetInvocationOutput":
    case "CancelInvocation":
      return [h("span", { class: "what" }, KIND_TEXT[kind]), " ", link(e.invocation_id)];
    case "SetState":
      return [h("span", { class: "what" }, `Set state “${e.name}”`), value(e)];
    default: {
      const label = KIND_TEXT[kind] || kind;
      return h("span", { class: "what" }, e.name ? `${label} “${e.name}”` : label);
    }
  }
}

function timeline(d) {
  if (!d.journal.length)
    return emptyState(
      "The journal is empty (it is kept for the journal retention after completion).",
    );
  const commands = new Map();
  for (const e of d.journal)
    if (e.entry_type.startsWith("Command")) commands.set(e.command_index, e);
  const completedAt = new Map();
  for (const e of d.journal) {
    if (e.entry_type === "Notification: Completion" && !completedAt.has(e.command_index))
      completedAt.set(e.command_index, e.index);
  }
  const done = d.status === "completed";
  return h(
    "ol",
    { class: "timeline", "aria-label": "Journal" },
    d.journal.map((e) => {
      const [group, kind] = e.entry_type.split(": ", 2);
      let body;
      let cls = "command";
      if (group === "Command") {
        body = commandBody(kind, e, completedAt.has(e.command_index));
        if (e.pending)
          body = [body, " ", done ? badge("never completed", "warn") : badge("waiting", "wait")];
      } else if (kind === "Completion") {
        cls = "notification";
        const cmd = commands.get(e.command_index);
        const what = cmd ? cmd.entry_type.replace("Command: ", "") : "command";
        body = [
          h(
            "span",
            { class: "what" },
            `↳ result of #${e.command_index} ${KIND_TEXT[what] || what}`,
          ),
          " ",
          outcome(e),
        ];
      } else if (kind === "Cancel") {
        cls = "notification cancel";
        body = h(
          "span",
          { class: "what" },
          "Cancel signal: the handler sees TerminalError 409 “cancelled”",
        );
      } else {
        cls = "broken";
        body = h("span", { class: "failure" }, e.entry_type);
      }
      return h(
        "li",
        { class: `entry ${cls}`, dataset: { kind: kind || group } },
        h("span", { class: "index mono", title: `journal index ${e.index}` }, `${e.index}`),
        h(
          "span",
          { class: "cmd mono muted", title: "command index" },
          group === "Command" ? `#${e.command_index}` : "",
        ),
        h("div", { class: "body" }, body),
      );
    }),
  );
}

// Which statuses each action applies to (the admin API refuses the others).
const PAUSABLE = new Set(["running", "suspended", "backing-off"]);
const RESUMABLE = new Set(["paused", "suspended", "backing-off"]);

function actions(ctx, d, refresh, restarted) {
  const act = async (verb, text, method, after) => {
    if (!(await confirmAction(`${verb} this invocation?`, text, `${verb} invocation`))) return;
    try {
      const r = await api.patch(`/invocations/${seg(d.id)}/${method}`);
      notice(`${verb}: ${r.status === 202 ? "requested" : "done"}`);
      if (after) after(r);
    } catch (e) {
      showError(e);
    }
    await refresh();
  };
  const button = (cls, name, onclick) => h("button", { type: "button", class: cls, onclick }, name);
  const done = d.status === "completed";
  return h(
    "div",
    { class: "actions" },
    PAUSABLE.has(d.status)
      ? button("secondary", "Pause", () =>
          act(
            "Pause",
            "Its attempt stops and no other runs until it is resumed; an object's exclusive handler keeps its key locked meanwhile.",
            "pause",
          ),
        )
      : null,
    RESUMABLE.has(d.status)
      ? button("secondary", "Resume", () =>
          act(
            "Resume",
            "A new attempt starts now and replays the journal (ctx.run results are not run again).",
            "resume",
          ),
        )
      : null,
    !done
      ? button("warn", "Cancel", () =>
          act(
            "Cancel",
            "The handler gets TerminalError 409 “cancelled” at its next await and may compensate; callees are cancelled too.",
            "cancel",
          ),
        )
      : null,
    !done
      ? button("danger", "Kill", () =>
          act(
            "Kill",
            "It completes at once with 409 “killed”: no compensation runs; callees are killed too.",
            "kill",
          ),
        )
      : null,
    done && d.target_kind !== "workflow"
      ? button("secondary", "Restart as new", () =>
          act(
            "Restart",
            "A new invocation starts with the same target, headers and input; this one is left as it is.",
            "restart-as-new",
            (r) =>
              fill(
                restarted,
                h(
                  "p",
                  { class: "restarted" },
                  "Restarted as ",
                  link(r.data.new_invocation_id),
                ),
              ),
          ),
        )
      : null,
    done
      ? button("danger", "Purge", () =>
          act("Purge", "Its status, result and journal are deleted for good.", "purge"),
        )
      : null,
  );
}

/** The last failed attempt's stack trace, collapsed. */
function stacktrace(d) {
  if (!d.last_failure_stacktrace) return null;
  return h(
    "details",
    { class: "stacktrace" },
    h("summary", {}, "Stack trace of the last failure"),
    h("pre", { class: "code" }, d.last_failure_stacktrace),
  );
}

export async function render(ctx) {
  const id = ctx.params[0];
  const head = h("div");
  const restarted = h("div", { "aria-live": "polite" });
  const body = h("div");
  fill(
    ctx.main,
    h("p", { class: "crumbs" }, h("a", { href: "#/invocations" }, "Invocations"), " / "),
    h("h1", { class: "mono id" }, id),
    restarted,
    head,
    body,
  );
  let last = null;
  const refresh = async () => {
    let d;
    try {
      d = await api.get(`/invocations/${seg(id)}?journal=true`);
    } catch (e) {
      if (e.status === 404) {
        fill(
          head,
          emptyState("No such invocation: it never existed, was purged, or its retention passed."),
        );
        body.replaceChildren();
        last = "gone";
        return;
      }
      throw e;
    }
    if (!ctx.current()) return;
    last = d.status;
    const key = d.target_service_key;
    fill(
      head,
      h(
        "p",
        { class: "headline" },
        h("strong", {}, d.target),
        " ",
        badge(d.status, undefined),
        d.completion_result ? [" ", badge(d.completion_result)] : null,
        d.cancel_requested && d.status !== "completed"
          ? [" ", badge("cancel requested", "warn")]
          : null,
      ),
      actions(ctx, d, refresh, restarted),
      facts([
        [
          "Service",
          h("a", { href: `#/services/${seg(d.target_service_name)}` }, d.target_service_name),
        ],
        ["Handler", `${d.target_handler_name} (${d.target_kind})`],
        [
          "Key",
          key !== null
            ? h("a", { href: `#/state?service=${seg(d.target_service_name)}&key=${seg(key)}` }, key)
            : null,
        ],
        ["Invoked by", d.invoked_by_id ? [d.invoked_by, " ", link(d.invoked_by_id)] : d.invoked_by],
        ["Restarts", d.restarted_from ? link(d.restarted_from) : null],
        ["Idempotency key", d.idempotency_key],
        ["Created", relTime(d.created_at)],
        ["Modified", relTime(d.modified_at)],
        ["Scheduled start", d.scheduled_start_at ? relTime(d.scheduled_start_at) : null],
        ["Completed", d.completed_at ? relTime(d.completed_at) : null],
        [
          "Result",
          d.completion_failure
            ? [badge("failure", "bad"), ` [${d.completion_failure_code}] ${d.completion_failure}`]
            : null,
        ],
      ]),
      h("h2", {}, "Attempts"),
      facts([
        ["Attempt", String(d.attempt)],
        ["Retries", String(d.retry_count)],
        ["Next retry", d.next_retry_at ? relTime(d.next_retry_at) : null],
        [
          "Last failure",
          d.last_failure
            ? h("span", { class: "failure" }, `[${d.last_failure_error_code}] ${d.last_failure}`)
            : null,
        ],
        [
          "Failed at",
          d.last_failure_related_command_index !== null &&
          d.last_failure_related_command_index !== undefined
            ? `command #${d.last_failure_related_command_index}${
                d.last_failure_related_command_name
                  ? ` “${d.last_failure_related_command_name}”`
                  : ""
              }`
            : null,
        ],
      ]),
      stacktrace(d),
      h(
        "p",
        { class: "muted small" },
        "Retries keep the journal: a failed attempt leaves no entry, only the last failure above.",
      ),
    );
    fill(body, h("h2", {}, `Journal (${d.journal.length} entries)`), timeline(d));
  };
  await ctx.poll(async () => {
    if (last === "completed" || last === "gone") return;
    await refresh();
  }, REFRESH_MS);
}

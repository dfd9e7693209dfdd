// The UI's router: hash routes (#/invocations/inv_…) to views, and the polling of live views.

import { api } from "./api.js";
import { clearError, fill, h, showError } from "./dom.js";
import * as cron from "./views/cron.js";
import * as invocation from "./views/invocation.js";
import * as invocations from "./views/invocations.js";
import * as overview from "./views/overview.js";
import * as services from "./views/services.js";
import * as state from "./views/state.js";
import * as subscriptions from "./views/subscriptions.js";

const ROUTES = [
  [/^\/?$/, overview, "overview"],
  [/^\/services\/?$/, services, "services"],
  [/^\/services\/(.+)$/, services, "services"],
  [/^\/invocations\/?$/, invocations, "invocations"],
  [/^\/invocations\/(.+)$/, invocation, "invocations"],
  [/^\/state\/?$/, state, "state"],
  [/^\/subscriptions\/?$/, subscriptions, "subscriptions"],
  [/^\/cron\/?$/, cron, "cron"],
];

let generation = 0;

/** A route part, percent-decoded (left as typed when it is not valid percent-encoding). */
function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The current route: path, its captured parts and the query after `?`. */
function parse() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, q = ""] = raw.split("?", 2);
  return { path, query: Object.fromEntries(new URLSearchParams(q)) };
}

/** Navigate within the UI (keeps the browser history). */
export function go(path, query = {}) {
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v != null));
  const s = q.toString();
  location.hash = `#${path}${s ? `?${s}` : ""}`;
}

async function route() {
  const mine = ++generation;
  const { path, query } = parse();
  const main = document.getElementById("view");
  clearError();
  let match = null;
  for (const [re, view, nav] of ROUTES) {
    const m = path.match(re);
    if (m) {
      match = { view, nav, params: m.slice(1).map(decode) };
      break;
    }
  }
  for (const a of document.querySelectorAll(".nav a[data-route]")) {
    if (match && a.dataset.route === match.nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!match) {
    fill(main, h("h1", {}, "Not found"), h("p", {}, `No page at ${path}.`));
    return;
  }
  const ctx = {
    main,
    params: match.params,
    query,
    current: () => mine === generation,
    /** Run fn now and every ms while this page is shown (skipped while the tab is hidden). */
    poll(fn, ms) {
      const tick = async () => {
        if (mine !== generation) return;
        if (!document.hidden) {
          try {
            await fn();
          } catch (e) {
            if (mine === generation) showError(e);
          }
        }
        if (mine === generation) setTimeout(tick, ms);
      };
      return tick();
    },
  };
  try {
    await match.view.render(ctx);
  } catch (e) {
    if (mine === generation) showError(e);
  }
}

window.addEventListener("hashchange", route);
route();
api
  .get("/version")
  .then((v) => (document.getElementById("version").textContent = ` · rt ${v.version}`))
  .catch(() => {});

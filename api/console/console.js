// Kiln's operator console: one page over the public API, no build step and
// no library. Operators and admins sign in with their Kiln account; the
// tokens live in sessionStorage (gone with the tab, never in a cookie). Every
// value from the API goes into the page as text, never as markup.

const STORE = "kiln.console.tokens";
const REFRESH_MS = 5000;
const STAFF = ["operator", "admin"];

let tokens = JSON.parse(sessionStorage.getItem(STORE) || "null");
let timer = null;

// --- DOM helpers ------------------------------------------------------------

/** An element with attributes (`on*` are listeners) and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);

function status(text, error = false) {
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("error", error);
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString();
}

function ago(ms) {
  if (!ms) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** A sparkline of the last hour's per-minute counts: succeeded, and failed when any. */
function sparkline(succeeded, failed) {
  const ns = "http://www.w3.org/2000/svg";
  const w = 120;
  const hgt = 28;
  const max = Math.max(1, ...succeeded, ...failed);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  const total = (xs) => xs.reduce((a, b) => a + b, 0);
  svg.setAttribute("aria-label", `last hour: ${total(succeeded)} succeeded, ${total(failed)} failed`);
  const title = document.createElementNS(ns, "title");
  title.textContent = `last hour: ${total(succeeded)} succeeded, ${total(failed)} failed`;
  svg.append(title);
  const step = w / Math.max(1, succeeded.length - 1);
  const line = (xs, cls) => {
    const points = xs.map((v, i) => `${(i * step).toFixed(1)},${(hgt - 1 - (v / max) * (hgt - 2)).toFixed(1)}`);
    const p = document.createElementNS(ns, "polyline");
    p.setAttribute("points", points.join(" "));
    p.setAttribute("class", cls);
    svg.append(p);
  };
  line(succeeded, "ok");
  // Failures on the same scale, drawn only when there were some.
  if (total(failed) > 0) line(failed, "bad");
  return svg;
}

function table(headers, rows, empty = "Nothing here.") {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "scroll" },
    h("table", {}, h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows)),
  );
}

// --- the API ----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

async function refreshTokens() {
  const resp = await fetch("/v1/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: tokens.refresh_token }),
  });
  if (!resp.ok) return false;
  save(await resp.json());
  return true;
}

async function api(method, path, body, retried = false) {
  const headers = { accept: "application/json" };
  if (tokens) headers.authorization = `Bearer ${tokens.access_token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 401 && tokens && !retried && (await refreshTokens())) {
    return api(method, path, body, true);
  }
  if (resp.status === 401) {
    signOut("Your session ended; sign in again.");
    throw new ApiError(401, { message: "signed out" });
  }
  const text = await resp.text();
  const json = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new ApiError(resp.status, json);
  return json;
}

/** Runs `action` (a button's), reporting its outcome, then refreshes the page. */
async function act(label, action, question) {
  if (question && !window.confirm(question)) return;
  try {
    const out = await action();
    status(`${label}: done${out && typeof out === "object" && "deleted" in out ? ` (${out.deleted} deleted)` : ""}`);
  } catch (e) {
    status(`${label}: ${e.message}`, true);
  }
  await load();
}

// --- sign in ----------------------------------------------------------------

function save(t) {
  tokens = { access_token: t.access_token, refresh_token: t.refresh_token, user: t.user ?? tokens?.user };
  sessionStorage.setItem(STORE, JSON.stringify(tokens));
}

function signOut(message = "") {
  if (tokens?.refresh_token) {
    fetch("/v1/auth/logout", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: tokens.refresh_token }),
    }).catch(() => {});
  }
  tokens = null;
  sessionStorage.removeItem(STORE);
  show();
  $("#signin-error").textContent = message;
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const err = $("#signin-error");
  err.textContent = "";
  const resp = await fetch("/v1/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: form.email.value, password: form.password.value }),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    err.textContent = body.message || `Sign-in failed (HTTP ${resp.status}).`;
    return;
  }
  if (!STAFF.includes(body.user?.role)) {
    // Not kept: a user or moderator token never reaches the page's storage.
    fetch("/v1/auth/logout", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: body.refresh_token }),
    }).catch(() => {});
    err.textContent = "This console is for operators and administrators.";
    return;
  }
  form.reset();
  save(body);
  show();
}

// --- pages ------------------------------------------------------------------

const QUEUES = ["media", "notifications", "webhooks", "reports", "backups"];

const pages = {
  async queues(el) {
    const data = await api("GET", "/v1/queues");
    const rows = data.queues.map((q) =>
      h(
        "tr",
        { dataset: { queue: q.name } },
        h("th", { scope: "row" }, q.name),
        h("td", { class: "num", dataset: { col: "ready" } }, q.ready),
        h("td", { class: "num", dataset: { col: "delayed" } }, q.delayed),
        h("td", { class: "num", dataset: { col: "in_flight" } }, q.in_flight),
        h("td", { class: "num", dataset: { col: "dead" } }, q.dead),
        h("td", { class: "num" }, ago(q.oldest_ready_ms)),
        h("td", { dataset: { col: "throughput", total: q.succeeded_per_minute.reduce((a, b) => a + b, 0) } }, sparkline(q.succeeded_per_minute, q.failed_per_minute)),
        h(
          "td",
          { dataset: { col: "state" } },
          q.paused ? h("span", { class: "badge paused", title: `since ${when(q.paused_at)} by ${q.paused_by}` }, "paused") : h("span", { class: "badge" }, "running"),
        ),
        h(
          "td",
          {},
          q.paused
            ? h("button", { type: "button", onclick: () => act(`Resume ${q.name}`, () => api("POST", `/v1/queues/${q.name}/resume`)) }, "Resume")
            : h("button", { type: "button", onclick: () => act(`Pause ${q.name}`, () => api("POST", `/v1/queues/${q.name}/pause`)) }, "Pause"),
        ),
      ),
    );
    el.replaceChildren(
      h("h1", {}, "Queues"),
      h("p", { class: "hint" }, `Transport: ${data.transport}. Pausing a queue lets running jobs finish and starts nothing new; enqueueing goes on.`),
      table(["Queue", "Ready", "Delayed", "Running", "Dead", "Oldest ready", "Last hour", "State", ""], rows),
    );
  },

  async jobs(el, params) {
    if (params.get("id")) return pages.job(el, params.get("id"));
    const query = new URLSearchParams();
    for (const k of ["queue", "status", "kind", "q"]) if (params.get(k)) query.set(k, params.get(k));
    query.set("limit", "50");
    const page = await api("GET", `/v1/jobs?${query}`);
    const select = (name, options) =>
      h("select", { name }, h("option", { value: "" }, `any ${name}`), options.map((o) => h("option", { value: o, selected: params.get(name) === o }, o)));
    const filters = h(
      "form",
      {
        class: "filters",
        onsubmit: (e) => {
          e.preventDefault();
          const f = new URLSearchParams(new FormData(e.target));
          for (const [k, v] of [...f]) if (!v) f.delete(k);
          location.hash = `#/jobs?${f}`;
        },
      },
      select("queue", QUEUES),
      select("status", ["queued", "running", "succeeded", "failed", "dead", "cancelled"]),
      h("input", { name: "kind", placeholder: "kind, e.g. image.process", value: params.get("kind") || "" }),
      h("input", { name: "q", placeholder: "job id or idempotency key", value: params.get("q") || "" }),
      h("button", { type: "submit" }, "Filter"),
    );
    const rows = page.items.map((j) =>
      h(
        "tr",
        { dataset: { job: j.id } },
        h("td", {}, h("a", { href: `#/jobs?id=${j.id}` }, j.id.slice(0, 8) + "…")),
        h("td", {}, j.kind),
        h("td", {}, j.queue),
        h("td", {}, h("span", { class: `badge ${j.status}` }, j.status)),
        h("td", { class: "num" }, `${j.attempts}/${j.max_attempts}`),
        h("td", {}, when(j.created_at)),
        h("td", { class: "error-text" }, j.last_error || ""),
      ),
    );
    // The filter form is kept while the list refreshes, so typing is not lost.
    const keep = el.querySelector("form.filters");
    el.replaceChildren(h("h1", {}, "Jobs"), keep && document.activeElement && keep.contains(document.activeElement) ? keep : filters, table(["Job", "Kind", "Queue", "Status", "Attempts", "Created", "Last error"], rows, "No job matches."));
  },

  async job(el, id) {
    const j = await api("GET", `/v1/jobs/${id}`);
    const buttons = [];
    if (["failed", "dead"].includes(j.status)) buttons.push(h("button", { type: "button", onclick: () => act("Retry", () => api("POST", `/v1/jobs/${id}/retry`)) }, "Retry"));
    if (["queued", "running"].includes(j.status)) buttons.push(h("button", { type: "button", onclick: () => act("Cancel", () => api("POST", `/v1/jobs/${id}/cancel`), "Cancel this job?") }, "Cancel"));
    if (["succeeded", "failed", "dead", "cancelled"].includes(j.status))
      buttons.push(
        h(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: () =>
              act(
                "Delete",
                async () => {
                  await api("DELETE", `/v1/jobs/${id}`);
                  location.hash = "#/jobs";
                },
                "Delete this job's ledger row? This cannot be undone.",
              ),
          },
          "Delete",
        ),
      );
    const field = (k, v) => [h("dt", {}, k), h("dd", {}, v ?? "—")];
    const attempts = j.attempt_history.map((a) =>
      h("tr", {}, h("td", { class: "num" }, a.attempt), h("td", {}, a.outcome), h("td", {}, when(a.started_at)), h("td", {}, when(a.finished_at)), h("td", { class: "error-text" }, a.error || "")),
    );
    el.replaceChildren(
      h("p", {}, h("a", { href: "#/jobs" }, "← Jobs")),
      h("h1", {}, `${j.kind} `, h("span", { class: `badge ${j.status}`, dataset: { col: "status" } }, j.status)),
      h("div", { class: "actions" }, buttons),
      h(
        "dl",
        {},
        field("Id", j.id),
        field("Queue", j.queue),
        field("Attempts", `${j.attempts} of ${j.max_attempts}`),
        field("Progress", `${j.progress}%`),
        field("Created", when(j.created_at)),
        field("Started", when(j.started_at)),
        field("Finished", when(j.finished_at)),
        field("Next run", when(j.next_run_at)),
        field("Idempotency key", j.idempotency_key),
        field("Last error", j.last_error),
      ),
      h("h2", {}, "Attempts"),
      table(["#", "Outcome", "Started", "Ended", "Error"], attempts, "Not run yet."),
      h("h2", {}, "Payload"),
      h("pre", { dataset: { col: "payload" } }, JSON.stringify(j.payload, null, 2)),
      h("h2", {}, "Result"),
      h("pre", {}, j.result === null ? "—" : JSON.stringify(j.result, null, 2)),
    );
  },

  async dead(el, params) {
    const queue = params.get("queue") || "webhooks";
    const page = await api("GET", `/v1/queues/${queue}/dead?limit=100`);
    const picker = h(
      "select",
      { name: "queue", onchange: (e) => (location.hash = `#/dead?queue=${e.target.value}`) },
      QUEUES.map((q) => h("option", { value: q, selected: q === queue }, q)),
    );
    const rows = page.items.map((j) =>
      h(
        "tr",
        { dataset: { job: j.id } },
        h("td", {}, h("a", { href: `#/jobs?id=${j.id}` }, j.id.slice(0, 8) + "…")),
        h("td", {}, j.kind),
        h("td", { class: "num" }, j.attempts),
        h("td", {}, when(j.finished_at)),
        h("td", { class: "error-text" }, j.last_error || ""),
        h("td", {}, h("button", { type: "button", onclick: () => act("Retry", () => api("POST", `/v1/jobs/${j.id}/retry`)) }, "Retry")),
      ),
    );
    const bulk = page.items.length
      ? h(
          "div",
          { class: "actions" },
          h("button", { type: "button", onclick: () => act("Retry all", () => api("POST", `/v1/queues/${queue}/dead/retry`), `Retry every dead job of ${queue}?`) }, "Retry all"),
          h("button", { type: "button", class: "danger", onclick: () => act("Purge", () => api("DELETE", `/v1/queues/${queue}/dead`), `Delete every dead job of ${queue}? This cannot be undone.`) }, "Purge all"),
        )
      : null;
    el.replaceChildren(h("h1", {}, "Dead jobs"), h("label", { class: "filters" }, "Queue ", picker), bulk, table(["Job", "Kind", "Attempts", "Died", "Last error", ""], rows, `No dead jobs on ${queue}.`));
  },

  async workers(el) {
    const data = await api("GET", "/v1/workers");
    const rows = data.workers.map((w) =>
      h("tr", { dataset: { worker: w.id } }, h("td", {}, w.host), h("td", { class: "num" }, w.pid), h("td", {}, w.version), h("td", {}, w.queues.join(", ")), h("td", { class: "num" }, `${w.in_flight}/${w.concurrency}`), h("td", {}, when(w.started_at)), h("td", {}, when(w.heartbeat_at))),
    );
    el.replaceChildren(h("h1", {}, "Workers"), table(["Host", "Pid", "Version", "Queues", "Running", "Started", "Last heartbeat"], rows, "No live worker."));
  },

  async backups(el) {
    const [page, schedules] = await Promise.all([api("GET", "/v1/backups?limit=50"), api("GET", "/v1/backup-schedules")]);
    const scheduleRows = schedules.items.map((s) =>
      h(
        "tr",
        { dataset: { schedule: s.id } },
        h("th", { scope: "row" }, s.name),
        h("td", {}, `${s.cron} (${s.timezone})`),
        h("td", {}, s.enabled ? "enabled" : "disabled"),
        h("td", {}, `${s.keep_daily} daily, ${s.keep_weekly} weekly, ${s.keep_monthly} monthly`),
        h("td", {}, when(s.next_run_at)),
        h("td", {}, when(s.last_tick_at)),
      ),
    );
    const size = (b) => (b.size_bytes ? `${(b.size_bytes / 1048576).toFixed(1)} MiB` : "");
    const rows = page.items.map((b) =>
      h(
        "tr",
        { dataset: { backup: b.id } },
        h("td", {}, when(b.created_at)),
        h("td", {}, h("span", { class: `badge ${b.status}` }, b.status)),
        h("td", {}, b.trigger),
        h("td", { class: "num" }, size(b)),
        h("td", {}, b.verify_status),
        h("td", { class: "error-text" }, b.error || b.verify_error || ""),
      ),
    );
    el.replaceChildren(
      h("h1", {}, "Backups"),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => act("Backup", () => api("POST", "/v1/backups", {}), "Start a backup now?") }, "Run a backup now")),
      table(["Created", "Status", "Trigger", "Size", "Verified", "Error"], rows, "No backup yet."),
      h("h2", {}, "Schedules"),
      table(["Name", "When", "State", "Keeps", "Next run", "Last run"], scheduleRows, "No schedule: backups run only when asked for."),
    );
  },
};

// --- routing and refresh ----------------------------------------------------

function route() {
  const [path, query] = (location.hash.slice(2) || "queues").split("?");
  return { name: pages[path] && path !== "job" ? path : "queues", params: new URLSearchParams(query || "") };
}

async function load() {
  if (!tokens) return;
  const { name, params } = route();
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("current", a.dataset.page === name);
  const el = $("#page");
  el.dataset.page = name;
  try {
    await pages[name](el, params);
    el.dataset.loadedAt = String(Date.now());
  } catch (e) {
    if (e.status !== 401) status(`Could not load ${name}: ${e.message}`, true);
  }
}

function show() {
  const signedIn = Boolean(tokens);
  $("#signin").hidden = signedIn;
  $("#nav").hidden = !signedIn;
  $("#signout").hidden = !signedIn;
  $("#who").textContent = signedIn ? `${tokens.user?.email ?? ""} (${tokens.user?.role ?? ""})` : "";
  $("#page").replaceChildren();
  clearInterval(timer);
  if (signedIn) {
    load();
    timer = setInterval(() => {
      if (!document.hidden) load();
    }, REFRESH_MS);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", () => {
    status("");
    load();
  });
  show();
});

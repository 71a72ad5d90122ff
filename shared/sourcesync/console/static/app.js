// SourceSync console: talks only to this deployment's documented HTTP API (/v1), with the key kept in
// sessionStorage. Every value from the API is written with textContent (never as HTML).
"use strict";

const KEY = "sourcesync.apiKey";
const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);
let pollTimer = null;
let pollGeneration = 0; // bumped whenever polling stops, so a request still in flight does not restart it

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body, key) {
  const headers = { Authorization: "Bearer " + (key || sessionStorage.getItem(KEY) || "") };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let answer;
  try {
    answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "unreachable", "The API could not be reached.");
  }
  const text = await answer.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!answer.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(answer.status, error.code || "http_" + answer.status,
      error.message || (data && data.message) || "The API answered " + answer.status + ".");
  }
  return data;
}

// ---- tiny DOM helpers
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");
const money = (cents, currency) => ((cents || 0) / 100).toLocaleString(undefined, { style: "currency", currency: (currency || "USD").toUpperCase() });
const errorLine = (error) => el("p", { class: "error", role: "alert", text: "Error: " + error.message });

function view(title, ...children) {
  stopPolling();
  const section = $("view");
  section.replaceChildren(el("h1", { id: "view-title", text: title }), ...children);
  section.setAttribute("aria-labelledby", "view-title");
  return section;
}
function stopPolling() { pollGeneration += 1; if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; } }

// ---- sign in / out
function showSignIn(message) {
  stopPolling();
  $("nav").hidden = true; $("view").hidden = true; $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("api-key").value = "";
  $("api-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  $("sign-in-error").textContent = "";
  if (!key) { $("sign-in-error").textContent = "Enter an API key."; return; }
  try {
    await api("GET", "/v1/data_sources?per_page=1", undefined, key);
  } catch (e) {
    $("sign-in-error").textContent = e.status === 401
      ? "Sign-in failed: this API key was not accepted. Check the key and try again."
      : e.status === 403 ? "Sign-in failed: this key may not use the console (a support key)." : "Sign-in failed: " + e.message;
    $("api-key").value = "";
    return;
  }
  sessionStorage.setItem(KEY, key);
  $("api-key").value = "";
  if (!location.hash || location.hash === "#/") location.hash = "#/sources"; else route();
}

function signOut() { sessionStorage.removeItem(KEY); location.hash = "#/"; showSignIn("Signed out."); }

// ---- router
async function route() {
  if (!sessionStorage.getItem(KEY)) { showSignIn(); return; }
  $("sign-in").hidden = true; $("nav").hidden = false; $("view").hidden = false;
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "sources" && parts[1]) await sourcePanel(parts[1]);
    else if (parts[0] === "customers" && parts[1]) await customerPage(parts[1]);
    else if (parts[0] === "new") newSource();
    else await sourcesList();
  } catch (e) {
    if (e.status === 401) { sessionStorage.removeItem(KEY); showSignIn("Your API key is no longer accepted. Sign in again."); return; }
    view("Something went wrong", errorLine(e));
  }
  $("view-title") && $("view-title").focus();
}

// ---- Settings & Data > Sources
async function sourcesList() {
  const sources = [];
  let cursor = null;
  do {
    const page = await api("GET", "/v1/data_sources?per_page=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    sources.push(...page.entries);
    cursor = page.has_more ? page.cursor : null;
  } while (cursor);
  const rows = sources.map((s) => el("tr", { "data-source": s.uuid },
    el("th", { scope: "row" }, s.name),
    el("td", {}, s.system),
    el("td", {}, el("span", { class: "badge" }, s.status)),
    el("td", {}, when(s.last_synced_at)),
    el("td", {}, countsText(s.counts)),
    el("td", {}, s.schedule || "off"),
    el("td", {}, el("button", { type: "button", class: "icon", "aria-label": "Settings", title: "Settings",
      onclick: () => { location.hash = "#/sources/" + encodeURIComponent(s.uuid); } }, "\u2699"))));
  view("Settings & Data > Sources",
    sources.length ? el("table", { "aria-label": "Sources" },
      el("thead", {}, el("tr", {}, ["Name", "System", "Status", "Last sync", "Records", "Schedule", "Settings"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows))
      : el("p", { text: "No sources yet." }),
    el("p", {}, el("a", { href: "#/new" }, "Add a source")));
}

function countsText(counts) {
  return Object.entries(counts || {}).map(([kind, n]) => n + " " + kind).join(", ") || "none";
}

// ---- one source's settings panel
async function sourcePanel(uuid) {
  const source = await api("GET", "/v1/data_sources/" + encodeURIComponent(uuid));
  const resync = el("section", { class: "panel", "aria-labelledby": "resync-title" }, el("h2", { id: "resync-title", text: "Re-Sync Data" }));
  if (source.resync_supported === false) {
    resync.append(el("p", { text: "This source cannot be re-synced: " + (source.system === "custom"
      ? "its data comes from the Import API, not from a provider SourceSync can fetch again."
      : "its system does not support re-syncing.") }),
    el("p", { text: "To refresh its data instead, delete this source and import its data again, or ask support to reprocess it (which rebuilds its subscriptions and counts from the stored records)." }));
  } else {
    resync.append(el("p", { class: "muted", text: "Erases this source's data and imports it again from " + source.system + ". The current data stays visible until the new data is complete." }),
      el("button", { type: "button", id: "resync", disabled: Boolean(source.current_job), onclick: () => resyncPreview(source, resync) }, "Re-Sync Data"));
  }
  const remove = el("section", { class: "panel", "aria-labelledby": "delete-title" },
    el("h2", { id: "delete-title", text: "Delete This Source" }),
    el("p", { class: "muted", text: "Removes the source, all its data and its credentials." }),
    el("button", { type: "button", class: "danger", onclick: () => deletePreview(source, remove) }, "Delete This Source"));
  const section = view(source.name + " \u2014 Settings",
    el("p", {}, el("a", { href: "#/sources" }, "\u2190 Back to Sources")),
    el("p", {}, "System: ", el("strong", {}, source.system), " \u00b7 Status: ", el("span", { class: "badge" }, source.status),
      " \u00b7 Last sync: " + when(source.last_synced_at)),
    el("p", { text: "Records: " + countsText(source.counts) }),
    resync, remove, scheduleSection(source), el("section", { id: "jobs", class: "panel", "aria-labelledby": "jobs-title" }, el("h2", { id: "jobs-title", text: "Jobs" })),
    el("section", { id: "customers", class: "panel", "aria-labelledby": "customers-title" }, el("h2", { id: "customers-title", text: "Customers" })));
  if (source.current_job && source.status !== "deleting") {
    const job = source.current_job;
    resync.append(el("p", { text: "A " + job.kind + " job is running." }));
    watchJob(job.id, resync, () => sourcePanel(uuid));
  }
  await Promise.all([listJobs(source, section.querySelector("#jobs")), listCustomers(source, section.querySelector("#customers"))]);
}

async function resyncPreview(source, box) {
  const out = el("div", { id: "resync-preview", role: "region", "aria-label": "Re-sync preview" }, el("p", { text: "Checking what the re-sync will remove\u2026" }));
  box.querySelector("#resync-preview")?.remove();
  box.append(out);
  try {
    const preview = await api("POST", "/v1/data_sources/" + encodeURIComponent(source.uuid) + "/resync?dry_run=true");
    const removed = preview.overlays_removed || [];
    out.replaceChildren(
      el("h3", { text: removed.length ? "Manual data this re-sync will remove (" + removed.length + ")" : "This re-sync removes no manual data." }),
      ...(removed.length ? [el("ul", { "aria-label": "Manual data to remove" }, removed.map((o) => el("li", {}, overlayText(o))))] : []),
      el("button", { type: "button", onclick: (e) => { e.target.disabled = true; startResync(source, box, out); } }, "Start re-sync"),
      el("button", { type: "button", class: "secondary", onclick: () => out.remove() }, "Cancel"));
    out.querySelector("button").focus();
  } catch (e) { out.replaceChildren(errorLine(e)); }
}

async function startResync(source, box, out) {
  try {
    const job = await api("POST", "/v1/data_sources/" + encodeURIComponent(source.uuid) + "/resync");
    const again = box.querySelector("#resync");
    if (again) again.disabled = true;
    out.replaceChildren();
    watchJob(job.id, out, () => { if (again) again.disabled = false; listJobs(source, document.getElementById("jobs")); });
  } catch (e) { out.replaceChildren(errorLine(e)); }
}

function overlayText(o) {
  const name = { merges: "Customer merge", connected_subscriptions: "Connected subscriptions", mrr_edits: "MRR edit" }[o.kind] || o.kind;
  const refs = [];
  if (o.kind === "merges" && o.from && o.into) {
    refs.push((o.from.external_id || o.from.customer_uuid) + " into " + (o.into.external_id || o.into.customer_uuid));
  }
  if (o.subscriptions) refs.push(o.subscriptions.map((s) => s.external_id || s.uuid).join(" + "));
  if (o.subscription) refs.push((o.subscription.external_id || o.subscription.uuid) + ": " + money(o.mrr) + " from " + o.from + (o.to ? " to " + o.to : ""));
  return name + (refs.length ? " (" + refs.join(", ") + ")" : "") + " \u2014 " + o.id;
}

// ---- a job's live progress: one bar overall, one per kind, the phase, the ETA, what it waits for
function watchJob(jobId, box, onDone) {
  const status = el("p", { role: "status", "aria-live": "polite", class: "job-status" });
  const bars = el("div", { class: "bars" });
  const area = el("div", { class: "job", "data-job": jobId }, el("h3", { text: "Progress" }), status, bars);
  box.append(area);
  let generation = 0;
  const tick = async () => {
    let job;
    try { job = await api("GET", "/v1/jobs/" + encodeURIComponent(jobId)); } catch (e) {
      if (generation !== pollGeneration) return;
      status.textContent = "Error: " + e.message; pollTimer = setTimeout(tick, POLL_MS * 3); return;
    }
    if (generation !== pollGeneration) return;
    renderJob(job, status, bars);
    if (["succeeded", "failed", "cancelled"].includes(job.status)) { pollTimer = null; if (onDone) onDone(job); return; }
    pollTimer = setTimeout(tick, POLL_MS);
  };
  stopPolling();
  generation = pollGeneration;
  tick();
}

function bar(label, percent, detail) {
  const fill = el("div", { class: "fill" });
  fill.style.width = Math.max(0, Math.min(100, percent)) + "%";
  return el("div", { class: "progress" }, el("span", { text: label }),
    el("div", { class: "track", role: "progressbar", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(percent) }, fill),
    el("span", { text: detail }));
}

function renderJob(job, status, bars) {
  const p = job.progress || {};
  const parts = [job.kind + ": " + job.status];
  if (job.phase) parts.push("phase " + job.phase);
  if (p.eta_seconds !== null && p.eta_seconds !== undefined && job.status === "running") parts.push("about " + Math.ceil(p.eta_seconds) + " s left");
  if (job.waiting_for) parts.push("waiting for " + job.waiting_for.reason + (job.waiting_for.until ? " (until " + when(job.waiting_for.until) + ")" : ""));
  if (job.cleanup) parts.push("cleanup " + (typeof job.cleanup === "string" ? job.cleanup : job.cleanup.status || job.cleanup.phase || ""));
  status.className = "job-status" + (job.status === "failed" ? " error" : job.status === "succeeded" ? " ok" : "");
  if (job.status === "failed") parts.push("\u2014 " + ((job.error && job.error.message) || "no message") + ". The previous data is unchanged.");
  if (job.status === "succeeded") parts.push("\u2014 done");
  status.textContent = parts.join(" \u00b7 ");
  const rows = [bar("Overall", p.percent || 0, (p.percent || 0) + "%")];
  for (const [kind, k] of Object.entries(p.kinds || {})) {
    const pct = k.total ? Math.floor((100 * k.done) / k.total) : (job.status === "succeeded" ? 100 : 0);
    rows.push(bar(kind, pct, k.done + " / " + (k.estimated ? "~" : "") + k.total));
  }
  bars.replaceChildren(...rows);
}

// ---- delete: impact, type the name, Delete
async function deletePreview(source, box) {
  box.querySelector("#delete-confirm")?.remove();
  const out = el("div", { id: "delete-confirm" }, el("p", { text: "Checking what will be deleted\u2026" }));
  box.append(out);
  try {
    const impact = await api("DELETE", "/v1/data_sources/" + encodeURIComponent(source.uuid) + "?dry_run=true");
    const affected = impact.overlays_affected || [];
    const input = el("input", { id: "confirm-name", type: "text", autocomplete: "off", spellcheck: "false" });
    const button = el("button", { type: "submit", class: "danger", disabled: true }, "Delete");
    input.addEventListener("input", () => { button.disabled = input.value !== source.name; });
    const form = el("form", { onsubmit: async (e) => {
      e.preventDefault();
      if (input.value !== source.name) return;
      button.disabled = true;
      try {
        const job = await api("DELETE", "/v1/data_sources/" + encodeURIComponent(source.uuid));
        form.replaceWith(el("p", { text: "Deleting\u2026" }));
        watchJob(job.id, out, (done) => { if (done.status === "succeeded") location.hash = "#/sources"; });
      } catch (err) { form.append(errorLine(err)); button.disabled = false; }
    } }, el("label", { for: "confirm-name", text: "Type the source's name (" + source.name + ") to confirm" }), input, el("br"), button);
    out.replaceChildren(
      el("h3", { text: "This deletes" }),
      el("ul", { "aria-label": "Impact" }, Object.entries(impact.counts || {}).map(([k, n]) => el("li", { text: n + " " + k })),
        el("li", { text: affected.length + " pieces of manual data that touch this source" })),
      form);
    input.focus();
  } catch (e) { out.replaceChildren(errorLine(e)); }
}

// ---- schedule
function scheduleSection(source) {
  const input = el("input", { id: "schedule", type: "text", value: source.schedule || "", placeholder: "rate(1 day)" });
  const message = el("p", { role: "status", "aria-live": "polite" });
  const save = async (schedule) => {
    message.className = ""; message.textContent = "Saving\u2026";
    try {
      const updated = await api("PATCH", "/v1/data_sources/" + encodeURIComponent(source.uuid), { schedule });
      input.value = updated.schedule || "";
      message.className = "ok"; message.textContent = updated.schedule ? "Schedule saved: " + updated.schedule : "Schedule turned off.";
    } catch (e) { message.className = "error"; message.textContent = "Error: " + e.message; }
  };
  if (source.system === "custom") return el("section", { class: "panel" }, el("h2", { text: "Schedule" }), el("p", { text: "Custom sources are filled through the Import API and have no schedule." }));
  return el("section", { class: "panel", "aria-labelledby": "schedule-title" }, el("h2", { id: "schedule-title", text: "Schedule" }),
    el("p", { class: "muted", text: "Current: " + (source.schedule || "off") + ". Write rate(value unit) or cron(minutes hours day-of-month month day-of-week year)." }),
    el("form", { onsubmit: (e) => { e.preventDefault(); save(input.value.trim() || null); } },
      el("label", { for: "schedule", text: "Schedule" }), input, el("br"),
      el("button", { type: "submit" }, "Save schedule"),
      el("button", { type: "button", class: "secondary", onclick: () => save(null) }, "Turn off")),
    message);
}

async function listJobs(source, box) {
  if (!box) return;
  box.querySelector("table, .error, p")?.remove();
  try {
    const page = await api("GET", "/v1/data_sources/" + encodeURIComponent(source.uuid) + "/jobs?per_page=20");
    box.append(page.entries.length ? el("table", { "aria-label": "Jobs" },
      el("thead", {}, el("tr", {}, ["Kind", "Status", "Phase", "Progress", "Started", "Error"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, page.entries.map((j) => el("tr", {}, el("td", {}, j.kind), el("td", {}, j.status), el("td", {}, j.phase || ""),
        el("td", {}, ((j.progress && j.progress.percent) || 0) + "%"), el("td", {}, when(j.created_at)),
        el("td", {}, (j.error && j.error.message) || ""))))) : el("p", { text: "No jobs yet." }));
  } catch (e) { box.append(errorLine(e)); }
}

async function listCustomers(source, box) {
  try {
    const page = await api("GET", "/v1/customers?per_page=50&data_source_uuid=" + encodeURIComponent(source.uuid));
    box.append(page.entries.length ? el("ul", { "aria-label": "Customers" }, page.entries.map((c) =>
      el("li", {}, el("a", { href: "#/customers/" + encodeURIComponent(c.uuid) }, c.name || c.external_id), " \u2014 MRR " + money(c.mrr, c.currency))))
      : el("p", { text: "No customers." }),
    ...(page.has_more ? [el("p", { class: "muted", text: "The first 50 customers are shown." })] : []));
  } catch (e) { box.append(errorLine(e)); }
}

// ---- a customer
async function customerPage(uuid) {
  const c = await api("GET", "/v1/customers/" + encodeURIComponent(uuid));
  const bySource = {};
  const add = (ds, kind) => { bySource[ds] = bySource[ds] || { subscriptions: 0, invoices: 0 }; bySource[ds][kind] += 1; };
  (c.sources || [{ data_source_uuid: c.data_source_uuid }]).forEach((s) => { bySource[s.data_source_uuid] = bySource[s.data_source_uuid] || { subscriptions: 0, invoices: 0 }; });
  (c.subscriptions || []).forEach((s) => add(s.data_source_uuid, "subscriptions"));
  (c.invoices || []).forEach((i) => add(i.data_source_uuid || c.data_source_uuid, "invoices"));
  const names = {};
  await Promise.all(Object.keys(bySource).map(async (ds) => {
    try { names[ds] = await api("GET", "/v1/data_sources/" + encodeURIComponent(ds)); } catch (e) { names[ds] = null; }
  }));
  const progress = el("div", { id: "customer-progress" });
  const members = Object.fromEntries((c.sources || []).map((s) => [s.data_source_uuid, s.external_id]));
  const rows = Object.entries(bySource).map(([ds, n]) => {
    const source = names[ds];
    const canResync = source && source.resync_supported !== false;
    return el("tr", {}, el("th", { scope: "row" }, source ? source.name + " (" + source.system + ")" : ds),
      el("td", {}, members[ds] || ""), el("td", {}, String(n.subscriptions)), el("td", {}, String(n.invoices)),
      el("td", {}, canResync ? el("button", { type: "button", onclick: async (e) => {
        e.target.disabled = true; progress.replaceChildren();
        try {
          const job = await api("POST", "/v1/data_sources/" + encodeURIComponent(ds) + "/customers/" + encodeURIComponent(c.uuid) + "/resync");
          watchJob(job.id, progress, () => { e.target.disabled = false; });
        } catch (err) { progress.replaceChildren(errorLine(err)); e.target.disabled = false; }
      } }, "Re-sync customer") : el("span", { class: "muted", text: "cannot be re-synced" })));
  });
  const overlays = c.overlays || {};
  const manual = [...(overlays.merges || []), ...(overlays.connected_subscriptions || []), ...(overlays.mrr_edits || [])];
  view(c.name || c.external_id,
    el("p", { text: [c.email, c.company, c.country].filter(Boolean).join(" \u00b7 ") }),
    el("p", {}, "MRR: ", el("strong", { id: "mrr" }, money(c.mrr, c.currency)),
      c.mrr_by_currency ? " (" + Object.entries(c.mrr_by_currency).map(([cur, v]) => money(v, cur)).join(", ") + ")" : ""),
    el("h2", { text: "Records per source" }),
    el("table", { "aria-label": "Records per source" },
      el("thead", {}, el("tr", {}, ["Source", "External id", "Subscriptions", "Invoices", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)),
    progress,
    el("h2", { text: "Manual data touching this customer" }),
    manual.length ? el("ul", { "aria-label": "Manual data" }, manual.map((o) => el("li", {}, overlayText(o) + (o.orphaned ? " (orphaned)" : ""))))
      : el("p", { text: "None." }),
    el("h2", { text: "Subscriptions" }),
    el("ul", {}, (c.subscriptions || []).map((s) => el("li", { text: (s.plan ? s.plan.name : s.external_id) + " \u2014 " + s.status + " \u2014 " + money(s.mrr, s.currency) }))));
}

// ---- create a source
const SYSTEMS = ["stripe", "custom", "chargebee", "chargebee_v1", "braintree", "recurly", "paypal", "paddle", "gocardless",
  "maxio", "xero", "app_store_connect", "google_play", "hubspot", "intercom", "segment"];

function newSource() {
  const system = el("select", { id: "system" }, SYSTEMS.map((s) => el("option", { value: s }, s)));
  const name = el("input", { id: "name", type: "text", required: true });
  const apiKey = el("input", { id: "credential-api-key", type: "password", autocomplete: "off" });
  const other = el("textarea", { id: "credentials-json", rows: "3", autocomplete: "off", spellcheck: "false" });
  const apiBase = el("input", { id: "api-base", type: "url" });
  const retry = el("input", { id: "max-retry", type: "number", min: "0" });
  const schedule = el("input", { id: "new-schedule", type: "text", placeholder: "rate(1 day)" });
  const message = el("div", { role: "status", "aria-live": "polite" });
  const stripeBox = el("div", {}, el("label", { for: "credential-api-key", text: "Stripe secret key" }), apiKey);
  const otherBox = el("div", {}, el("label", { for: "credentials-json", text: "Credentials (JSON object, as the system needs them)" }), other);
  const integrationBox = el("div", {}, stripeBox, otherBox,
    el("label", { for: "api-base", text: "Options: API base (only if the deployment allows it)" }), apiBase,
    el("label", { for: "max-retry", text: "Options: max retry seconds" }), retry,
    el("label", { for: "new-schedule", text: "Schedule (optional)" }), schedule);
  const customBox = el("div", { class: "panel" }, el("h2", { text: "Custom sources: the Import API" }),
    el("p", { text: "A custom source has no credentials and no schedule: you send its records yourself, up to 1,000 per request, customers and plans before the invoices that name them." }),
    el("pre", { text: "POST /v1/import/data_sources/{uuid}/customers  {\"customers\": [{\"external_id\", \"name\", ...}]}\nPOST /v1/import/data_sources/{uuid}/plans      {\"plans\": [{\"external_id\", \"name\", \"interval_count\", \"interval_unit\"}]}\nPOST /v1/import/data_sources/{uuid}/invoices   {\"invoices\": [{\"external_id\", \"customer_external_id\", \"date\", \"currency\", \"line_items\", \"transactions\"}]}" }),
    el("p", { text: "A custom source cannot be re-synced: to replace its data, send the records again (a repeated external_id replaces the record) or delete the source and import again." }));
  const sync = () => {
    const s = system.value;
    integrationBox.hidden = s === "custom"; customBox.hidden = s !== "custom";
    stripeBox.hidden = s !== "stripe"; otherBox.hidden = s === "stripe";
  };
  system.addEventListener("change", sync);
  const form = el("form", { onsubmit: async (e) => {
    e.preventDefault();
    const body = { name: name.value.trim(), system: system.value };
    try {
      if (system.value !== "custom") {
        body.credentials = system.value === "stripe" ? { api_key: apiKey.value } : JSON.parse(other.value || "{}");
        const options = {};
        if (apiBase.value) options.api_base = apiBase.value;
        if (retry.value) options.max_retry_seconds = Number(retry.value);
        if (Object.keys(options).length) body.options = options;
        if (schedule.value.trim()) body.schedule = schedule.value.trim();
      }
    } catch (err) { message.replaceChildren(errorLine(new Error("The credentials are not a JSON object."))); return; }
    message.replaceChildren(el("p", { text: "Creating\u2026" }));
    try {
      const created = await api("POST", "/v1/data_sources", body);
      apiKey.value = ""; other.value = "";
      location.hash = "#/sources/" + encodeURIComponent(created.data_source.uuid);
    } catch (err) { message.replaceChildren(errorLine(err)); }
  } }, el("label", { for: "name", text: "Name" }), name, el("label", { for: "system", text: "System" }), system,
    integrationBox, customBox, el("br"), el("button", { type: "submit" }, "Create source"), message);
  view("Add a source", form);
  sync();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  route();
});

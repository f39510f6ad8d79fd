// The live worklist.  Kept live by short polling (every 5 s) with ETag / If-None-Match rather than
// Server-Sent Events: an unchanged list costs one indexed query and a 304, no connection is held open
// per station (the API's handlers are synchronous and hold a thread each), hospital proxies that
// buffer streams do not matter, and a dropped network needs no reconnect logic.  The countdown
// ticks in the page every second between polls.
import { api, countdown, el, t } from "/static/common.js";

const rowsEl = document.getElementById("rows");
const liveEl = document.getElementById("live");
const form = document.getElementById("filters");
let etag = null, studies = [], fetchedAt = Date.now(), selected = 0;

function query() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
  return params.toString();
}

function dueCell(s) {
  const left = s.seconds_left - (Date.now() - fetchedAt) / 1000;
  const frac = Math.max(0, Math.min(1, left / s.window_seconds));
  const bar = el("div", { class: `bar ${left < 0 ? "out" : frac < 0.25 ? "low" : ""}` },
                 el("span", { style: `width:${(frac * 100).toFixed(1)}%` }));
  return el("td", {}, el("span", { class: `countdown${left < 0 ? " overdue" : ""}` }, countdown(left)), bar);
}

function row(s, i) {
  const open = () => location.assign(`/read/${s.id}`);
  const reader = s.claimed_by ? `${t("claimed_by")}: ${s.claimed_by.display_name}` : "";
  return el("tr", { class: `${s.critical ? "critical" : ""}${i === selected ? " selected" : ""}`, "data-id": s.id,
                    onclick: open },
    el("td", {}, el("a", { href: `/read/${s.id}` }, String(s.id)), " ",
       s.critical ? el("span", { class: "badge critical" }, t("critical")) : null),
    el("td", {}, el("span", { class: `badge ${s.priority}` }, t(`priority_${s.priority}`))),
    dueCell(s),
    el("td", {}, `${s.patient_name || ""} ${s.patient_id || ""}`.trim()),
    el("td", {}, s.modality), el("td", {}, s.site_code), el("td", {}, t(`state_${s.state}`)),
    el("td", { class: "reader" }, reader));
}

function draw() { rowsEl.replaceChildren(...studies.map(row)); }

async function poll() {
  try {
    const r = await fetch(`/api/station/worklist?${query()}`, {
      credentials: "same-origin", headers: etag ? { "If-None-Match": etag } : {} });
    if (r.status === 401) return location.assign("/login?next=/worklist");
    if (r.status === 200) {
      etag = r.headers.get("etag");
      studies = (await r.json()).studies;
      fetchedAt = Date.now();
      selected = Math.min(selected, Math.max(0, studies.length - 1));
      liveEl.textContent = `${t("live")} · ${t("updated")} ${new Date().toLocaleTimeString()}`;
    }
    draw();
  } catch (e) { liveEl.textContent = `${t("live")}: ${e.message}`; }
}

form.addEventListener("submit", (ev) => { ev.preventDefault(); etag = null; poll(); });
document.addEventListener("keydown", (ev) => {
  if (ev.target.closest("input, select, textarea")) return;
  if (ev.key === "j" || ev.key === "ArrowDown") selected = Math.min(selected + 1, studies.length - 1);
  else if (ev.key === "k" || ev.key === "ArrowUp") selected = Math.max(selected - 1, 0);
  else if (ev.key === "Enter" && studies[selected]) return location.assign(`/read/${studies[selected].id}`);
  else return;
  ev.preventDefault(); draw();
});
poll();
setInterval(poll, 5000);
setInterval(draw, 1000);

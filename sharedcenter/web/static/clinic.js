// The clinic's page: drag-and-drop upload with progress and the ECG quality verdict at once,
// the site's studies and states, AI preliminary and final reports, retake requests.
import { api, el, fmtTime, ME, t } from "/static/common.js";

const drop = document.getElementById("drop");
const input = document.getElementById("files");
const progress = document.getElementById("progress");
const result = document.getElementById("upload-result");

function qualityText(q) {
  if (!q) return "";
  return el("span", { class: `quality-${q.verdict}` }, t(`quality_${q.verdict}`));
}

function send(files) {
  const body = new FormData();
  for (const f of files) body.append("files", f, f.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/uploads");
  progress.hidden = false; progress.value = 0;
  xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) progress.value = (100 * ev.loaded) / ev.total; };
  xhr.onload = () => {
    progress.value = 100;
    const out = JSON.parse(xhr.responseText || "{}");
    if (xhr.status >= 400) { result.replaceChildren(el("li", { class: "error" }, out.detail || xhr.statusText)); return; }
    result.replaceChildren(...out.studies.map((s) => el("li", { class: "uploaded" },
      `${t("uploaded")}: #${s.id} ${s.modality} ${s.description || ""} `, qualityText(s.quality),
      s.quality ? el("ul", { class: "reasons" }, ...((document.documentElement.lang === "en" ? s.quality.reasons_en : s.quality.reasons_zh) || [])
        .map((r) => el("li", {}, r))) : null)));
    load();
  };
  xhr.onerror = () => result.replaceChildren(el("li", { class: "error" }, "network error"));
  xhr.send(body);
}

drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); send(ev.dataTransfer.files); });
drop.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); input.click(); } });
input.addEventListener("change", () => { if (input.files.length) send(input.files); });

function reportCell(s) {
  if (!s.report) return el("td", {});
  return el("td", { class: "report" }, el("strong", {}, `${t("final_report")} v${s.report.version}`), " ",
    el("span", {}, s.report.impression), " ", s.report.pdf_url ? el("a", { href: s.report.pdf_url, target: "_blank" }, t("view_pdf")) : null,
    el("div", { class: "muted" }, `${s.report.signed_by || ""} ${fmtTime(s.report.signed_at)}`));
}

function aiCell(s) {
  if (!s.preliminary) return el("td", {});
  return el("td", {}, el("span", { class: "badge ai" }, "AI"), " ", el("span", { title: t("preliminary") }, s.preliminary.text));
}

async function load() {
  const rows = await api("/api/station/clinic/studies");
  document.getElementById("rows").replaceChildren(...rows.map((s) => el("tr", { "data-id": s.id, class: s.critical ? "critical" : "" },
    el("td", {}, String(s.id)), el("td", {}, fmtTime(s.received_at)), el("td", {}, `${s.patient_name} ${s.patient_id}`),
    el("td", {}, s.modality), el("td", { class: "state" }, t(`state_${s.state}`)), el("td", {}, qualityText(s.quality)),
    aiCell(s), reportCell(s))));
  const retakes = rows.filter((s) => s.state === "returned");
  document.getElementById("retakes").replaceChildren(...(retakes.length ? retakes.map((s) =>
    el("li", { class: "retake" }, `#${s.id} ${s.modality} ${s.patient_id}: ${s.returned_reason || ""}`)) : [el("li", {}, t("no_retakes"))]));
}
if (ME) load();
setInterval(load, 15000);

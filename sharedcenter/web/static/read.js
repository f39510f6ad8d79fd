// The reading page: claim the study (lease renewed while the page is open, given back on leaving),
// show the AI beside the viewer, and wire the report editor.
import { api, ApiError, el, fmtTime, ME, t } from "/static/common.js";
import { startEditor } from "/static/editor.js";

const root = document.getElementById("read");
const studyId = Number(root.dataset.study);
const $ = (id) => document.getElementById(id);

function head(study) {
  $("study-head").replaceChildren(el("span", {},
    el("strong", {}, `#${study.id} ${study.patient_name || ""} ${study.patient_id || ""}`), " ",
    el("span", { class: `badge ${study.priority}` }, t(`priority_${study.priority}`)), " ",
    study.critical ? el("span", { class: "badge critical" }, t("critical")) : null, " ",
    `${study.modality} · ${study.description} · ${study.site_code} · `, el("span", { id: "state" }, t(`state_${study.state}`))));
}

function aiPanel(form) {
  if (!form.ai) { $("ai").replaceChildren(t("none")); return; }
  const ai = form.ai;
  const findings = ai.findings.map((f) => el("li", { class: f.critical ? "error" : "" },
    `${document.documentElement.lang === "en" ? f.label : f.label_zh}${f.probability != null ? ` (${(f.probability * 100).toFixed(0)}%)` : ""}`));
  const measures = Object.entries(ai.measurements).filter(([k, v]) => typeof v !== "object" && !k.startsWith("preliminary_text"))
    .map(([k, v]) => el("li", {}, `${k}: ${v}`));
  $("ai").replaceChildren(el("span", { class: "badge ai" }, "AI"), ` ${ai.algorithm} ${ai.version}`,
    el("ul", { class: "ai-findings" }, ...findings), el("p", { class: "ai-text" }, ai.text),
    el("details", { open: true }, el("summary", {}, t("ai_measurements")), el("ul", {}, ...measures)));
}

function consultations(list) {
  if (!list.length) return;
  $("consultations").hidden = false;
  $("consult-list").replaceChildren(...list.map((c) => {
    const box = el("div", {}, el("p", {}, `${t("question")}: ${c.question} — ${c.asked_by} ${fmtTime(c.asked_at)}`),
      c.answer ? el("p", { class: "answer" }, `${t("answer")}: ${c.answer} — ${c.answered_by}`) : null);
    if (!c.answer && ME.center === "city") {
      const text = el("textarea", { rows: 2, id: "answer-text", "aria-label": t("answer") });
      box.append(text, el("button", { type: "button", class: "primary", id: "answer-send", onclick: async () => {
        await api(`/api/station/consultations/${c.id}/answer`, { json: { text: text.value } }); location.reload(); } }, t("send")));
    }
    return box;
  }));
}

async function claim(view) {
  const study = view.study;
  const mine = ME.center === study.center_code && ((ME.role === "radiologist" && study.kind === "dicom") ||
    (ME.role === "cardiologist" && study.kind === "ecg"));
  const open = !["signed", "returned"].includes(study.state);
  if (!mine || !open) return false;
  try {
    await api(`/api/station/studies/${studyId}/claim`, { method: "POST" });
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      $("claim").className = "claim other"; $("claim").textContent = `${t("claimed_other")} (${e.message})`; return false;
    }
    throw e;
  }
  $("claim").className = "claim"; $("claim").textContent = t("claim_ok");
  setInterval(() => api(`/api/station/studies/${studyId}/claim`, { method: "POST" }).catch(() => {}), 120000);
  window.addEventListener("pagehide", () => fetch(`/api/station/studies/${studyId}/claim`,
    { method: "DELETE", credentials: "same-origin", keepalive: true }));
  return true;
}

async function main() {
  const viewer = root.dataset.kind === "ecg"
    ? import("/static/ecgviewer.js").then((m) => m.startEcgViewer(studyId))
    : import("/static/imageviewer.js").then((m) => m.startImageViewer(studyId));
  const view = await api(`/api/station/studies/${studyId}`);
  head(view.study); aiPanel(view.form); consultations(view.consultations);
  const canEdit = await claim(view);
  startEditor(studyId, view, { canEdit, onDone: async () => {
    const fresh = await api(`/api/station/studies/${studyId}`);
    head(fresh.study); consultations(fresh.consultations);
    for (const id of ["save", "sign", "return", "escalate"]) $(id).disabled = true;
  } });
  await viewer;
}
main().catch((e) => { $("claim").className = "claim other"; $("claim").textContent = e.message; });

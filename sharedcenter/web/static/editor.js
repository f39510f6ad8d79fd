// The report editor: the exam's structured template, pre-filled from the AI (marked until edited),
// a phrase library, and the actions: save draft, sign (password asked again), return, escalate.
import { api, el, t } from "/static/common.js";

const $ = (id) => document.getElementById(id);

function parseDraft(findings) {
  const out = {};
  for (const line of (findings || "").split("\n")) {
    const i = line.indexOf("：");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function fieldRow(f, drafted) {
  const value = drafted[f.zh] ?? f.value;
  const ai = f.ai && drafted[f.zh] === undefined;
  const input = el("input", { name: f.key, value, "data-label": f.zh, "aria-label": f.zh });
  const badge = ai ? el("span", { class: "badge ai", title: t("ai_filled") }, "AI") : null;
  const row = el("label", { class: `field${ai ? " ai-filled" : ""}` }, `${document.documentElement.lang === "en" ? f.en : f.zh} `, badge, input);
  input.addEventListener("input", () => { row.classList.remove("ai-filled"); badge?.remove(); });
  return row;
}

export function startEditor(studyId, view, { canEdit, onDone }) {
  const form = view.form;
  $("exam-name").textContent = document.documentElement.lang === "en" ? form.name_en : form.name_zh;
  const drafted = form.draft ? parseDraft(form.draft.findings) : {};
  $("fields").replaceChildren(...form.fields.map((f) => fieldRow(f, drafted)));
  $("impression").value = form.draft ? form.draft.impression : form.impression;
  let target = $("impression");
  $("editor").addEventListener("focusin", (ev) => { if (ev.target.matches("input[name], textarea")) target = ev.target; });
  $("phrases").append(...form.phrases.map((p) => el("option", { value: p.text }, `${p.group} · ${p.text}`)));
  $("phrases").addEventListener("change", () => {
    const text = $("phrases").value;
    if (!text) return;
    target.value = target.value ? `${target.value}${target === $("impression") ? "" : "，"}${text}` : text;
    target.dispatchEvent(new Event("input"));
    $("phrases").value = ""; target.focus();
  });
  const status = (msg, bad = false) => { $("editor-status").textContent = msg; $("editor-status").className = bad ? "error" : ""; };
  const body = () => ({
    findings: [...$("fields").querySelectorAll("input")].filter((i) => i.value.trim())
      .map((i) => `${i.dataset.label}：${i.value.trim()}`).join("\n"),
    impression: $("impression").value.trim(),
  });
  const guard = async (fn) => { try { await fn(); } catch (e) { status(e.message, true); } };

  for (const id of ["save", "sign", "return", "escalate"]) $(id).disabled = !canEdit;
  $("save").addEventListener("click", () => guard(async () => {
    await api(`/api/station/studies/${studyId}/draft`, { json: body() }); status(`${t("saved")} ${new Date().toLocaleTimeString()}`);
  }));
  $("sign").addEventListener("click", () => {
    if (!body().impression) { status(`${t("impression")}?`, true); $("impression").focus(); return; }
    $("sign-error").textContent = ""; $("sign-password").value = ""; $("sign-dialog").showModal(); $("sign-password").focus();
  });
  $("sign-cancel").addEventListener("click", () => $("sign-dialog").close());
  $("sign-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      try {
        await api(`/api/station/studies/${studyId}/sign`, { json: { ...body(), password: $("sign-password").value } });
      } catch (e) { $("sign-error").textContent = e.message; throw e; }
      $("sign-dialog").close(); status(t("signed_ok")); onDone("signed");
    });
  });
  const ask = (label, url, done) => {
    $("text-label").textContent = label; $("text-value").value = ""; $("text-dialog").showModal(); $("text-value").focus();
    $("text-form").onsubmit = (ev) => {
      ev.preventDefault();
      guard(async () => { await api(url, { json: { text: $("text-value").value } }); $("text-dialog").close(); onDone(done); });
    };
  };
  $("text-cancel").addEventListener("click", () => $("text-dialog").close());
  $("return").addEventListener("click", () => ask(t("return_reason"), `/api/station/studies/${studyId}/return`, "returned"));
  $("escalate").addEventListener("click", () => ask(t("question"), `/api/station/studies/${studyId}/escalate`, "escalated"));
  document.addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") { ev.preventDefault(); if (canEdit) $("save").click(); }
  });
}

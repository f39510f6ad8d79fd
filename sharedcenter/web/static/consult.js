import { api, el, fmtTime, t } from "/static/common.js";

function item(c, answerable) {
  const box = el("div", { class: "card" },
    el("p", {}, el("a", { href: `/read/${c.study_id}` }, `#${c.study_id}`), ` ${c.study.modality} ${c.study.patient_id} · ${c.study.site_code}`),
    el("p", {}, `${t("question")}: ${c.question} — ${c.asked_by}, ${fmtTime(c.asked_at)}`),
    c.answer ? el("p", {}, `${t("answer")}: ${c.answer} — ${c.answered_by}, ${fmtTime(c.answered_at)}`) : null);
  if (answerable && !c.answer) {
    const text = el("textarea", { rows: 2, "aria-label": t("answer"), class: "answer-text" });
    const send = el("button", { type: "button", class: "primary", onclick: async () => {
      await api(`/api/station/consultations/${c.id}/answer`, { json: { text: text.value } }); load(); } }, t("send"));
    box.append(el("label", {}, t("answer"), text), send);
  }
  return box;
}

async function load() {
  const open = await api("/api/station/consultations");
  const all = await api("/api/station/consultations?open_only=false");
  const expert = ME_IS_CITY();
  document.getElementById("open").replaceChildren(...(open.length ? open.map((c) => item(c, expert)) : [t("none")]));
  document.getElementById("all").replaceChildren(...(all.length ? all.map((c) => item(c, false)) : [t("none")]));
}

function ME_IS_CITY() {
  const me = JSON.parse(document.getElementById("me").textContent);
  return me && me.center === "city";
}
load();

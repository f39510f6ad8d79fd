import { api, t } from "/static/common.js";

const form = document.getElementById("login");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const data = Object.fromEntries(new FormData(form));
  try {
    const out = await api("/api/auth/login", { json: { username: data.username, password: data.password } });
    const home = out.user.role === "technician" ? "/clinic" : "/worklist";
    location.assign(data.next || home);
  } catch (e) {
    document.getElementById("error").textContent = `${t("login_failed")}: ${e.message}`;
  }
});

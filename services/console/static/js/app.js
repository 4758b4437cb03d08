// The console shell: log in (token or development identity), pick the screens the role may
// see, and mount one screen at a time (each returns a function that stops its timers).

import { devIdentityAllowed, identity, loadConfig, loginWithDevIdentity, loginWithToken, logout,
         onUnauthenticated } from "./api.js";
import { agencyScreen } from "./agency.js";
import { auditorScreen } from "./auditor.js";
import { deskScreen } from "./desk.js";
import { supervisorScreen } from "./supervisor.js";
import { field, h, ROLES } from "./ui.js";

const SCREENS = {
  desk: { title: "Meja Operator", mount: deskScreen },
  supervisor: { title: "Pemantauan Supervisor", mount: supervisorScreen },
  agency: { title: "Antrean Instansi", mount: agencyScreen },
  auditor: { title: "Jejak Audit", mount: auditorScreen },
};

// What each role may see; the APIs enforce the same (a screen never widens a permission).
const ROLE_SCREENS = {
  operator: ["desk"],
  supervisor: ["supervisor"],
  agency: ["agency"],
  auditor: ["auditor"],
  admin: ["supervisor"],
};

const main = document.getElementById("main");
let stopScreen = null;

function notice(text) {
  const el = document.getElementById("notice");
  el.textContent = text || "";
  el.hidden = !text;
}

function screensFor(who) {
  return who ? ROLE_SCREENS[who.role] || [] : [];
}

// #token=<jwt> (login links printed by the demo) or #dev=<json identity>: log in, then
// drop the credentials from the address bar and history.
function consumeLoginFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  try {
    if (params.has("token")) loginWithToken(params.get("token"));
    else if (params.has("dev")) {
      if (!devIdentityAllowed()) throw new Error("identitas uji coba tidak berlaku; pakai token");
      loginWithDevIdentity(JSON.parse(params.get("dev")));
    } else return;
  } catch (err) {
    notice(`Gagal masuk: ${err.message}`);
  }
  history.replaceState(null, "", location.pathname + location.search);
}

function renderHeader(who) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(...screensFor(who).map((name) =>
    h("a", { href: `#/${name}`, id: `nav-${name}` }, SCREENS[name].title)));
  const box = document.getElementById("who");
  box.hidden = !who;
  if (who) {
    const where = who.desk ? ` · meja ${who.desk}` : who.area ? ` · wilayah ${who.area}`
      : who.agency ? ` · ${who.agency}` : "";
    document.getElementById("who-text").textContent =
      `${who.user} (${ROLES[who.role] || who.role}${where})`;
  }
}

function loginScreen() {
  const token = h("textarea", { id: "login-token", rows: 3, placeholder: "eyJhbGciOi…" });
  const tokenForm = h("form", { class: "card", id: "login-token-form" },
    h("h2", {}, "Masuk dengan token"),
    h("p", { class: "muted" }, "Tempel token dari petugas admin (perintah ",
      h("code", {}, "sedulur users token"), ") atau buka tautan masuk yang diberikan."),
    field("Token akses", token),
    h("button", { type: "submit" }, "Masuk"));
  tokenForm.addEventListener("submit", (e) => {
    e.preventDefault();
    try { loginWithToken(token.value); route(); } catch (err) { notice(`Gagal masuk: ${err.message}`); }
  });

  const role = h("select", { id: "dev-role" },
    Object.entries(ROLES).map(([value, label]) => h("option", { value }, label)));
  const inputs = {
    user: h("input", { id: "dev-user", autocomplete: "off", placeholder: "mis. op-kudus-01" }),
    desk: h("input", { id: "dev-desk", inputmode: "numeric", placeholder: "mis. 332501" }),
    area: h("input", { id: "dev-area", inputmode: "numeric", placeholder: "kecamatan, mis. 332501" }),
    agency: h("input", { id: "dev-agency", placeholder: "mis. DINKES" }),
  };
  const devForm = h("form", { class: "card", id: "login-dev-form" },
    h("h2", {}, "Identitas uji coba"),
    h("p", { class: "muted" }, "Hanya untuk pengembangan, selama layanan belum memakai token " +
      "bertanda tangan."),
    field("Peran", role), field("ID pengguna", inputs.user),
    field("Meja (operator)", inputs.desk), field("Wilayah (supervisor)", inputs.area),
    field("Instansi (petugas OPD)", inputs.agency),
    h("button", { type: "submit", class: "secondary" }, "Masuk sebagai identitas ini"));
  devForm.addEventListener("submit", (e) => {
    e.preventDefault();
    try {
      loginWithDevIdentity({ role: role.value, user: inputs.user.value.trim(),
                             desk: inputs.desk.value.trim(), area: inputs.area.value.trim(),
                             agency: inputs.agency.value.trim() });
      route();
    } catch (err) { notice(`Gagal masuk: ${err.message}`); }
  });
  return h("section", { class: "login" }, h("h1", {}, "Masuk ke konsol"), tokenForm,
           devIdentityAllowed() ? devForm : null);
}

function route() {
  if (stopScreen) { stopScreen(); stopScreen = null; }
  const who = identity();
  renderHeader(who);
  if (!who) { main.replaceChildren(loginScreen()); return; }
  notice("");
  const allowed = screensFor(who);
  if (!allowed.length) {
    main.replaceChildren(h("section", { class: "card" }, h("h1", {}, "Belum ada layar"),
      h("p", {}, `Peran ${ROLES[who.role] || who.role} belum punya layar di konsol ini.`)));
    return;
  }
  const wanted = location.hash.replace(/^#\//, "");
  const name = allowed.includes(wanted) ? wanted : allowed[0];
  if (wanted !== name) history.replaceState(null, "", `#/${name}`);
  document.querySelectorAll("#nav a").forEach((a) =>
    a.classList.toggle("active", a.id === `nav-${name}`));
  document.title = `${SCREENS[name].title} — Sedulur`;
  const root = h("section", { class: "screen", id: `screen-${name}` });
  main.replaceChildren(root);
  stopScreen = SCREENS[name].mount(root, who) || null;
}

async function start() {
  try {
    await loadConfig();
  } catch (err) {
    main.replaceChildren(h("p", { class: "error" }, `Konfigurasi konsol gagal dimuat: ${err.message}`));
    return;
  }
  consumeLoginFragment();
  document.getElementById("logout").addEventListener("click", () => {
    if (stopScreen) { stopScreen(); stopScreen = null; }
    logout();
    history.replaceState(null, "", location.pathname);
    route();
  });
  onUnauthenticated(() => notice("Sesi tidak berlaku lagi (token salah atau kedaluwarsa). " +
                                 "Silakan keluar lalu masuk kembali."));
  window.addEventListener("hashchange", () => {
    if (/^#(token|dev)=/.test(location.hash)) consumeLoginFragment();
    route();
  });
  route();
}

start();

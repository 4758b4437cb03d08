// Small DOM helpers: elements are built, never assembled from HTML strings, so text from
// the APIs (names, notes, reasons) can never become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const WIB = "Asia/Jakarta";

export function time(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleTimeString("id-ID", { timeZone: WIB, hour: "2-digit",
                                                     minute: "2-digit" });
}

export function dateTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString("id-ID", { timeZone: WIB, day: "2-digit", month: "short",
                                                 year: "numeric", hour: "2-digit",
                                                 minute: "2-digit", second: "2-digit" }) + " WIB";
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60);
  if (d) return `${d} hr ${hh} j`;
  if (hh) return `${hh} j ${mm} m`;
  return `${mm} m`;
}

export const STAGES = {
  registered: "Diterima", verified: "Terverifikasi", rejected: "Ditolak",
  referred: "Dirujuk ke instansi", resolved: "Selesai",
};

export const PRIORITY = { normal: "biasa", high: "tinggi", urgent: "mendesak" };

// Operator actions as the live board names them (the event that moved the operator).
export const ACTIONS = {
  Registered: "mendaftarkan aduan", login: "masuk meja", logout: "keluar meja",
  heartbeat: "aktif di meja",
};

export const REFERRAL_STATUS = {
  referred: "Baru dirujuk", accepted: "Sedang ditangani", returned: "Dikembalikan",
  resolved: "Selesai",
};

export const ROLES = {
  operator: "Operator Puskesos", verifier: "Verifikator Dinsos", supervisor: "Supervisor",
  agency: "Petugas instansi (OPD)", auditor: "Auditor", admin: "Admin",
};

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}

export function field(label, input, help) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input,
           help || null);
}

export function message(el, text, kind = "") {
  el.textContent = text || "";
  el.className = `hint ${kind}`;
}

export function errorText(err) {
  if (err && err.status === 403) return `Tidak diizinkan: ${err.message}`;
  if (err && err.status === 0) return err.message;
  return err && err.message ? err.message : String(err);
}

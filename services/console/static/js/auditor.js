// Auditor: a complaint's whole history as a timeline (time, event, actor, reasons, chain
// hash) and its state at any point (a version, or a moment in time). Read-only.

import { api } from "./api.js";
import { dateTime, errorText, h } from "./ui.js";

const EVENTS = {
  Registered: "Didaftarkan", Verified: "Terverifikasi", Rejected: "Ditolak",
  ReferredToOPD: "Dirujuk ke instansi", ReferralAccepted: "Diterima instansi",
  ProgressNoted: "Catatan kemajuan", ReferralResolved: "Diselesaikan instansi",
  Resolved: "Selesai", ReferralReturned: "Dikembalikan instansi", SlaBreached: "Tenggat dilanggar",
  Escalated: "Dieskalasi", ClockPaused: "Tenggat ditunda", ClockResumed: "Tenggat dilanjutkan",
  UsulanProposed: "Diusulkan masuk DTKS", ManualReviewRequested: "Ke meja verifikasi manual",
};

// The fields that say why, first; the rest of an event's content follows.
const REASON_FIELDS = ["reason", "reasons", "reason_code", "rule", "outcome", "note", "agency", "agencies",
                       "routing_rule", "dtks_snapshot", "stage", "category", "desk", "channel"];

function value(v) {
  if (v === null || v === undefined || v === "") return "—";
  if (Array.isArray(v)) return v.map(value).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function details(obj) {
  const keys = Object.keys(obj || {});
  keys.sort((a, b) => {
    const ia = REASON_FIELDS.indexOf(a), ib = REASON_FIELDS.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  return h("dl", { class: "details" }, keys.map((k) => [h("dt", {}, k), h("dd", {}, value(obj[k]))]));
}

export function auditorScreen(root) {
  const reference = h("input", { id: "audit-ref", autocomplete: "off", required: true,
                                 placeholder: "mis. 3325-251205-000001 atau ID aduan" });
  const state = h("p", { class: "muted", id: "audit-state" });
  const timeline = h("ol", { class: "timeline", id: "timeline" });
  const pointState = h("div", { id: "point-state" });
  const at = h("input", { id: "audit-at", type: "datetime-local", step: 1 });
  let current = null;

  async function show(e) {
    if (e) e.preventDefault();
    const ref = reference.value.trim();
    if (!ref) return;
    state.textContent = "Memuat riwayat…";
    timeline.replaceChildren();
    pointState.replaceChildren();
    try {
      const data = await api("intake", `/audit/complaints/${encodeURIComponent(ref)}/history`);
      current = ref;
      const first = data.events[0];
      state.textContent = `${data.events.length} kejadian` +
        (first ? ` untuk aduan ${first.registration_number}` : "") + ".";
      timeline.replaceChildren(...data.events.map((ev) => h("li", {
        class: `event ev-${ev.event}`, dataset: { event: ev.event, version: ev.version } },
        h("div", { class: "when" }, dateTime(ev.time)),
        h("div", { class: "what" },
          h("strong", {}, EVENTS[ev.event] || ev.event), ` (${ev.event}, versi ${ev.version})`),
        h("div", { class: "who" }, "Oleh ", h("strong", {}, ev.actor.user_id || "—"),
          ` · ${ev.actor.role || "—"}`,
          ev.actor.desk ? ` · meja ${ev.actor.desk}` : "",
          ev.actor.agency ? ` · ${ev.actor.agency}` : ""),
        details(ev.details),
        h("div", { class: "meta" }, `korelasi ${ev.correlation_id || "—"}`,
          ev.hash ? ` · hash ${ev.hash.slice(0, 16)}…` : "",
          ev.complaint_id ? ` · aduan ${ev.complaint_id}` : ""),
        h("button", { type: "button", class: "secondary small",
                      onclick: () => pointInTime({ version: ev.version, ref: ev.complaint_id }) },
          "Keadaan pada versi ini"))));
    } catch (err) {
      state.textContent = err.status === 404 ? "Aduan tidak ditemukan."
        : `Riwayat tidak dapat dimuat: ${errorText(err)}`;
    }
  }

  async function pointInTime({ version, moment, ref }) {
    const target = ref || current;
    if (!target) return;
    const query = version ? `version=${version}` : `at=${encodeURIComponent(moment)}`;
    try {
      const s = await api("intake", `/audit/complaints/${encodeURIComponent(target)}/state?${query}`);
      pointState.replaceChildren(h("div", { class: "card inset" },
        h("h3", {}, `Keadaan aduan pada versi ${s.version} (${dateTime(s.as_of)})`),
        details(Object.fromEntries(Object.entries(s).filter(([k]) => !["as_of"].includes(k))))));
      pointState.scrollIntoView({ behavior: "smooth", block: "nearest" });
    } catch (err) {
      pointState.replaceChildren(h("p", { class: "hint error" }, errorText(err)));
    }
  }

  async function downloadCsv() {
    if (!current) return;
    const resp = await api("intake", `/audit/complaints/${encodeURIComponent(current)}/history?format=csv`,
                           { raw: true });
    const url = URL.createObjectURL(await resp.blob());
    h("a", { href: url, download: `riwayat-${current}.csv` }).click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  const form = h("form", { class: "card", id: "audit-form" },
    h("div", { class: "toolbar" },
      h("label", { for: "audit-ref" }, "Nomor registrasi / ID aduan"), reference,
      h("button", { type: "submit" }, "Tampilkan riwayat"),
      h("button", { type: "button", class: "secondary", onclick: downloadCsv }, "Unduh CSV")),
    h("div", { class: "toolbar" },
      h("label", { for: "audit-at" }, "Keadaan pada waktu (WIB)"), at,
      h("button", { type: "button", class: "secondary", onclick: () => {
        if (at.value) pointInTime({ moment: `${at.value.length === 16 ? `${at.value}:00` : at.value}+07:00` });
      } }, "Lihat keadaan")));
  form.addEventListener("submit", show);
  root.append(h("h1", {}, "Jejak Audit Aduan"), form,
    h("div", { class: "columns" },
      h("div", { class: "card" }, h("h2", {}, "Riwayat"), state, timeline),
      h("div", {}, pointState)));
  return null;
}

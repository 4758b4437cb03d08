// Agency (OPD): its work queue with age and due time; accept, note progress, resolve, or
// return a referral as not its authority.

import { api } from "./api.js";
import { badge, dateTime, duration, errorText, h, REFERRAL_STATUS } from "./ui.js";

const ACTIONS = {
  accept: { label: "Terima", path: "accept" },
  note: { label: "Catatan", path: "progress", field: "note",
          prompt: "Catatan kemajuan penanganan" },
  resolve: { label: "Selesaikan", path: "resolve", field: "outcome",
             prompt: "Hasil penyelesaian (akan dicatat dan dilihat warga)" },
  return: { label: "Kembalikan", path: "return", field: "reason",
            prompt: "Alasan dikembalikan (bukan kewenangan instansi ini)" },
};

export function agencyScreen(root, who) {
  const agency = who.agency;
  if (!agency) {
    root.append(h("p", { class: "error" }, "Akun ini tidak terhubung ke instansi (OPD)."));
    return null;
  }
  const timers = [];
  const showAll = h("input", { type: "checkbox", id: "show-all" });
  const state = h("p", { class: "muted", id: "queue-state" });
  const rows = h("tbody", { id: "queue-rows" });
  const result = h("p", { class: "hint", id: "action-result", role: "status" });

  // One dialog for note / resolve / return: the text is required by the API.
  const dialogText = h("textarea", { id: "action-text", rows: 4, required: true, maxlength: 2000 });
  const dialogLabel = h("label", { for: "action-text" });
  const dialogTitle = h("h2", {});
  const dialogError = h("p", { class: "hint error" });
  const dialog = h("dialog", { id: "action-dialog" },
    h("form", { method: "dialog" }, dialogTitle, dialogLabel, dialogText, dialogError,
      h("div", { class: "buttons" },
        h("button", { value: "cancel", class: "secondary", formnovalidate: true }, "Batal"),
        h("button", { value: "ok", id: "action-submit" }, "Simpan"))));
  let pending = null;
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "ok" && pending) {
      const text = dialogText.value.trim();
      if (text) act(pending.row, pending.action, text);
    }
    pending = null;
  });

  function ask(row, action) {
    const spec = ACTIONS[action];
    pending = { row, action };
    dialogTitle.textContent = `${spec.label}: ${row.registration_number}`;
    dialogLabel.textContent = spec.prompt;
    dialogText.value = "";
    dialogError.textContent = "";
    dialog.returnValue = "";
    dialog.showModal();
    dialogText.focus();
  }

  async function act(row, action, text) {
    const spec = ACTIONS[action];
    const body = { agency };
    if (spec.field) body[spec.field] = text;
    try {
      await api("routing", `/referrals/${row.complaint_id}/${spec.path}`, { method: "POST", body });
      result.textContent = `${spec.label}: ${row.registration_number} berhasil.`;
      result.className = "hint ok";
    } catch (err) {
      result.textContent = `${spec.label} gagal untuk ${row.registration_number}: ${errorText(err)}`;
      result.className = "hint error";
    }
    refresh();
  }

  function actionsFor(row) {
    if (row.status === "resolved" || row.status === "returned") return "—";
    const names = row.status === "referred" ? ["accept", "note", "resolve", "return"]
      : ["note", "resolve", "return"];
    return h("div", { class: "actions" }, names.map((name) => h("button", {
      type: "button", class: name === "resolve" ? "" : "secondary small",
      dataset: { action: name, complaint: row.complaint_id },
      onclick: () => (ACTIONS[name].field ? ask(row, name) : act(row, name)),
    }, ACTIONS[name].label)));
  }

  async function refresh() {
    try {
      const page = await api("routing", `/agencies/${encodeURIComponent(agency)}/queue?limit=200`);
      const open = page.referrals.filter((r) => showAll.checked ||
                                                ["referred", "accepted"].includes(r.status));
      // Most urgent first: the earliest due time, then the oldest referral.
      open.sort((a, b) => (a.due_at || "9999").localeCompare(b.due_at || "9999") ||
                          a.referred_at.localeCompare(b.referred_at));
      state.textContent = `${open.length} rujukan ${showAll.checked ? "" : "terbuka "}` +
                          `untuk ${agency}.`;
      rows.replaceChildren(...open.map((r) => h("tr", {
        class: r.overdue ? "row-danger" : "", dataset: { complaint: r.complaint_id } },
        h("td", { class: "mono" }, r.registration_number),
        h("td", {}, r.category),
        h("td", {}, badge(REFERRAL_STATUS[r.status] || r.status, r.status)),
        h("td", {}, dateTime(r.referred_at)),
        h("td", { class: "num" }, duration(r.age_seconds)),
        h("td", {}, r.due_at ? dateTime(r.due_at) : "—",
          r.overdue ? badge("lewat tenggat", "danger") : null),
        h("td", {}, r.outcome || ""),
        h("td", {}, actionsFor(r)))));
    } catch (err) {
      state.textContent = `Antrean tidak dapat dimuat: ${errorText(err)}`;
    }
  }
  showAll.addEventListener("change", refresh);

  root.append(h("h1", {}, `Antrean Instansi — ${agency}`),
    h("div", { class: "card" },
      h("div", { class: "toolbar" },
        h("label", { class: "inline" }, showAll, " Tampilkan yang sudah selesai / dikembalikan"),
        h("button", { type: "button", class: "secondary small", onclick: refresh }, "Muat ulang")),
      state, result,
      h("div", { class: "table-wrap" }, h("table", { id: "agency-queue" },
        h("thead", {}, h("tr", {}, ["Nomor registrasi", "Kategori", "Status", "Dirujuk", "Umur",
                                    "Tenggat", "Hasil", "Tindakan"].map((t) => h("th", {}, t)))),
        rows))),
    dialog);
  refresh();
  timers.push(setInterval(refresh, 15000));
  return () => timers.forEach(clearInterval);
}

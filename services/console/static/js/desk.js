// Operator desk: register a complaint (live NIK / KK checks, DTKS hint), show and print the
// registration number, list the desk's complaints of today. The operator is logged in to
// the desk (session + heartbeat) while the screen is open, so the supervisor sees it.

import { api, newKey } from "./api.js";
import { checkKk, checkNik, checkWilayah } from "./identity.js";
import { badge, errorText, field, h, message, PRIORITY, STAGES, time } from "./ui.js";

function categoryOptions(tree) {
  return tree.map((group) => h("optgroup", { label: group.name },
    h("option", { value: group.code }, `${group.name} (umum)`),
    group.children.map((c) => h("option", { value: c.code }, c.name))));
}

export function deskScreen(root, who) {
  const desk = who.desk;
  if (!desk) {
    root.append(h("p", { class: "error" }, "Akun operator ini tidak terhubung ke meja Puskesos."));
    return null;
  }
  const timers = [];
  let session = null;
  let formKey = newKey(); // one registration per filled form, even if "Daftarkan" is pressed twice

  // -- form ---------------------------------------------------------------------------------
  const nik = h("input", { id: "nik", inputmode: "numeric", autocomplete: "off", maxlength: 24,
                           required: true, placeholder: "16 digit NIK pada KTP" });
  const nikHint = h("p", { class: "hint", id: "nik-hint", "aria-live": "polite" });
  const dtksHint = h("p", { class: "hint", id: "dtks-hint", "aria-live": "polite" });
  const name = h("input", { id: "name", autocomplete: "off", required: true, maxlength: 200 });
  const kk = h("input", { id: "kk", inputmode: "numeric", autocomplete: "off", maxlength: 24,
                          placeholder: "boleh dikosongkan" });
  const kkHint = h("p", { class: "hint", id: "kk-hint", "aria-live": "polite" });
  const phone = h("input", { id: "phone", inputmode: "tel", autocomplete: "off",
                             placeholder: "boleh dikosongkan, mis. 0812…" });
  const category = h("select", { id: "category", required: true },
    h("option", { value: "" }, "— pilih kategori —"));
  const description = h("textarea", { id: "description", rows: 4, required: true, maxlength: 4000,
                                      placeholder: "Uraian singkat masalah warga" });
  const wilayah = h("input", { id: "wilayah", inputmode: "numeric", autocomplete: "off",
                               placeholder: "kode desa 10 digit, boleh dikosongkan" });
  const submit = h("button", { type: "submit", id: "register" }, "Daftarkan aduan");
  const formError = h("p", { class: "hint", id: "form-error", role: "alert" });
  const receipt = h("div", { id: "receipt", class: "receipt", hidden: true });

  const form = h("form", { class: "card", id: "register-form", novalidate: true },
    h("h2", {}, "Aduan baru"),
    h("div", { class: "grid2" },
      h("div", {}, field("NIK warga", nik), nikHint, dtksHint),
      field("Nama sesuai KTP", name)),
    h("div", { class: "grid2" },
      h("div", {}, field("Nomor KK", kk), kkHint),
      field("Nomor HP", phone)),
    h("div", { class: "grid2" }, field("Kategori aduan", category), field("Desa/kelurahan", wilayah)),
    field("Uraian aduan", description),
    formError, submit);

  let lastDtks = null;
  let dtksTimer = null;
  function checkNikLive() {
    const result = checkNik(nik.value);
    const empty = !nik.value.trim();
    message(nikHint, empty ? "" : result.message, result.ok ? "ok" : "error");
    nik.setAttribute("aria-invalid", String(!empty && !result.ok));
    clearTimeout(dtksTimer);
    if (!result.ok) { message(dtksHint, ""); lastDtks = null; return; }
    if (lastDtks && lastDtks.nik === result.value) return;
    message(dtksHint, "Mencari di DTKS…", "muted");
    dtksTimer = setTimeout(() => lookupDtks(result.value), 250);
  }

  async function lookupDtks(value) {
    try {
      const person = await api("dtks_sync", `/dtks/persons/${value}`);
      lastDtks = { nik: value, person };
      const programs = person.programs.length ? person.programs.join(", ") : "belum ada program";
      message(dtksHint, `Terdaftar di DTKS: ${person.name}, desil ${person.desil}, ` +
                        `program: ${programs}.`, "ok");
      if (!name.value.trim()) name.value = person.name;
    } catch (err) {
      if (err.status === 404) {
        lastDtks = { nik: value, person: null };
        message(dtksHint, "Tidak ditemukan di DTKS: Dinsos akan memeriksa manual " +
                          "(dapat diusulkan masuk DTKS).", "warn");
      } else if (err.status === 403) {
        // The access policy keeps DTKS records for verifiers: no hint, no error either.
        lastDtks = { nik: value, person: null };
        message(dtksHint, "Data DTKS diperiksa verifikator Dinsos setelah aduan didaftarkan.",
                "muted");
      } else {
        message(dtksHint, `Data DTKS tidak dapat diperiksa: ${errorText(err)}`, "muted");
      }
    }
    checkKkLive();
  }

  function checkKkLive() {
    if (!kk.value.trim()) { message(kkHint, ""); kk.removeAttribute("aria-invalid"); return; }
    const result = checkKk(kk.value);
    kk.setAttribute("aria-invalid", String(!result.ok));
    let text = result.message;
    let kind = result.ok ? "ok" : "error";
    const person = lastDtks && lastDtks.person;
    if (result.ok && person && person.kk && person.kk !== result.value) {
      text += ". Berbeda dengan KK di DTKS; periksa kartu keluarga warga.";
      kind = "warn";
    }
    message(kkHint, text, kind);
  }

  for (const type of ["input", "change"]) {
    nik.addEventListener(type, checkNikLive);
    kk.addEventListener(type, checkKkLive);
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    message(formError, "");
    const nikResult = checkNik(nik.value);
    const problems = [];
    if (!nikResult.ok) problems.push(nikResult.message);
    if (!name.value.trim()) problems.push("Nama wajib diisi");
    if (kk.value.trim() && !checkKk(kk.value).ok) problems.push(checkKk(kk.value).message);
    if (!category.value) problems.push("Pilih kategori aduan");
    if (!description.value.trim()) problems.push("Uraian aduan wajib diisi");
    if (wilayah.value.trim() && !checkWilayah(wilayah.value).ok) problems.push("Kode desa tidak benar");
    if (problems.length) { message(formError, problems.join(". ") + ".", "error"); return; }

    const citizen = { nik: nikResult.value, name: name.value.trim() };
    if (kk.value.trim()) citizen.kk = checkKk(kk.value).value;
    if (phone.value.trim()) citizen.phone = phone.value.trim();
    const body = { desk, category: category.value, description: description.value.trim(), citizen };
    if (wilayah.value.trim()) body.wilayah = checkWilayah(wilayah.value).value;
    submit.disabled = true;
    submit.textContent = "Menyimpan…";
    try {
      const result = await api("intake", "/complaints", {
        method: "POST", body, headers: { "Idempotency-Key": formKey } });
      showReceipt(result, citizen);
      form.reset();
      [nikHint, dtksHint, kkHint].forEach((el) => message(el, ""));
      lastDtks = null;
      formKey = newKey();
      refreshList();
      // The list is a projection fed by the event: look again shortly.
      timers.push(setTimeout(refreshList, 1500), setTimeout(refreshList, 4000));
    } catch (err) {
      message(formError, `Aduan belum tersimpan: ${errorText(err)}`, "error");
      if (err.field) {
        const target = { "citizen.nik": nik, "citizen.kk": kk, "citizen.phone": phone,
                         category, description, wilayah }[err.field];
        if (target) target.focus();
      }
    } finally {
      submit.disabled = false;
      submit.textContent = "Daftarkan aduan";
    }
  });

  function showReceipt(result, citizen) {
    receipt.hidden = false;
    receipt.replaceChildren(h("div", {},
      h("h2", {}, "Aduan tercatat"),
      h("p", {}, "Nomor registrasi"),
      h("p", { class: "regno", id: "registration-number" }, result.registration_number),
      h("p", {}, `Atas nama ${citizen.name}. Cek status dengan nomor ini dan 4 digit ` +
                 `terakhir NIK (${citizen.nik.slice(-4)}).`),
      result.duplicate_of ? h("p", { class: "hint warn" },
        "Warga ini sudah punya aduan serupa baru-baru ini; aduan ini ditautkan ke aduan itu.") : null,
      h("button", { type: "button", class: "secondary noprint", onclick: () => window.print() },
        "Cetak tanda terima")));
    receipt.scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  // -- today's complaints of the desk ---------------------------------------------------------
  const listBody = h("tbody", { id: "desk-complaints" });
  const listState = h("p", { class: "muted" });
  const list = h("div", { class: "card" },
    h("h2", {}, `Aduan hari ini di meja ${desk}`), listState,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Jam", "Nomor registrasi", "Kategori", "Tahap", "Instansi",
                                  "Operator"].map((t) => h("th", {}, t)))),
      listBody)));

  async function refreshList() {
    try {
      const data = await api("intake", `/desks/${desk}/complaints`);
      listState.textContent = data.complaints.length ? `${data.complaints.length} aduan` :
        "Belum ada aduan hari ini.";
      listBody.replaceChildren(...data.complaints.map((c) => h("tr", {},
        h("td", {}, time(c.registered_at)),
        h("td", { class: "mono nowrap" }, c.registration_number),
        h("td", {}, c.category, c.priority !== "normal" ? badge(PRIORITY[c.priority] || c.priority, c.priority) : null),
        h("td", {}, badge(STAGES[c.stage] || c.stage, c.stage)),
        h("td", {}, (c.agencies || []).join(", ") || "—"),
        h("td", {}, c.registered_by))));
    } catch (err) {
      listState.textContent = `Daftar aduan tidak dapat dimuat: ${errorText(err)}`;
    }
  }

  // -- desk session: the supervisor's board shows this operator online --------------------------
  async function openSession() {
    try {
      session = await api("intake", "/operators/session", { method: "POST", body: { desk } });
      const every = Math.max(10, session.heartbeat_seconds || 60) * 1000;
      timers.push(setInterval(() => {
        api("intake", `/operators/session/${session.session_id}/heartbeat`, { method: "POST" })
          .catch(() => {});
      }, every));
    } catch (err) {
      message(formError, `Sesi meja tidak dapat dibuka: ${errorText(err)}`, "warn");
    }
  }

  api("intake", "/categories")
    .then((data) => category.append(...categoryOptions(data.categories)))
    .catch((err) => message(formError, `Kategori tidak dapat dimuat: ${errorText(err)}`, "error"));
  root.append(h("h1", {}, `Meja Operator — Puskesos ${desk}`),
              h("div", { class: "columns" }, h("div", {}, receipt, form), list));
  openSession();
  refreshList();
  timers.push(setInterval(refreshList, 20000));

  return () => {
    timers.forEach((t) => { clearTimeout(t); clearInterval(t); });
    if (session) {
      api("intake", `/operators/session/${session.session_id}`, { method: "DELETE" }).catch(() => {});
    }
  };
}

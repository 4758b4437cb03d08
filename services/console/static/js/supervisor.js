// Supervisor: the live operator-activity board of the kecamatan (Server-Sent Events; idle
// and deadline-at-risk highlighted) and the SLA board (at risk, overdue, breached) of the
// supervisor's area.

import { api, stream } from "./api.js";
import { ACTIONS, badge, errorText, h, time } from "./ui.js";

const EVENT_LABELS = {
  registration: "mendaftarkan aduan", idle: "menganggur", deadline_at_risk: "tenggat berisiko",
  operator: "status berubah",
};

export function supervisorScreen(root, who) {
  const area = who.area || "";
  const timers = [];
  const operators = new Map();
  let slaSoon = null;

  // -- live board -------------------------------------------------------------------------
  const liveState = h("span", { id: "live-state", class: "badge" }, "menyambung…");
  const summary = h("div", { class: "stats", id: "live-summary" });
  const rows = h("tbody", { id: "operator-rows" });
  const feed = h("ol", { class: "feed", id: "live-feed" });

  function stat(label, value, kind = "") {
    return h("div", { class: `stat ${kind}` }, h("span", { class: "value" }, String(value)),
             h("span", { class: "label" }, label));
  }

  function render() {
    const all = [...operators.values()].sort((a, b) =>
      (a.desk + a.operator_id).localeCompare(b.desk + b.operator_id));
    const count = (fn) => all.filter(fn).length;
    summary.replaceChildren(
      stat("operator", all.length),
      stat("aktif", count((o) => o.online), "ok"),
      stat("menganggur", count((o) => o.idle), count((o) => o.idle) ? "warn" : ""),
      stat("aduan hari ini", all.reduce((n, o) => n + o.complaints_today, 0)),
      stat("tenggat berisiko", all.reduce((n, o) => n + (o.deadlines_at_risk || 0), 0),
           all.some((o) => o.deadline_at_risk) ? "danger" : ""));
    rows.replaceChildren(...all.map((o) => {
      const flags = [];
      if (o.idle) flags.push(badge(`menganggur ${o.idle_minutes} menit`, "warn"));
      if (o.deadline_at_risk) flags.push(badge(`${o.deadlines_at_risk} tenggat berisiko`, "danger"));
      return h("tr", {
        class: [o.idle ? "row-warn" : "", o.deadline_at_risk ? "row-danger" : "",
                o.flash ? "flash" : ""].join(" ").trim(),
        dataset: { operator: o.operator_id },
      },
        h("td", {}, o.operator_id),
        h("td", { class: "mono" }, o.desk),
        h("td", {}, o.online ? badge("aktif", "ok") : badge("tidak aktif", "muted")),
        h("td", {}, o.last_action ? `${ACTIONS[o.last_action] || o.last_action} · ` +
                                    `${time(o.last_action_at)}` : "—"),
        h("td", { class: "num complaints-today" }, String(o.complaints_today)),
        h("td", { class: "num" }, String(o.complaints_week)),
        h("td", {}, flags.length ? flags : "—"));
    }));
  }

  function onEvent(name, data) {
    if (name === "snapshot") {
      operators.clear();
      data.operators.forEach((o) => operators.set(o.operator_id, o));
    } else {
      operators.set(data.operator_id, { ...data, flash: true });
      setTimeout(() => {
        const o = operators.get(data.operator_id);
        if (o) { o.flash = false; render(); }
      }, 3000);
      feed.prepend(h("li", { class: name }, `${time(new Date().toISOString())} — ${data.operator_id} ` +
                                            `(${data.desk}) ${EVENT_LABELS[name] || name}`));
      while (feed.children.length > 20) feed.lastChild.remove();
      // A registration starts SLA clocks: look at the board again once they are recorded.
      if (name === "registration") {
        clearTimeout(slaSoon);
        slaSoon = setTimeout(refreshSla, 1500);
      }
    }
    render();
  }

  function onState(state, err) {
    const text = { open: "langsung", reconnecting: "menyambung ulang…",
                   error: `terputus${err ? `: ${errorText(err)}` : ""}` }[state] || state;
    liveState.textContent = text;
    liveState.className = `badge ${state === "open" ? "ok" : "warn"}`;
  }

  const stopLive = stream("intake", "/operators/live", onEvent, onState);

  const live = h("div", { class: "card" },
    h("h2", {}, "Aktivitas operator ", liveState),
    summary,
    h("div", { class: "table-wrap" }, h("table", { id: "operator-board" },
      h("thead", {}, h("tr", {}, ["Operator", "Meja", "Status", "Aksi terakhir", "Aduan hari ini",
                                  "Minggu ini", "Tanda"].map((t) => h("th", {}, t)))),
      rows)),
    h("h3", {}, "Kejadian terbaru"), feed);

  // -- SLA board ------------------------------------------------------------------------------
  const slaRows = h("tbody", { id: "sla-rows" });
  const slaState = h("p", { class: "muted", id: "sla-state" });
  const slaTable = h("div", { class: "table-wrap" }, h("table", { id: "sla-board" },
    h("thead", {}, h("tr", {}, ["Kecamatan", "Terbuka", "Sesuai jadwal", "Berisiko",
                                "Lewat tenggat", "Dilanggar", "Kepatuhan"].map((t) => h("th", {}, t)))),
    slaRows));
  async function refreshSla() {
    try {
      const board = await api("sla", "/board?by=kecamatan");
      // The board covers every kecamatan; a supervisor sees the ones of its own area.
      const mine = board.rows.filter((r) => !area || r.key.startsWith(area));
      slaState.textContent = `Tenggat 30 hari terakhir, diperbarui ${time(board.now)}.`;
      slaRows.replaceChildren(...(mine.length ? mine.map((r) => h("tr", {
        class: r.overdue || r.breached ? "row-danger" : r.at_risk ? "row-warn" : "",
        dataset: { key: r.key } },
        h("td", { class: "mono" }, r.key),
        h("td", { class: "num" }, String(r.open)),
        h("td", { class: "num" }, String(r.on_track)),
        h("td", { class: "num" }, r.at_risk ? badge(String(r.at_risk), "warn") : "0"),
        h("td", { class: "num" }, r.overdue ? badge(String(r.overdue), "danger") : "0"),
        h("td", { class: "num" }, r.breached ? badge(String(r.breached), "danger") : "0"),
        h("td", { class: "num" }, r.compliance_pct === null ? "—" : `${r.compliance_pct}%`)))
        : [h("tr", {}, h("td", { colspan: 7, class: "muted" }, "Belum ada tenggat di wilayah ini."))]));
      slaTable.hidden = false;
    } catch (err) {
      // A role the access policy keeps from the board sees no board, not an error.
      slaState.textContent = err.status === 403 ? "Papan SLA tidak tersedia untuk peran ini."
        : `Papan SLA tidak dapat dimuat: ${errorText(err)}`;
      slaTable.hidden = err.status === 403;
    }
  }
  const sla = h("div", { class: "card" },
    h("h2", {}, "Papan SLA ",
      h("button", { type: "button", class: "secondary small", onclick: refreshSla }, "Muat ulang")),
    slaState,
    slaTable);

  root.append(h("h1", {}, `Pemantauan Supervisor — wilayah ${area || "semua"}`), live, sla);
  refreshSla();
  timers.push(setInterval(refreshSla, 30000));
  return () => { stopLive(); clearTimeout(slaSoon); timers.forEach(clearInterval); };
}

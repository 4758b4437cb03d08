"""The main job: schema, topology, DTKS replica, the five services and the relay as
separate processes, then a simulated day of complaints at village desks, narrated."""

from __future__ import annotations

import csv
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import requests
from rich.console import Console
from rich.table import Table

from shared.auth import Principal, ensure_run_key
from shared.config import Settings
from shared.supervisor import Stack

CATEGORY_MIX = [("kis", 40), ("bpnt", 20), ("pkh", 12), ("kip", 12), ("rtlh", 6),
                ("adminduk", 5), ("lansia", 3), ("lainnya", 2)]
DEMO_PEOPLE = 3000


def ensure_dtks(settings: Settings, console: Console, people: int = DEMO_PEOPLE) -> Path:
    """A generated DTKS slice for the kabupaten, imported through the real import path
    (a re-import of the same file is a no-op)."""
    from services.dtks_sync.generator import generate
    from services.dtks_sync.importer import import_file

    path = Path("var") / f"dtks-demo-{settings.default_kabupaten}-{people}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        generate(path, people, seed=7, kabupaten=settings.default_kabupaten)
    result = import_file(settings.pg_dsn, path)
    console.print(f"DTKS replica: snapshot [bold]{result.snapshot_id}[/] "
                  f"({'unchanged' if result.noop else f'{result.rows_loaded} people imported'})")
    return path


class DemoUsers:
    """The demo's desk operators and agency officers: each is created in auth.users the
    first time it acts (as `sedulur users create` would) and gets a token issued for the
    stored user (as `sedulur users token` would)."""

    def __init__(self, settings: Settings) -> None:
        from shared.db import Database
        from shared.users import UserStore

        self.db = Database.from_settings(settings, max_size=2)
        self.store = UserStore(self.db)
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def bearer(self, principal: Principal) -> dict[str, str]:
        with self._lock:
            if principal.user_id not in self._tokens:
                self.store.create(principal, display_name=f"demo {principal.role}")
                self._tokens[principal.user_id] = self.store.token(principal.user_id)
            return {"Authorization": f"Bearer {self._tokens[principal.user_id]}"}

    def close(self) -> None:
        self.db.close()


def ensure_keys(console: Console) -> None:
    """Signed tokens need SEDULUR_JWT_KEYS in every process; a demo without one gets a key
    for this run only (the services inherit it)."""
    if ensure_run_key("demo"):
        console.print("auth: no SEDULUR_JWT_KEYS set; signing with a key of this run only "
                      "(to call the API from another shell, export SEDULUR_JWT_KEYS from "
                      "`sedulur users new-key` before starting, then `sedulur users token`)")


def run_stack(settings: Settings, *, log_dir: Path, complaints: int, console: Console) -> None:
    from shared.migrations import create_database, migrate
    from shared.topology import declare

    console.rule("[bold]Sedulur")
    create_database(settings, settings.pg.dbname)
    migrate(settings)
    console.print("schema: up to date")
    queues = declare(settings)
    console.print(f"RabbitMQ: {len(queues)} consumer queues declared before the first publish")
    dtks_file = ensure_dtks(settings, console)
    ensure_keys(console)
    with Stack(settings, log_dir) as stack:
        stack.start_all()
        stack.wait_healthy(timeout=90)
        for name in stack.processes:
            where = "" if name == "relay" else f" on {settings.http_url(name)}"
            console.print(f"  [green]up[/] {name}{where}")
        _console_links(settings, console)
        if complaints <= 0:
            console.print("running; Ctrl-C stops everything")
            try:
                supervise(stack, console)
            except KeyboardInterrupt:
                pass
            return
        simulate_day(settings, dtks_file, complaints, console)
        console.print("stopping services (SIGTERM drains in-flight work)")


def supervise(stack: Stack, console: Any, *, max_restarts: int = 5,
              window: float = 60.0) -> None:
    """Restart a process that exits (a service exits 70 when its container died), like a
    container runtime's restart policy; give up on one that crash-loops (more than
    `max_restarts` within `window` seconds) and stop everything."""
    restarts: dict[str, list[float]] = {}
    while True:
        time.sleep(1)
        for name, proc in list(stack.processes.items()):
            code = proc.popen.poll()
            if code is None:
                continue
            now = time.monotonic()
            recent = [t for t in restarts.get(name, []) if now - t < window] + [now]
            restarts[name] = recent
            if len(recent) > max_restarts:
                console.print(f"[red]{name} exited {code} {len(recent)} times within"
                              f" {window:.0f}s; stopping (see {proc.log_path})[/]")
                return
            console.print(f"[yellow]{name} exited with {code}; restarting[/]")
            stack.start(name)


def _people(dtks_file: Path, n: int, rng: random.Random) -> list[dict[str, str]]:
    with dtks_file.open() as fh:
        rows = list(csv.DictReader(fh))
    return rng.sample(rows, min(n, len(rows)))


def _not_in_dtks(nik: str, known: set[str]) -> str:
    for serial in range(9999, 0, -1):
        candidate = nik[:12] + f"{serial:04d}"
        if candidate not in known:
            return candidate
    raise RuntimeError("no free NIK serial")


def simulate_day(settings: Settings, dtks_file: Path, count: int, console: Console,
                 seed: int = 11) -> dict[str, Any]:
    from services.dtks_sync.generator import kecamatan_codes
    from shared.eventstore import ComplaintsApplication

    rng = random.Random(seed)
    people = _people(dtks_file, count, rng)
    known = {p["NIK"] for p in people}
    desks = kecamatan_codes(settings.default_kabupaten)[:6]
    categories = [c for c, w in CATEGORY_MIX for _ in range(w)]
    intake = settings.http_url("intake")
    users = DemoUsers(settings)

    def register(i: int) -> dict[str, Any]:
        person = people[i % len(people)]
        # About one in five citizens is not (yet) in DTKS: those must end Rejected.
        nik = person["NIK"] if (i % 5) else _not_in_dtks(person["NIK"], known)
        desk = desks[i % len(desks)]
        citizen = {"nik": nik, "name": person["NAMA"]}
        if nik == person["NIK"]:
            # the not-registered ones come without a KK: a family card known to DTKS would
            # send them to the manual desk (nik_not_found_kk_found) instead of a rejection
            citizen["kk"] = person["NO_KK"]
        body = {"desk": desk, "category": rng.choice(categories),
                "description": "Aduan warga di meja Puskesos (simulasi)",
                "citizen": citizen, "wilayah": person["KODE_WILAYAH"]}
        headers = {**users.bearer(Principal(user_id=f"operator-{desk}-{i % 3}",
                                            role="operator", desk=desk)),
                   "Idempotency-Key": f"demo-{seed}-{i}"}
        resp = requests.post(f"{intake}/complaints", json=body, headers=headers, timeout=30)
        resp.raise_for_status()
        return resp.json()

    console.rule(f"A simulated day: {count} complaints at {len(desks)} desks")
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        registered = list(pool.map(register, range(count)))
    console.print(f"registered {len(registered)} complaints in "
                  f"{time.monotonic() - started:.1f}s; each has a registration number at once")

    app = ComplaintsApplication(settings)
    try:
        ids = [UUID(r["complaint_id"]) for r in registered]
        stages = wait_for(app, ids, {"referred", "rejected"}, timeout=120)
        referred = [cid for cid in ids if stages[cid] == "referred"]
        console.print(f"verification against DTKS + routing: {Counter(stages.values())}")

        def resolve(cid: UUID) -> None:
            complaint = app.get_complaint(cid)
            for agency in complaint.open_referrals:
                requests.post(
                    f"{settings.http_url('routing')}/referrals/{cid}/resolve",
                    json={"agency": agency, "outcome": "Ditindaklanjuti: bantuan diproses"},
                    headers=users.bearer(Principal(
                        user_id=f"petugas-{agency.lower()}-{complaint.kabupaten}",
                        role="agency", agency=agency, kabupaten=complaint.kabupaten)),
                    timeout=30,
                ).raise_for_status()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(resolve, referred))
        final = wait_for(app, ids, {"resolved", "rejected"}, timeout=120)
        summary = Counter(final.values())
        console.print(f"agencies resolved their referrals: {dict(summary)}")
        _narrate(app, console, next(c for c in ids if final[c] == "resolved"))
        _narrate(app, console, next(c for c in ids if final[c] == "rejected"))
        _projections(settings, console, ids)
        _access_log(intake, users, console, ids[0])
        return {"stages": dict(summary), "complaints": len(ids)}
    finally:
        app.close()
        users.close()


def _access_log(intake: str, users: DemoUsers, console: Console, complaint_id: UUID) -> None:
    """The desk operator reads a complaint (personal data: logged), then the auditor asks
    the access log who read it."""
    auditor = users.bearer(Principal(user_id="auditor-demo", role="auditor"))
    first = requests.get(f"{intake}/complaints/{complaint_id}", headers=auditor, timeout=30)
    first.raise_for_status()
    entries = requests.get(f"{intake}/audit/access-log", params={"complaint_id": str(complaint_id)},
                           headers=auditor, timeout=30)
    entries.raise_for_status()
    who = sorted({e["user_id"] for e in entries.json()["entries"]})
    console.print(f"access log: {len(entries.json()['entries'])} read(s) of {complaint_id} "
                  f"by {', '.join(who)}")


def wait_for(app: Any, ids: list[UUID], stages: set[str], timeout: float) -> dict[UUID, str]:
    deadline = time.monotonic() + timeout
    current: dict[UUID, str] = {}
    while True:
        for cid in ids:
            if current.get(cid) not in stages:
                current[cid] = app.get_complaint(cid).stage.value
        if all(s in stages for s in current.values()):
            return current
        if time.monotonic() > deadline:
            late = Counter(s for s in current.values() if s not in stages)
            raise TimeoutError(f"complaints still waiting after {timeout}s: {dict(late)}")
        time.sleep(0.3)


def _narrate(app: Any, console: Console, complaint_id: UUID) -> None:
    events = app.stored_events(complaint_id)
    first = events[0]
    table = Table(title=f"{first.registration_number}  ({complaint_id})", title_justify="left")
    for col in ("v", "time (UTC)", "event", "actor", "detail"):
        table.add_column(col)
    for e in events:
        name = type(e).__name__
        detail = {
            "Registered": lambda e: f"{e.category} at desk {e.desk} via {e.channel}",
            "Verified": lambda e: f"rule {e.rule}, DTKS {e.dtks_snapshot}: {'; '.join(e.reasons)}",
            "Rejected": lambda e: f"{e.reason_code}: {e.reason} (DTKS {e.dtks_snapshot})",
            "ReferredToOPD": lambda e: f"to {e.agency} by rule {e.routing_rule}",
            "Resolved": lambda e: f"by {e.agency}: {e.outcome}",
        }.get(name, lambda e: "")(e)
        table.add_row(str(e.originator_version), e.timestamp.strftime("%H:%M:%S.%f")[:-3], name,
                      f"{e.actor['user_id']} ({e.actor['role']})", detail)
    console.print(table)
    console.print("  " + " → ".join(type(e).__name__ for e in events))


def _projections(settings: Settings, console: Console, ids: list[UUID]) -> None:
    from shared.db import connect

    with connect(settings.pg_dsn) as conn:
        queue = conn.execute(
            "SELECT agency, status, count(*) FROM routing.agency_queue WHERE complaint_id = ANY(%s)"
            " GROUP BY 1, 2 ORDER BY 1, 2", (ids,)).fetchall()
        activity = conn.execute(
            "SELECT operator_id, complaints, last_action FROM intake.operator_activity"
            " ORDER BY operator_id").fetchall()
        deadlines = conn.execute(
            "SELECT stage, count(*) FILTER (WHERE closed_at IS NULL), count(*) FROM sla.deadlines"
            " WHERE complaint_id = ANY(%s) GROUP BY 1 ORDER BY 1", (ids,)).fetchall()
    table = Table(title="agency work queues (routing projection)", title_justify="left")
    for col in ("agency", "status", "referrals"):
        table.add_column(col)
    for row in queue:
        table.add_row(*map(str, row))
    console.print(table)
    console.print("operator activity (intake projection): " + ", ".join(
        f"{op}={n}" for op, n, _ in activity))
    console.print("SLA deadlines (open/total): " + ", ".join(
        f"{stage} {open_}/{total}" for stage, open_, total in deadlines))


def _console_links(settings: Settings, console: Console) -> None:
    from services.console import login_links
    from services.dtks_sync.generator import kecamatan_codes

    console.print("web console (open a link per role):")
    for label, url in login_links(settings, kecamatan_codes(settings.default_kabupaten)[0]):
        console.print(f"  {label}: {url}", soft_wrap=True)

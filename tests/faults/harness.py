"""The fault-injection harness: a bounded generated load of desks registering complaints
(retrying with the same Idempotency-Key when a request fails, as a desk would), agencies
resolving their referrals, an agency subscriber, and the wait until the system settled.

Every number in docs/reliability.md comes from here; nothing here asserts a time.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import eventlet
import requests

from shared.config import Settings
from shared.eventstore import ComplaintsApplication
from shared.rabbit import RabbitAdmin
from tests.helpers import actor_headers

CATEGORIES = ["kis", "kis", "bpnt", "pkh", "kip", "rtlh", "adminduk"]
FINAL = {"referred", "rejected", "resolved"}
RETRYABLE = {500, 502, 503, 504}


def operator_headers(desk: str, user: str, key: str | None = None) -> dict[str, str]:
    headers = actor_headers(user, "operator", desk=desk)
    if key:
        headers["Idempotency-Key"] = key
    return headers


def agency_headers(agency: str) -> dict[str, str]:
    return actor_headers(f"petugas-{agency.lower()}", "agency", agency=agency)


@dataclass
class Accepted:
    complaint_id: UUID
    registration_number: str
    key: str
    at: float
    attempts: int
    resolve: bool


@dataclass
class Load:
    """`count` complaints offered evenly over `seconds` by `desks` concurrent clients."""

    settings: Settings
    people: list[dict[str, str]]
    tag: str
    count: int
    seconds: float
    desks: int = 6
    give_up_after: float = 120.0
    seed: int = 13
    desk_codes: list[str] = field(default_factory=list)
    accepted: dict[UUID, Accepted] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    offered: int = 0
    retries: int = 0
    started: float = 0.0
    finished: float = 0.0
    _threads: list[Any] = field(default_factory=list)

    def start(self) -> Load:
        self.started = time.monotonic()
        rng = random.Random(f"{self.seed}-{self.tag}")
        known = {p["NIK"] for p in self.people}
        plan = []
        for i in range(self.count):
            person = rng.choice(self.people)
            nik = person["NIK"]
            if i % 5 == 0:  # one in five is not in DTKS: must end Rejected
                nik = next(nik[:12] + f"{s:04d}" for s in range(9999, 0, -1)
                           if nik[:12] + f"{s:04d}" not in known)
            plan.append((i, person, nik, rng.choice(CATEGORIES)))
        per_desk = [plan[d::self.desks] for d in range(self.desks)]
        kecamatan = sorted({p["KODE_WILAYAH"][:6] for p in self.people})
        # one operator per desk, as at a real Puskesos; citizens come from anywhere
        self.desk_codes = [kecamatan[d % len(kecamatan)] for d in range(self.desks)]
        self._threads = [eventlet.spawn(self._desk, d, items) for d, items in
                         enumerate(per_desk)]
        return self

    def _desk(self, d: int, items: list[tuple[int, dict[str, str], str, str]]) -> None:
        interval = self.seconds / max(1, self.count)
        for i, person, nik, category in items:
            due = self.started + i * interval
            eventlet.sleep(max(0.0, due - time.monotonic()))
            self.offered += 1
            desk = self.desk_codes[d]
            citizen = {"nik": nik, "name": person["NAMA"]}
            if nik == person["NIK"]:
                # A made-up NIK with a real family's KK is a manual-desk case (NIK not
                # found, KK found), which waits for a verifier; the load wants decisions.
                citizen["kk"] = person["NO_KK"]
            body = {"desk": desk, "category": category,
                    "description": f"Aduan warga (uji gangguan {self.tag})",
                    "citizen": citizen, "wilayah": person["KODE_WILAYAH"]}
            key = f"fault-{self.tag}-{i}"
            self._register(body, operator_headers(desk, f"op-{self.tag}-{d}", key), key,
                           resolve=i % 2 == 0)

    def _register(self, body: dict[str, Any], headers: dict[str, str], key: str, *,
                  resolve: bool) -> Accepted | None:
        deadline = time.monotonic() + self.give_up_after
        backoff = 0.2
        attempts = 0
        url = f"{self.settings.http_url('intake')}/complaints"
        while time.monotonic() < deadline:
            attempts += 1
            try:
                resp = requests.post(url, json=body, headers=headers, timeout=15)
            except requests.RequestException:
                resp = None
            if resp is not None and resp.status_code in (200, 201):
                data = resp.json()
                got = Accepted(UUID(data["complaint_id"]), data["registration_number"], key,
                               time.monotonic(), attempts, resolve)
                self.accepted[got.complaint_id] = got
                return got
            if resp is not None and resp.status_code not in RETRYABLE:
                self.refused.append(f"{key}: {resp.status_code} {resp.text[:200]}")
                return None
            self.retries += 1
            eventlet.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
        self.refused.append(f"{key}: gave up after {attempts} attempts")
        return None

    def register_one(self, key: str, person: dict[str, str]) -> Accepted | None:
        self.offered += 1
        desk = person["KODE_WILAYAH"][:6]
        body = {"desk": desk, "category": "bpnt", "description": "Aduan uji pemulihan",
                "citizen": {"nik": person["NIK"], "name": person["NAMA"]},
                "wilayah": person["KODE_WILAYAH"]}
        return self._register(body, operator_headers(desk, f"op-{self.tag}-probe", key), key,
                              resolve=False)

    def join(self) -> None:
        for t in self._threads:
            t.wait()
        self.finished = time.monotonic()

    @property
    def longest_stall(self) -> float:
        """Longest time within the load without any desk getting an answer."""
        times = sorted([self.started] + [a.at for a in self.accepted.values()])
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


class Resolver:
    """Agencies resolving half of the referred complaints while the load runs (a resolve
    retried after a lost answer meets 409 already_resolved: done, as an agency would)."""

    def __init__(self, settings: Settings, app: ComplaintsApplication) -> None:
        self.settings = settings
        self.app = app
        self.pending: set[UUID] = set()
        self.done: set[UUID] = set()
        self.errors: list[str] = []

    def add(self, load: Load) -> None:
        self.pending |= {cid for cid, a in load.accepted.items()
                         if a.resolve and cid not in self.done}

    def step(self) -> None:
        url = self.settings.http_url("routing")
        for cid in list(self.pending):
            try:
                complaint = self.app.get_complaint(cid)
            except Exception:  # noqa: BLE001 - not readable yet; next round
                continue
            stage = complaint.stage.value
            if stage in ("rejected", "resolved"):
                self.pending.discard(cid)
                self.done.add(cid)
                continue
            for agency in complaint.open_referrals:
                try:
                    resp = requests.post(f"{url}/referrals/{cid}/resolve",
                                         json={"agency": agency, "outcome": "Selesai (uji)"},
                                         headers=agency_headers(agency), timeout=15)
                except requests.RequestException:
                    continue
                if resp.status_code not in (200, 409) and resp.status_code not in RETRYABLE:
                    self.errors.append(f"{cid}: {resp.status_code} {resp.text[:200]}")
                    self.pending.discard(cid)


@dataclass
class Subscriber:
    """An agency subscriber without Python's help from Sedulur: reads every
    agency.<kab>.<agency> queue with basic.get + ack, keeping every delivery (duplicates
    included) for the dedupe-by-id check."""

    settings: Settings
    admin: RabbitAdmin
    vhost: str
    received: list[dict[str, Any]] = field(default_factory=list)
    queues: set[str] = field(default_factory=set)

    def drain(self) -> int:
        from kombu import Connection

        names = [q["name"] for q in self.admin.queues(self.vhost)
                 if q["name"].startswith("agency.")]
        got = 0
        with Connection(self.settings.amqp_uri, connect_timeout=10) as conn:
            channel = conn.channel()
            for name in names:
                self.queues.add(name)
                while True:
                    message = channel.basic_get(name, no_ack=False)
                    if message is None:
                        break
                    self.received.append(json.loads(message.body))
                    channel.basic_ack(message.delivery_tag)
                    got += 1
            channel.close()
        return got

    @property
    def subscribed(self) -> set[tuple[str, str]]:
        return {tuple(q.split(".", 2)[1:]) for q in self.queues}  # type: ignore[misc]


def consumer_backlog(admin: RabbitAdmin, vhost: str) -> dict[str, int]:
    out = {}
    for q in admin.queues(vhost):
        if q["name"].startswith("evt-"):
            n = int(q.get("messages_ready", 0)) + int(q.get("messages_unacknowledged", 0))
            if n:
                out[q["name"]] = n
    return out


def settle(settings: Settings, app: ComplaintsApplication, admin: RabbitAdmin, vhost: str,
           accepted: dict[UUID, Accepted], resolver: Resolver, timeout: float = 150,
           probe: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Wait until every accepted complaint reached its final stage in the store and in
    intake's status projection, the relay published everything and no consumer queue
    holds a message. Returns what was still open at the deadline (empty when settled)."""
    from shared.db import connect
    from shared.relay import relay_lag

    deadline = time.monotonic() + timeout
    stages: dict[UUID, str] = {}
    quiet_since: float | None = None
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resolver.step()
        for cid in accepted:
            if stages.get(cid) in ("rejected", "resolved"):
                continue
            try:
                stages[cid] = app.get_complaint(cid).stage.value
            except Exception:  # noqa: BLE001
                stages[cid] = "missing"
        open_ = {cid: s for cid, s in stages.items()
                 if s not in FINAL or (s == "referred" and accepted[cid].resolve)}
        state = {"not final": len(open_)}
        if not open_:
            try:
                lag = relay_lag(settings)["lag"]
                backlog = consumer_backlog(admin, vhost)
                with connect(settings.pg_dsn) as conn:
                    behind = conn.execute(
                        "SELECT count(*) FROM intake.complaint_status"
                        " WHERE complaint_id = ANY(%s) AND stage <> ALL(%s)",
                        (list(accepted), ["referred", "rejected", "resolved"])).fetchone()[0]
                    present = conn.execute(
                        "SELECT count(*) FROM intake.complaint_status"
                        " WHERE complaint_id = ANY(%s)", (list(accepted),)).fetchone()[0]
            except Exception as exc:  # noqa: BLE001 - broker/db still coming back
                state = {"error": repr(exc)}
                quiet_since = None
                eventlet.sleep(1)
                continue
            state = {"relay lag": lag, "backlog": backlog,
                     "status projection behind": behind + len(accepted) - present}
            if lag == 0 and not backlog and behind == 0 and present == len(accepted) and \
                    (probe is None or probe()):
                # management statistics trail by a few seconds: quiet twice, 5 s apart
                if quiet_since is None:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= 5:
                    return {}
            else:
                quiet_since = None
        eventlet.sleep(1)
    from collections import Counter

    state["stages"] = dict(Counter(stages.values()))
    return state

"""Verification by rules-as-data against a real DTKS replica loaded from generated data:
every rule outcome (verify, reject with a reason, manual desk), the desk emptied by the
Verified/Rejected projection (also under 20 concurrent decisions), re-evaluation on a new
snapshot, usulan proposals and their per-desa export, and snapshot change detection."""

from __future__ import annotations

import csv
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import eventlet
import pytest
import requests
from typer.testing import CliRunner

from services.dtks_sync.application import PROGRAMS, DtksReplica, changes
from services.dtks_sync.generator import generate
from services.dtks_sync.service import DtksSyncService
from services.verification.adapters import DeskStore
from services.verification.application import Verification
from services.verification.cli import export
from services.verification.domainmodel import DtksAnswer
from services.verification.projections import VerificationCases
from services.verification.rules import RuleFile
from services.verification.service import VerificationService
from shared.cli import app as sedulur
from shared.complaints.domainmodel import Complaint, complaint_id_for
from shared.db import Database
from shared.errors import WrongStage
from tests.helpers import (
    AUDITOR,
    actor_headers,
    relay_running,
    running_service,
    stored_event_types,
    wait_until,
)

SYSTEM = {"user_id": "system:test", "role": "system", "desk": None}
OPERATOR = {"user_id": "op", "role": "operator", "desk": "332501"}


def verifier(i: int | str = 1) -> dict[str, str]:
    return actor_headers(f"verifier-{i}", "verifier")


# --- generated DTKS data ------------------------------------------------------------------


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> list[dict[str, Any]]:
    """~400 generated people (Faker id_ID names, valid NIKs, families sharing a KK) in the
    shape DtksReplica.load_people takes."""
    path = tmp_path_factory.mktemp("dtks") / "dtks.csv"
    generate(path, 400, seed=5, kabupaten="3325")
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            {"nik": r["NIK"], "kk": r["NO_KK"], "name": r["NAMA"], "birth_date": r["TGL_LAHIR"],
             "sex": r["JNS_KEL"], "wilayah": r["KODE_WILAYAH"], "desil": int(r["DESIL"]),
             "programs": [p for p in PROGRAMS if r[p] == "1"]}
            for r in csv.DictReader(fh)
        ]


def families(people: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in people:
        out.setdefault(p["kk"], []).append(p)
    return out


@pytest.fixture(scope="module")
def cast(people) -> dict[str, Any]:
    """Named people for each rule outcome; the rest of the generated data stays as it is.
    `absent_*` are generated people left out of the loaded snapshot."""
    fams = [f for f in families(people).values() if len(f) >= 3]
    kk_only_family, gone_family = fams[0], fams[1]
    present = [p for f in fams[2:] for p in f]
    c = {
        "eligible": {**present[0], "desil": 2, "programs": ["PKH"]},
        "rich": {**present[1], "desil": 9, "programs": []},
        "has_kis": {**present[2], "desil": 3, "programs": ["PBI_JK"]},
        "mismatch": {**present[3], "desil": 2, "programs": []},
        "absent_in_family": {**kk_only_family[0], "desil": 2, "programs": []},
        "absent": gone_family[0],
    }
    left_out = {kk_only_family[0]["nik"]} | {p["nik"] for p in gone_family}
    changed = {p["nik"]: p for p in c.values()}
    c["snapshot_rows"] = [changed.get(p["nik"], p) for p in people if p["nik"] not in left_out]
    c["with_absent_member"] = c["snapshot_rows"] + [c["absent_in_family"]]
    return c


@pytest.fixture(scope="module")
def db(sedulur_env):
    database = Database.from_settings(sedulur_env)
    yield database
    database.close()


@pytest.fixture(scope="module")
def replica(db) -> DtksReplica:
    return DtksReplica(db)


class LocalRegistry:
    """The registry as the verification service sees it over RPC, read in-process."""

    def __init__(self, replica: DtksReplica) -> None:
        self.replica = replica

    def current_snapshot_id(self) -> str | None:
        current = self.replica.current_snapshot()
        return current["id"] if current else None

    def lookup(self, nik: str, kk: str | None) -> DtksAnswer:
        from datetime import datetime

        person = self.replica.lookup_nik(nik)
        family = self.replica.lookup_kk(kk) if person is None and kk else []
        current = self.replica.current_snapshot() or {}
        return DtksAnswer(person=person, family=family, snapshot_id=current.get("id"),
                          snapshot_at=datetime.fromisoformat(current["finished_at"])
                          if current.get("finished_at") else None)


@pytest.fixture(scope="module")
def verification(sedulur_env, db):
    desk = DeskStore(db)
    app = Verification(sedulur_env, rules=RuleFile().current, desk=desk)
    yield app, VerificationCases(app, db), desk
    app.close()


def register(app, person: dict[str, Any], *, category: str = "kis", name: str | None = None,
             kk: str | None = None, kabupaten: str = "3325") -> uuid.UUID:
    key = f"verif-{uuid.uuid4()}"
    citizen = {"nik": person["nik"], "name": name or person["name"]}
    if kk:
        citizen["kk"] = kk
    complaint = Complaint.register(
        complaint_id=complaint_id_for(key), registration_number=key, kabupaten=kabupaten,
        desk=person["wilayah"][:6], channel="desk", category=category, description="aduan",
        citizen=citizen, wilayah=person["wilayah"], priority="normal", confidential=False,
        actor=OPERATOR, correlation_id=key)
    app.save_or_conflict(complaint)
    return complaint.id


def decide(verification, replica, person, **kw) -> tuple[uuid.UUID, Any]:
    app, cases, _ = verification
    cid = register(app, person, **kw)
    cases.catch_up(cid)
    outcome = app.decide(cid, LocalRegistry(replica), actor=SYSTEM, correlation_id="t")
    cases.catch_up(cid)
    return cid, outcome


def last_event(app, cid) -> Any:
    return app.stored_events(cid)[-1]


def desk_ids(desk: DeskStore, **kw) -> set[str]:
    return {c["complaint_id"] for c in desk.cases(limit=500, **kw)["cases"]}


# --- every rule outcome ------------------------------------------------------------------


def test_eligible_citizen_is_verified_naming_rule_and_snapshot(verification, replica, cast):
    snapshot = replica.load_people(cast["snapshot_rows"])
    cid, outcome = decide(verification, replica, cast["eligible"])
    event = last_event(verification[0], cid)
    assert type(event).__name__ == "Verified"
    assert (event.rule, event.dtks_snapshot) == ("kis.eligible", snapshot)
    assert event.reasons and "desil 2" in event.reasons[0]


@pytest.mark.parametrize("who, category, code, rule", [
    ("rich", "kis", "desil_above_threshold", "kis.desil"),
    ("has_kis", "kis", "already_has_program", "kis.must_not_have_PBI_JK"),
    ("absent", "kis", "not_in_dtks", "kis.terdaftar"),
])
def test_rule_rejects_with_reason_code_rule_and_snapshot(verification, replica, cast, who,
                                                         category, code, rule):
    snapshot = replica.load_people(cast["snapshot_rows"])
    cid, _ = decide(verification, replica, cast[who], category=category)
    event = last_event(verification[0], cid)
    assert type(event).__name__ == "Rejected"
    assert (event.reason_code, event.rule, event.dtks_snapshot) == (code, rule, snapshot)
    assert event.reason


def test_category_not_requiring_dtks_verifies_a_citizen_outside_it(verification, replica, cast):
    replica.load_people(cast["snapshot_rows"])
    cid, _ = decide(verification, replica, cast["absent"], category="adminduk")
    event = last_event(verification[0], cid)
    assert (type(event).__name__, event.rule) == ("Verified", "adminduk.tanpa_dtks")


def test_name_differing_only_in_case_spacing_and_titles_is_not_a_mismatch(
        verification, replica, cast):
    replica.load_people(cast["snapshot_rows"])
    name = f"  Hj.  {cast['eligible']['name'].upper()} ,  S.Pd. "
    cid, _ = decide(verification, replica, cast["eligible"], name=name)
    assert type(last_event(verification[0], cid)).__name__ == "Verified"


@pytest.mark.parametrize("case, reason", [
    ("mismatch", "name_mismatch"),
    ("kk_only", "nik_not_found_kk_found"),
])
def test_unclear_case_goes_to_the_manual_desk_without_a_decision(verification, replica, cast,
                                                                  case, reason):
    app, _, desk = verification
    snapshot = replica.load_people(cast["snapshot_rows"])
    if case == "mismatch":
        cid, outcome = decide(verification, replica, cast["mismatch"], name="Xaverius Qomaruddin")
    else:
        person = cast["absent_in_family"]
        cid, outcome = decide(verification, replica, person, kk=person["kk"])
    assert outcome.to_desk and outcome.reason_code == reason
    assert stored_event_types(app, cid) == ["Registered"]
    [row] = [c for c in desk.cases(limit=500, reason=reason)["cases"]
             if c["complaint_id"] == str(cid)]
    assert (row["desk_reason"], row["dtks_snapshot"]) == (reason, snapshot)
    assert row["detail"]


def test_stale_registry_sends_every_case_to_the_desk(sedulur_env, db, replica, cast,
                                                     verification):
    replica.load_people(cast["snapshot_rows"])
    _, cases, desk = verification
    finished = LocalRegistry(replica).lookup(cast["eligible"]["nik"], None).snapshot_at
    later = Verification(sedulur_env, rules=RuleFile().current, desk=desk,
                         clock=lambda: finished + timedelta(days=121))
    try:
        cid = register(later, cast["eligible"])
        cases.catch_up(cid)
        outcome = later.decide(cid, LocalRegistry(replica), actor=SYSTEM, correlation_id="t")
    finally:
        later.close()
    assert outcome.to_desk and outcome.reason_code == "registry_stale"
    assert str(cid) in desk_ids(desk, reason="registry_stale")


def test_invalid_rules_file_is_refused_and_a_broken_edit_keeps_the_rules_in_force(tmp_path):
    from shared.errors import ConfigurationError

    path = tmp_path / "rules.yaml"
    path.write_text(Path(RuleFile().path).read_text())
    rules = RuleFile(path)
    assert rules.current().categories["kis"].max_desil == 5
    path.write_text(path.read_text().replace("kis:      {max_desil: 5", "kis:      {max_desil: 2"))
    import os
    os.utime(path, ns=(1, 1))
    assert rules.current().categories["kis"].max_desil == 2
    path.write_text(path.read_text().replace("must_not_have: [PBI_JK]", "must_not_have: [XYZ]"))
    os.utime(path, ns=(2, 2))
    assert rules.current().categories["kis"].max_desil == 2
    assert isinstance(rules.last_error, ConfigurationError)
    with pytest.raises(ConfigurationError):
        RuleFile(path)


# --- a new snapshot re-evaluates the desk -------------------------------------------------


def test_new_snapshot_decides_desk_cases_it_settles_and_keeps_the_rest(verification, replica,
                                                                       cast):
    app, _, desk = verification
    replica.load_people(cast["snapshot_rows"])
    person = cast["absent_in_family"]
    kk_case, _ = decide(verification, replica, person, kk=person["kk"])
    name_case, _ = decide(verification, replica, cast["mismatch"], name="Xaverius Qomaruddin")
    registry = LocalRegistry(replica)
    app.reevaluate_desk(registry, actor=SYSTEM, correlation_id="t")  # mark current as seen

    new_snapshot = replica.load_people(cast["with_absent_member"])
    result = app.reevaluate_desk(registry, actor=SYSTEM, correlation_id="snapshot")
    assert result["snapshot_id"] == new_snapshot and result["decided"] >= 1
    event = last_event(app, kk_case)
    assert (type(event).__name__, event.dtks_snapshot) == ("Verified", new_snapshot)
    VerificationCases(app, desk.db).catch_up(kk_case)
    on_desk = desk_ids(desk)
    assert str(kk_case) not in on_desk and str(name_case) in on_desk
    again = app.reevaluate_desk(registry, actor=SYSTEM, correlation_id="again")
    assert again["evaluated"] == 0  # the same snapshot is not re-evaluated twice


# --- change detection between snapshots -----------------------------------------------------


def test_change_report_lists_added_removed_desil_and_program_changes(db, replica, people,
                                                                     tmp_path):
    base = people[:60]
    old_rows = base[:55]
    new_rows = [dict(p) for p in base[3:]]  # 0..2 removed, 55..59 added
    by_nik = {p["nik"]: p for p in new_rows}
    desil_nik, program_nik, both_nik = base[10]["nik"], base[11]["nik"], base[12]["nik"]
    by_nik[desil_nik]["desil"] = by_nik[desil_nik]["desil"] % 10 + 1
    by_nik[program_nik]["programs"] = [] if by_nik[program_nik]["programs"] else ["KIP"]
    by_nik[both_nik]["desil"] = by_nik[both_nik]["desil"] % 10 + 1
    by_nik[both_nik]["programs"] = [] if by_nik[both_nik]["programs"] else ["PIP"]
    old = replica.load_people(old_rows)
    new = replica.load_people(new_rows)

    report = changes(db, old, new, limit=None)
    kinds = {c["nik"]: set(c["changes"]) for c in report["changes"]}
    assert {n for n, k in kinds.items() if "added" in k} == {p["nik"] for p in base[55:]}
    assert {n for n, k in kinds.items() if "removed" in k} == {p["nik"] for p in base[:3]}
    assert {n for n, k in kinds.items() if "desil_changed" in k} == {desil_nik, both_nik}
    assert {n for n, k in kinds.items() if "program_changed" in k} == {program_nik, both_nik}
    assert report["summary"] == {"added": 5, "removed": 3, "desil_changed": 2,
                                 "program_changed": 2}
    both = next(c for c in report["changes"] if c["nik"] == both_nik)
    assert both["new_desil"] == by_nik[both_nik]["desil"]
    assert replica.changes()["summary"] == report["summary"]  # default: previous -> current

    out = tmp_path / "changes.csv"
    result = CliRunner().invoke(sedulur, ["dtks", "diff", old, new, "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 added, 3 removed, 2 desil changed, 2 program changed" in result.output
    assert len(out.read_text().splitlines()) == 1 + 5 + 3 + 3  # header + one line a person


# --- over HTTP: the desk, concurrent decisions, usulan ------------------------------------


@pytest.fixture(scope="module")
def urls(topology_declared):
    with running_service(DtksSyncService, topology_declared) as dtks_url, \
            running_service(VerificationService, topology_declared, max_workers=20,
                            SEDULUR_VERIFICATION_SNAPSHOT_CHECK_SECONDS=3600) as url:
        yield {"verification": url, "dtks": dtks_url}


def test_desk_case_decided_twenty_times_concurrently_appends_once_and_leaves_the_desk(
        urls, verification, replica, cast):
    app, _, desk = verification
    replica.load_people(cast["snapshot_rows"])
    cid, outcome = decide(verification, replica, cast["mismatch"], name="Xaverius Qomaruddin")
    assert outcome.to_desk
    listed = requests.get(f"{urls['verification']}/desk",
                          params={"reason": "name_mismatch", "limit": 500}, headers=verifier(),
                          timeout=30).json()
    assert str(cid) in {c["complaint_id"] for c in listed["cases"]}

    def attempt(i: int) -> requests.Response:
        base = f"{urls['verification']}/complaints/{cid}"
        if i % 2:
            return requests.post(f"{base}/verify", json={"reason": f"same person, by {i}"},
                                 headers=verifier(i), timeout=30)
        return requests.post(f"{base}/reject", json={"reason_code": "identity_unclear",
                                                     "reason": f"by {i}"},
                             headers=verifier(i), timeout=30)

    responses = list(eventlet.GreenPool(20).imap(attempt, range(20)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 19
    assert len(stored_event_types(app, cid)) == 2
    after = requests.get(f"{urls['verification']}/desk", params={"limit": 500},
                         headers=verifier(), timeout=30).json()
    assert str(cid) not in {c["complaint_id"] for c in after["cases"]}


def test_desk_listing_filters_and_pages(urls, verification, replica, cast):
    replica.load_people(cast["snapshot_rows"])
    for _ in range(3):
        decide(verification, replica, cast["mismatch"], name="Xaverius Qomaruddin")
    page = requests.get(f"{urls['verification']}/desk",
                        params={"reason": "name_mismatch", "limit": 2}, headers=verifier(),
                        timeout=30).json()
    assert len(page["cases"]) == 2 and page["total"] >= 3
    assert {c["desk_reason"] for c in page["cases"]} == {"name_mismatch"}
    bad = requests.get(f"{urls['verification']}/desk", params={"reason": "nope"},
                       headers=verifier(), timeout=30)
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "reason")


def test_usulan_export_per_desa_holds_exactly_the_proposed_not_in_dtks_complaints(
        urls, verification, replica, cast, people, tmp_path):
    app, cases, desk = verification
    kab = "3326"  # its own kabupaten code, so other tests' complaints do not mix in
    own = actor_headers("verifier-1", "verifier", kabupaten=kab)  # the kabupaten's verifier
    replica.load_people(cast["snapshot_rows"])
    absent = [p for p in families(people)[cast["absent"]["kk"]]]
    second = dict(absent[1], wilayah=absent[0]["wilayah"][:6] + "2999")
    proposed, not_proposed = [absent[0], second], absent[2]
    ids = {}
    for p in [*proposed, not_proposed]:
        cid, outcome = decide(verification, replica, p, kabupaten=kab)
        assert outcome.reason_code == "not_in_dtks"
        ids[p["nik"]] = cid
    rich_cid, _ = decide(verification, replica, cast["rich"], kabupaten=kab)

    for p in proposed:
        r = requests.post(f"{urls['verification']}/complaints/{ids[p['nik']]}/usulan",
                          json={"reason": "miskin, belum terdata"}, headers=own, timeout=30)
        assert r.status_code == 200, r.text
    again = requests.post(f"{urls['verification']}/complaints/{ids[proposed[0]['nik']]}/usulan",
                          json={"reason": "twice"}, headers=own, timeout=30)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "wrong_stage")
    wrong = requests.post(f"{urls['verification']}/complaints/{rich_cid}/usulan",
                          json={"reason": "x"}, headers=own, timeout=30)
    assert wrong.status_code == 409
    with pytest.raises(WrongStage):
        app.propose_usulan(rich_cid, reason="x", actor=SYSTEM, correlation_id="t")

    listed = requests.get(f"{urls['verification']}/usulan",
                          params={"desa": second["wilayah"]},
                          headers=own,
                          timeout=30).json()["usulan"]
    assert [r["nik"] for r in listed] == [second["nik"]]

    counts = export(desk.db, kab, tmp_path)
    assert counts == {absent[0]["wilayah"]: 1, second["wilayah"]: 1}
    for p in proposed:
        rows = list(csv.DictReader(
            (tmp_path / f"usulan_{kab}_{p['wilayah']}.csv").open(encoding="utf-8")))
        assert [(r["NIK"], r["NAMA"], r["KODE_WILAYAH"]) for r in rows] == \
            [(p["nik"], p["name"], p["wilayah"])]
        assert rows[0]["DIUSULKAN_OLEH"] == "verifier-1"
    cli_out = tmp_path / "cli"
    result = CliRunner().invoke(sedulur, ["verification", "usulan-export", "--kabupaten", kab,
                                          "--out", str(cli_out)])
    assert result.exit_code == 0, result.output
    assert len(list(cli_out.glob("*.csv"))) == 2


def test_changes_over_http_and_reevaluate_trigger(urls, replica, people):
    replica.load_people(people[:20])
    replica.load_people(people[2:22])
    body = requests.get(f"{urls['dtks']}/dtks/changes", params={"kind": "added"},
                        headers=AUDITOR, timeout=30).json()
    assert body["summary"]["added"] == 2 and body["summary"]["removed"] == 2
    assert [c["nik"] for c in body["changes"]] == sorted(p["nik"] for p in people[20:22])
    missing = requests.get(f"{urls['dtks']}/dtks/changes", params={"from": "nope"},
                           headers=AUDITOR, timeout=30)
    assert missing.status_code == 404
    r = requests.post(f"{urls['verification']}/desk/reevaluate", headers=verifier(), timeout=60)
    assert r.status_code == 200 and "evaluated" in r.json()


def test_service_timer_decides_a_desk_case_once_a_new_snapshot_settles_it(
        urls, topology_declared, verification, replica, cast):
    """No trigger by hand: the service notices the new current snapshot by itself."""
    app, _, desk = verification
    replica.load_people(cast["snapshot_rows"])
    person = cast["absent_in_family"]
    cid, outcome = decide(verification, replica, person, kk=person["kk"])
    assert outcome.to_desk
    with running_service(VerificationService, topology_declared,
                         SEDULUR_VERIFICATION_SNAPSHOT_CHECK_SECONDS=0.5):
        new_snapshot = replica.load_people(cast["with_absent_member"])
        wait_until(lambda: len(app.stored_events(cid)) == 2, timeout=60,
                   message="desk case decided after the snapshot changed")
    event = last_event(app, cid)
    assert (type(event).__name__, event.rule, event.dtks_snapshot) == \
        ("Verified", "kis.eligible", new_snapshot)
    assert event.actor["user_id"] == "system:verification"


def test_registered_complaint_is_decided_through_the_services(urls, topology_declared,
                                                              verification, replica, cast):
    """The wiring: relay -> Registered -> verification -> dtks_sync RPC -> decision / desk."""
    app, _, desk = verification
    snapshot = replica.load_people(cast["snapshot_rows"])
    verified = register(app, cast["eligible"])
    on_desk = register(app, cast["mismatch"], name="Xaverius Qomaruddin")
    with relay_running(topology_declared):
        wait_until(lambda: len(app.stored_events(verified)) == 2, timeout=90,
                   message="Verified by the service")
        wait_until(lambda: str(on_desk) in desk_ids(desk), timeout=90, message="on the desk")
    event = last_event(app, verified)
    assert (type(event).__name__, event.rule, event.dtks_snapshot) == \
        ("Verified", "kis.eligible", snapshot)
    assert stored_event_types(app, on_desk) == ["Registered"]

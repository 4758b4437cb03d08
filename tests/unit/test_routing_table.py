"""The routing table as data: which agencies a complaint goes to, what a bad table is, where
a returned case goes next, and what leaves Sedulur for agencies and citizens."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import yaml

from services.routing.application import RoutingTables
from services.routing.domainmodel import DESK_RULE, KabupatenTable, RoutingTable
from shared.agency import AgencyProfile, citizen_notification, load_profiles, referral_message
from shared.auth import Action, authorize, referral_resource
from shared.errors import ConfigurationError, Forbidden, InvalidRoutingTable

AGENCIES = ["DINSOS", "DINKES", "BPJSKES", "DPRKP", "BAZ", "CSR", "DISDIK"]

TABLE = {
    "rules": [
        {"id": "kis-dinkes", "category": "kis", "agencies": ["DINKES"], "fallback": ["BPJSKES"]},
        {"id": "rtlh-poor", "category": "rtlh", "max_desil": 3, "agencies": ["DPRKP", "BAZ"],
         "fallback": ["CSR"]},
        {"id": "rtlh-kec", "category": "rtlh", "wilayah_prefix": "332502",
         "agencies": ["CSR"]},
        {"id": "rtlh", "category": "rtlh", "agencies": ["DPRKP"]},
    ],
    "default": {"id": "default-dinsos", "agencies": ["DINSOS"]},
}


def table(doc=None, version=0) -> KabupatenTable:
    return KabupatenTable.parse("3325", doc or TABLE, AGENCIES, version)


@pytest.mark.parametrize(
    ("category", "desil", "wilayah", "rule", "agencies"),
    [
        ("kis", None, "332501", "kis-dinkes", ("DINKES",)),
        ("rtlh", 2, "332501", "rtlh-poor", ("DPRKP", "BAZ")),
        ("rtlh", 3, "332502", "rtlh-poor", ("DPRKP", "BAZ")),
        ("rtlh", 4, "332502", "rtlh-kec", ("CSR",)),
        ("rtlh", None, "332501", "rtlh", ("DPRKP",)),
        ("rtlh", 9, "332501", "rtlh", ("DPRKP",)),
        ("lansia", 1, "332501", "default-dinsos", ("DINSOS",)),
    ],
    ids=["category", "desil-2", "desil-3-edge", "desil-4-wilayah", "no-desil-skips-desil-rule",
         "rich-desil", "default"],
)
def test_the_first_rule_whose_conditions_hold_routes(category, desil, wilayah, rule, agencies):
    route = table(version=7).route(category, desil, wilayah)
    assert (route.rule_id, route.agencies, route.table_version) == (rule, agencies, 7)


def test_desil_is_asked_for_only_when_a_rule_of_the_category_uses_it():
    assert table().needs_desil("rtlh") is True
    assert table().needs_desil("kis") is False


def test_the_data_file_has_a_table_for_any_kabupaten_and_specific_ones():
    file = RoutingTable.load()
    assert file.route(kabupaten="9999", category="kis").agencies == ("DINKES",)
    assert file.table_for("3576").kabupaten == "3576"
    assert file.table_for("3576").route("rtlh", 2).agencies == ("DPRKP", "BAZ")
    assert file.agencies["BPJSKES"].full_nik and not file.agencies["DINKES"].full_nik


def _broken(path: str, value):
    doc = copy.deepcopy(TABLE)
    target = doc
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_broken("rules.0.agencies", ["NOBODY"]), "rules.0.agencies"),
        (_broken("rules.0.agencies", []), "rules.0.agencies"),
        (_broken("rules.0.fallback", ["NOBODY"]), "rules.0.fallback"),
        (_broken("rules.1.max_desil", 11), "rules.1.max_desil"),
        (_broken("rules.1.id", ""), "rules.1.id"),
        (_broken("rules.2.wilayah_prefix", "33-25"), "rules.2.wilayah_prefix"),
        (_broken("rules.3.id", "kis-dinkes"), "rules"),
        (_broken("rules.0.colour", "red"), "rules.0.colour"),
        (_broken("default", KeyError), "default"),
        (_broken("default.category", "kis"), "default"),
    ],
    ids=["unknown-agency", "no-agency", "unknown-fallback", "desil-11", "no-id",
         "bad-wilayah", "duplicate-id", "unknown-key", "no-default", "conditional-default"],
)
def test_a_bad_table_is_refused_naming_the_field(doc, field):
    with pytest.raises(InvalidRoutingTable) as caught:
        table(doc)
    assert caught.value.field == field


def test_a_data_file_without_the_desk_agency_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        RoutingTable.from_document({"agencies": {"DINKES": "Dinkes"},
                                    "kabupaten": {"*": TABLE}})


@pytest.mark.parametrize(
    ("routed_by", "returned", "open_", "expected"),
    [
        ("kis-dinkes", ["DINKES"], [], ("kis-dinkes/fallback", ("BPJSKES",))),
        ("kis-dinkes/fallback", ["DINKES", "BPJSKES"], [], (DESK_RULE, ("DINSOS",))),
        ("rtlh-poor", ["DPRKP"], ["BAZ"], ("rtlh-poor/fallback", ("CSR",))),
        ("vanished-rule", ["DINKES"], [], ("kis-dinkes/fallback", ("BPJSKES",))),
        ("default-dinsos", ["DINSOS"], [], None),
    ],
    ids=["fallback-list", "desk-when-list-exhausted", "skips-open-agency",
         "rule-gone-uses-todays-rule", "nobody-left"],
)
def test_a_returned_case_goes_to_the_next_agency_then_the_desk(routed_by, returned, open_,
                                                                 expected):
    route = table().reroute(routed_by=routed_by, category="kis", desil=None, wilayah="332501",
                            returned_by=returned, open_agencies=open_)
    assert (None if route is None else (route.rule_id, route.agencies)) == expected


ENVELOPE = {
    "specversion": "1.0", "id": "c1:3", "source": "/sedulur/routing",
    "type": "id.sedulur.complaint.ReferredToOPD", "subject": "REG-1", "time": "t",
    "complaintid": "c1", "version": 3,
    "data": {"agency": "DINKES", "kabupaten": "3325", "routing_rule": "kis-dinkes",
             "routing_table_version": 2, "actor": {}, "correlation_id": "x"},
}
SUMMARY = {"registration_number": "REG-1", "category": "kis", "kabupaten": "3325",
           "wilayah": "332501", "description": "KIS mati", "confidential": False,
           "nik": "3325014507900001", "phone": "+6281234567890"}


def test_an_agency_gets_the_nik_masked_unless_its_profile_needs_it_in_full():
    masked = referral_message(ENVELOPE, SUMMARY, AgencyProfile("DINKES", "Dinkes"))["data"]
    full = referral_message(ENVELOPE, SUMMARY, AgencyProfile("BPJSKES", "BPJS", True))["data"]
    assert masked["nik"] == "3325********0001" and masked["nik_masked"] is True
    assert full["nik"] == "3325014507900001" and full["nik_masked"] is False
    for data in (masked, full):
        assert "phone" not in data and "name" not in data and "kk" not in data
        assert data["routing_rule"] == "kis-dinkes" and data["routing_table_version"] == 2


def test_a_confidential_complaint_reaches_the_agency_without_its_description():
    data = referral_message(ENVELOPE, {**SUMMARY, "confidential": True}, None)["data"]
    assert data["description"] is None and data["nik_masked"] is True


def test_citizen_notifications_carry_indonesian_text_and_the_phone_only_when_given():
    profiles = load_profiles()
    key, msg = citizen_notification(ENVELOPE, SUMMARY, profiles)
    assert key == "citizen.referred"
    assert msg["data"]["phone"] == "+6281234567890"
    assert "diteruskan ke Dinas Kesehatan" in msg["data"]["text"]
    key, msg = citizen_notification(ENVELOPE, {**SUMMARY, "phone": None}, profiles)
    assert "phone" not in msg["data"] and msg["data"]["channels"] == []
    resolved = {**ENVELOPE, "type": "id.sedulur.complaint.Resolved",
                "data": {"agency": "DINKES", "outcome": "internal note"}}
    key, msg = citizen_notification(resolved, SUMMARY, profiles)
    assert key == "citizen.resolved" and "selesai" in msg["data"]["text"]
    assert "internal note" not in msg["data"]["text"]
    accepted = {**ENVELOPE, "type": "id.sedulur.complaint.ReferralAccepted"}
    assert citizen_notification(accepted, SUMMARY, profiles) is None


@pytest.mark.parametrize(
    ("actor", "agency", "allowed"),
    [
        ({"role": "agency", "agency": "DINKES", "kabupaten": "3325"}, "DINKES", True),
        ({"role": "agency", "agency": "DINKES", "kabupaten": "3325"}, "BPJSKES", False),
        ({"role": "agency", "agency": "DINKES", "kabupaten": "3576"}, "DINKES", False),
        ({"role": "admin", "kabupaten": "3325"}, "DINKES", True),
        ({"role": "admin", "kabupaten": "3576"}, "DINKES", False),
        ({"role": "verifier", "kabupaten": "3325"}, "DINSOS", True),
        ({"role": "verifier", "kabupaten": "3325"}, "DINKES", False),
        ({"role": "operator", "desk": "332501"}, "DINKES", False),
        ({"role": "auditor"}, "DINKES", False),
    ],
    ids=["own", "other-agency", "other-kabupaten", "admin", "admin-other-kabupaten",
         "desk-verifier-dinsos", "verifier-other", "operator", "auditor"],
)
def test_only_the_agency_itself_may_act_on_its_referral(actor, agency, allowed):
    complaint = SimpleNamespace(id="c", kabupaten="3325", desk="332501", confidential=False,
                                referrals={"DINKES": "referred", "DINSOS": "referred"})
    actor = {"user_id": "u", **actor}
    resource = referral_resource(complaint, agency)
    if allowed:
        authorize(actor, Action.REFERRAL_ACT, resource)
    else:
        with pytest.raises(Forbidden):
            authorize(actor, Action.REFERRAL_ACT, resource)


class MemoryVersions:
    """routing.tables in memory: the same contract as adapters.TableStore."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {}

    def latest(self, kabupaten):
        rows = self.rows.get(kabupaten)
        return (len(rows), rows[-1]) if rows else None

    def add(self, kabupaten, document, created_by, expected_version=None):
        self.rows.setdefault(kabupaten, []).append(document)
        return len(self.rows[kabupaten])


def _file(path, kis_agency: str) -> None:
    path.write_text(yaml.safe_dump({
        "agencies": {"DINSOS": "Dinsos", "DINKES": "Dinkes", "BPJSKES": {"name": "BPJS",
                                                                         "nik": "full"}},
        "kabupaten": {
            "*": {"rules": [{"id": "kis-file", "category": "kis", "agencies": [kis_agency]}],
                  "default": {"id": "d", "agencies": ["DINSOS"]}},
            "3325": {"rules": [], "default": {"id": "batang-file", "agencies": ["DINSOS"]}},
        }}))


def test_the_table_in_force_prefers_stored_versions_and_rereads_a_changed_file(tmp_path):
    import os

    path = tmp_path / "routing.yaml"
    _file(path, "DINKES")
    tables = RoutingTables(MemoryVersions(), path)
    assert tables.current("3326").route("kis").agencies == ("DINKES",)
    assert tables.current("3325").route("kis").rule_id == "batang-file"

    _file(path, "BPJSKES")
    os.utime(path, (1, 2_000_000_000))  # a new mtime even on a coarse-grained filesystem
    assert tables.current("3326").route("kis").agencies == ("BPJSKES",), "file not re-read"

    any_kab = {"rules": [], "default": {"id": "stored-any", "agencies": ["DINKES"]}}
    assert tables.replace("*", any_kab, "admin").version == 1
    assert tables.current("3326").route("kis").rule_id == "stored-any"
    assert tables.current("3325").route("kis").rule_id == "batang-file", \
        "a kabupaten's own file entry is more specific than a stored '*' table"
    batang = {"rules": [], "default": {"id": "stored-batang", "agencies": ["DINSOS"]}}
    table = tables.replace("3325", batang, "admin")
    assert (table.version, tables.current("3325").route("kis").rule_id) == (1, "stored-batang")
    with pytest.raises(InvalidRoutingTable):
        tables.replace("33", batang, "admin")


def test_a_referral_stored_before_table_versions_reads_with_no_version():
    """ReferredToOPD v1 (no routing_table_version) is upcast, so old streams still replay."""
    import json
    import uuid as uuid_

    from eventsourcing.application import Application
    from eventsourcing.persistence import StoredEvent

    from shared.complaints.domainmodel import Complaint

    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    c = Complaint.register(
        complaint_id=uuid_.uuid4(), registration_number="r", kabupaten="3325", desk="332501",
        channel="desk", category="kis", description="d", citizen={"nik": "1"},
        wilayah="332501", priority="normal", confidential=False, actor={}, correlation_id="c")
    c.verify(rule="r", dtks_snapshot="s", reasons=[], actor={}, correlation_id="c")
    c.refer(agency="DINKES", routing_rule="kis-dinkes", actor={}, correlation_id="c")
    stored = app.mapper.to_stored_event(c.collect_events()[-1])
    state = json.loads(stored.state)
    del state["routing_table_version"]
    state.pop("class_version", None)
    old = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                      json.dumps(state).encode())
    event = app.mapper.to_domain_event(old)
    assert event.routing_table_version is None and event.routing_rule == "kis-dinkes"


def test_the_example_agency_users_may_only_read_their_own_queue():
    import json
    import re
    from pathlib import Path

    from shared.agency import agency_queue_name

    path = Path(__file__).resolve().parents[2] / "deploy/rabbitmq/agency-users.example.json"
    definitions = json.loads(path.read_text())
    users = {u["name"] for u in definitions["users"]}
    for perm in definitions["permissions"]:
        _, kab, code = perm["user"].split("-")
        assert perm["user"] in users
        assert (perm["configure"], perm["write"]) == ("^$", "^$")
        assert re.fullmatch(perm["read"], agency_queue_name(kab, code))
        assert not re.fullmatch(perm["read"], agency_queue_name(kab, "BAZ"))
        assert not re.fullmatch(perm["read"], agency_queue_name("3576", code))

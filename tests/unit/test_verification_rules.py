"""The verification rules as pure functions: each check decides with its own rule name and
reason code, in the documented order; names compare without case, spacing and titles; the
usulan guard on the aggregate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.verification.domainmodel import DtksAnswer, evaluate, name_similarity
from services.verification.rules import RuleFile, parse
from shared.complaints.domainmodel import Complaint
from shared.errors import ConfigurationError, WrongStage

NOW = datetime(2026, 11, 23, tzinfo=UTC)
RULES = RuleFile().current()
PERSON = {"nik": "3325014507900001", "name": "SITI AMINAH", "desil": 3, "programs": ["PKH"]}
CITIZEN = {"nik": "3325014507900001", "name": "Siti Aminah", "kk": "3325010101200001"}


def answer(person=PERSON, family=(), snapshot="s1", age_days=1) -> DtksAnswer:
    return DtksAnswer(person=person, family=list(family), snapshot_id=snapshot,
                      snapshot_at=NOW - timedelta(days=age_days))


def run(category="kis", citizen=CITIZEN, **kw):
    return evaluate(category=category, citizen=citizen, dtks=answer(**kw), rules=RULES, now=NOW)


@pytest.mark.parametrize("kw, category, kind, code, rule", [
    ({}, "kis", "verified", "", "kis.eligible"),
    ({"person": {**PERSON, "desil": 6}}, "kis", "rejected", "desil_above_threshold", "kis.desil"),
    ({"person": {**PERSON, "programs": ["PBI_JK"]}}, "kis", "rejected", "already_has_program",
     "kis.must_not_have_PBI_JK"),
    ({"person": None}, "kis", "rejected", "not_in_dtks", "kis.terdaftar"),
    ({"person": None}, "adminduk", "verified", "", "adminduk.tanpa_dtks"),
    ({"person": None, "family": [PERSON]}, "kis", "desk", "nik_not_found_kk_found",
     "kis.terdaftar"),
    ({"age_days": 121}, "kis", "desk", "registry_stale", "kis.registry"),
    ({"snapshot": None}, "kis", "desk", "registry_empty", "kis.registry"),
    ({}, "lainnya", "verified", "", "default.eligible"),
])
def test_each_rule_outcome_names_its_rule_and_reason(kw, category, kind, code, rule):
    outcome = run(category=category, **kw)
    assert (outcome.kind, outcome.reason_code, outcome.rule) == (kind, code, rule)
    assert outcome.reasons


def test_a_different_name_goes_to_the_desk():
    outcome = run(citizen={**CITIZEN, "name": "Budi Santoso"})
    assert (outcome.kind, outcome.reason_code) == ("desk", "name_mismatch")


def test_case_spacing_titles_and_degrees_do_not_make_names_differ():
    assert name_similarity("  Hj.  siti   AMINAH, S.Pd.", "SITI AMINAH") == 1.0
    assert name_similarity("Ibu Siti Aminah", "Siti Aminah") == 1.0
    assert name_similarity("Siti Aminah", "Budi Santoso") < RULES.name_similarity_min


def test_rules_file_with_unknown_program_or_key_is_refused():
    good = {"version": 1, "stale_after_days": 30, "name_similarity_min": 0.8,
            "defaults": {"max_desil": 10}}
    assert parse(good).defaults.max_desil == 10
    with pytest.raises(ConfigurationError):
        parse({**good, "categories": {"kis": {"must_have": ["XYZ"]}}})
    with pytest.raises(ConfigurationError):
        parse({**good, "categories": {"kis": {"max_desil": 11}}})
    with pytest.raises(ConfigurationError):
        parse({**good, "surprise": 1})


def _complaint() -> Complaint:
    return Complaint.register(
        complaint_id=uuid.uuid4(), registration_number="r", kabupaten="3325", desk="332501",
        channel="desk", category="kis", description="d", citizen=CITIZEN, wilayah="3325012001",
        priority="normal", confidential=False, actor={"user_id": "op"}, correlation_id="c")


def test_usulan_only_for_a_complaint_rejected_as_not_in_dtks_and_only_once():
    actor = {"user_id": "v", "role": "verifier"}
    verified = _complaint()
    verified.verify(rule="r", dtks_snapshot="s", reasons=[], actor=actor, correlation_id="c")
    with pytest.raises(WrongStage):
        verified.propose_usulan(reason="x", actor=actor, correlation_id="c")
    rich = _complaint()
    rich.reject(reason_code="desil_above_threshold", reason="x", rule="r", dtks_snapshot="s",
                actor=actor, correlation_id="c")
    with pytest.raises(WrongStage):
        rich.propose_usulan(reason="x", actor=actor, correlation_id="c")
    absent = _complaint()
    absent.reject(reason_code="not_in_dtks", reason="x", rule="r", dtks_snapshot="s",
                  actor=actor, correlation_id="c")
    absent.propose_usulan(reason="eligible", actor=actor, correlation_id="c")
    assert absent.usulan == {"reason": "eligible"}
    with pytest.raises(WrongStage):
        absent.propose_usulan(reason="again", actor=actor, correlation_id="c")

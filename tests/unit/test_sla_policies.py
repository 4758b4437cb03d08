"""SLA policies as data: shipped YAML files, validation errors, most-specific-rule-wins."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.sla.calendar import WIB, due_at
from services.sla.policies import (
    HOURS,
    STAGES,
    WORKING_DAYS,
    builtin_policy_names,
    load_builtin_policy,
    load_policy,
    parse_policy,
    policy_from_yaml,
)
from shared.errors import ConfigurationError

JKT = ZoneInfo(WIB)


def base_rule(**overrides):
    rule = {
        "stage": "verification",
        "starts_on": "registered",
        "stops_on": ["verified", "rejected"],
        "duration": 24,
        "unit": "hours",
    }
    rule.update(overrides)
    return rule


def policy_doc(*rules, **top):
    doc = {"name": "test-policy", "rules": list(rules) or [base_rule()]}
    doc.update(top)
    return doc


# --- shipped policies ----------------------------------------------------------------------


def test_both_policies_are_shipped():
    assert {"default-24h", "lapor-3-5"} <= set(builtin_policy_names())


def test_default_policy_gives_every_stage_24_clock_hours_and_overall_72():
    policy = load_builtin_policy("default-24h")
    rules = policy.rules_for()
    assert set(rules) == set(STAGES)
    for stage in ("verification", "referral", "acceptance", "resolution"):
        assert (rules[stage].duration, rules[stage].unit) == (24, HOURS)
    assert (rules["overall"].duration, rules["overall"].unit) == (72, HOURS)
    assert rules["overall"].starts_on == "registered"
    assert "resolved" in rules["overall"].stops_on
    assert all(r.at_risk_ratio == 0.75 for r in rules.values())


def test_lapor_policy_shares_3_working_days_for_verify_and_forward_and_5_for_the_agency():
    rules = load_builtin_policy("lapor-3-5").rules_for()
    assert (rules["verification"].starts_on, rules["verification"].duration) == ("registered", 3)
    assert (rules["referral"].starts_on, rules["referral"].duration) == ("registered", 3)
    assert "referred" in rules["referral"].stops_on
    assert (rules["resolution"].starts_on, rules["resolution"].duration) == ("referred", 5)
    assert "resolved" in rules["resolution"].stops_on
    assert all(r.unit == WORKING_DAYS for r in rules.values())


def test_lapor_referral_deadline_counts_from_registration_across_lebaran():
    rule = load_builtin_policy("lapor-3-5").rule_for("referral")
    registered = datetime(2026, 3, 16, 15, 0, tzinfo=JKT)
    assert due_at(registered, rule, None, WIB) == datetime(2026, 3, 26, 15, 0, tzinfo=JKT)


def test_default_policy_verification_deadline_is_24_hours_later():
    rule = load_builtin_policy("default-24h").rule_for("verification")
    start = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
    assert due_at(start, rule, None, WIB) == start + timedelta(hours=24)


def test_rules_starting_and_stopping_on_an_event():
    policy = load_builtin_policy("lapor-3-5")
    started = {r.stage for r in policy.rules_starting_on("registered")}
    assert started == {"verification", "referral", "overall"}
    stopped = {r.stage for r in policy.rules_stopping_on("resolved")}
    assert stopped == {"referral", "resolution", "overall"}


def test_asking_for_an_unknown_shipped_policy_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as err:
        load_builtin_policy("no-such-policy")
    assert err.value.field == "policy"


# --- most specific rule wins ---------------------------------------------------------------

SPECIFIC = policy_doc(
    base_rule(duration=24),
    base_rule(duration=12, priority="urgent"),
    base_rule(duration=8, category="pkh"),
    base_rule(duration=2, category="pkh", priority="urgent"),
    base_rule(stage="overall", stops_on=["resolved"], duration=72),
)


@pytest.mark.parametrize(
    ("category", "priority", "hours"),
    [
        ("pkh", "urgent", 2),  # category + priority
        ("pkh", "normal", 8),  # category beats priority-less default
        ("pkh", None, 8),
        ("kis", "urgent", 12),  # priority only
        (None, "urgent", 12),
        ("kis", "normal", 24),  # default
        (None, None, 24),
    ],
)
def test_most_specific_rule_wins(category, priority, hours):
    policy = parse_policy(SPECIFIC)
    assert policy.rule_for("verification", category, priority).duration == hours


@pytest.mark.parametrize("order", [1, -1], ids=["file-order", "reversed"])
def test_category_rule_beats_priority_rule_when_both_match(order):
    rules = [
        base_rule(duration=24),
        base_rule(duration=12, priority="urgent"),
        base_rule(duration=8, category="pkh"),
    ][::order]
    policy = parse_policy(policy_doc(*rules))
    assert policy.rule_for("verification", "pkh", "urgent").duration == 8


def test_stage_without_a_rule_has_no_clock():
    policy = parse_policy(SPECIFIC)
    assert policy.rule_for("acceptance", "pkh", "urgent") is None
    assert set(policy.rules_for("pkh", "urgent")) == {"verification", "overall"}


def test_a_filtered_rule_only_does_not_apply_to_other_complaints():
    policy = parse_policy(policy_doc(base_rule(category="pkh")))
    assert policy.rule_for("verification", "kis", None) is None


# --- validation ----------------------------------------------------------------------------


def _error(doc) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as err:
        parse_policy(doc, "bad.yaml")
    return err.value


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        (base_rule(unit="days"), "rules[1].unit", "unknown unit 'days'"),
        (base_rule(duration=-3), "rules[1].duration", "positive"),
        (base_rule(duration=0), "rules[1].duration", "positive"),
        (base_rule(duration="24"), "rules[1].duration", "number"),
        (base_rule(duration=1.5, unit="working_days"), "rules[1].duration", "whole"),
        (base_rule(stage="triage"), "rules[1].stage", "unknown stage 'triage'"),
        (base_rule(starts_on="created"), "rules[1].starts_on", "unknown event"),
        (base_rule(stops_on=["verified", "closed"]), "rules[1].stops_on[1]", "unknown event"),
        (base_rule(stops_on=[]), "rules[1].stops_on", "non-empty"),
        (base_rule(stops_on=["registered"]), "rules[1].stops_on[0]", "starts_on"),
        (base_rule(stops_on=["verified", "verified"]), "rules[1].stops_on[1]", "twice"),
        (base_rule(at_risk_ratio=1.5), "rules[1].at_risk_ratio", "(0, 1]"),
        (base_rule(category="Bansos Pangan"), "rules[1].category", "lower-case"),
        (base_rule(durasi=3), "rules[1].durasi", "unknown key"),
        ({k: v for k, v in base_rule().items() if k != "unit"}, "rules[1].unit", "required"),
        (base_rule(), "rules[1]", "duplicates rules[0]"),
    ],
)
def test_malformed_rule_raises_configuration_error_naming_the_field(rule, field, words):
    doc = policy_doc(base_rule(stage="overall", stops_on=["resolved"], duration=72), rule)
    if field == "rules[1]":  # the duplicate case: same stage/filters as rules[0]
        doc = policy_doc(base_rule(), rule)
    err = _error(doc)
    assert err.field == field
    assert words in err.message
    assert "bad.yaml" in err.message
    assert err.code == "configuration_error"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([base_rule()], "policy"),
        (policy_doc(name="Lapor 3/5"), "name"),
        ({"rules": [base_rule()]}, "name"),
        (policy_doc(owner="x"), "owner"),
        ({"name": "empty", "rules": []}, "rules"),
        (policy_doc(at_risk_ratio=0), "at_risk_ratio"),
        (policy_doc("not a mapping"), "rules[0]"),
    ],
)
def test_malformed_policy_document_names_the_field(doc, field):
    assert _error(doc).field == field


def test_policy_level_at_risk_ratio_is_the_default_for_rules():
    policy = parse_policy(policy_doc(base_rule(), at_risk_ratio=0.5))
    assert policy.rule_for("verification").at_risk_ratio == 0.5
    policy = parse_policy(policy_doc(base_rule(at_risk_ratio=0.9), at_risk_ratio=0.5))
    assert policy.rule_for("verification").at_risk_ratio == 0.9


def test_a_single_stop_event_may_be_written_as_a_string():
    policy = parse_policy(policy_doc(base_rule(stops_on="verified")))
    assert policy.rule_for("verification").stops_on == ("verified",)


def test_working_days_duration_written_as_float_whole_number_becomes_int():
    policy = parse_policy(policy_doc(base_rule(duration=3.0, unit="working_days")))
    rule = policy.rule_for("verification")
    assert rule.duration == 3 and isinstance(rule.duration, int)


def test_known_events_can_be_extended_for_a_custom_lifecycle():
    doc = policy_doc(base_rule(stops_on=["documents_requested"]))
    _error(copy.deepcopy(doc))
    events = {"registered", "documents_requested"}
    policy = parse_policy(doc, known_events=events)
    assert policy.rule_for("verification").stops_on == ("documents_requested",)


def test_malformed_policy_file_on_disk_names_the_field_and_the_file(tmp_path):
    path = tmp_path / "custom.yaml"
    path.write_text(
        "name: custom\n"
        "rules:\n"
        "  - stage: verification\n"
        "    starts_on: registered\n"
        "    stops_on: [verified]\n"
        "    duration: 24\n"
        "    unit: jam\n"
    )
    with pytest.raises(ConfigurationError) as err:
        load_policy(path)
    assert err.value.field == "rules[0].unit"
    assert str(path) in err.value.message


def test_invalid_yaml_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as err:
        policy_from_yaml("name: x\nrules: [\n", "broken.yaml")
    assert "broken.yaml" in err.value.message


def test_unknown_stage_lookup_is_refused():
    policy = parse_policy(policy_doc())
    with pytest.raises(ConfigurationError):
        policy.rule_for("triage")

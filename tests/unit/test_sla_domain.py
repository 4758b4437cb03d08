"""Choosing a complaint's SLA policy and starting its clocks (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.sla.domainmodel import (
    DEFAULT_ESCALATION_LEVELS,
    LIFECYCLE_WORDS,
    PolicySet,
    escalation_due,
    escalation_levels_from_env,
    kecamatan_of,
    moved_by_pause,
    policy_version,
    rule_as_dict,
    rule_from_dict,
    start_clock,
    zone_name_for,
)
from services.sla.policies import LIFECYCLE_EVENTS, load_builtin_policy, policy_from_yaml
from shared.complaints.domainmodel import EVENT_CLASSES
from shared.errors import ConfigurationError

POLICY_24H = load_builtin_policy("default-24h")
LAPOR = load_builtin_policy("lapor-3-5")


def test_every_lifecycle_word_is_a_policy_event_and_every_event_class_exists():
    assert set(LIFECYCLE_WORDS.values()) <= LIFECYCLE_EVENTS
    assert set(LIFECYCLE_WORDS) <= set(EVENT_CLASSES)


def test_policy_version_is_stable_and_changes_with_any_rule():
    text = (
        "name: p\nrules:\n  - {stage: verification, starts_on: registered,"
        " stops_on: [verified], duration: 24, unit: hours}\n"
    )
    assert policy_version(policy_from_yaml(text)) == policy_version(policy_from_yaml(
        "# a comment does not change the version\n" + text))
    assert policy_version(policy_from_yaml(text)) != policy_version(
        policy_from_yaml(text.replace("duration: 24", "duration: 12")))
    assert policy_version(POLICY_24H) != policy_version(LAPOR)


def test_policy_set_defaults_to_the_24_hour_policy():
    assert PolicySet.from_env({}).default == POLICY_24H


def test_policy_set_per_kabupaten_accepts_dotted_codes():
    policies = PolicySet.from_env({"SEDULUR_SLA_POLICY_BY_KABUPATEN": "33.74=lapor-3-5"})
    assert policies.for_kabupaten("3374") == LAPOR
    assert policies.for_kabupaten("3325") == POLICY_24H


@pytest.mark.parametrize("raw", ["3374", "33=lapor-3-5", "3374="])
def test_malformed_per_kabupaten_setting_is_a_configuration_error(raw):
    with pytest.raises(ConfigurationError) as err:
        PolicySet.from_env({"SEDULUR_SLA_POLICY_BY_KABUPATEN": raw})
    assert err.value.field == "SEDULUR_SLA_POLICY_BY_KABUPATEN"


def test_unknown_policy_name_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        PolicySet.from_env({"SEDULUR_SLA_POLICY": "no-such-policy"})


def test_escalation_levels_default_and_override():
    assert escalation_levels_from_env({}) == DEFAULT_ESCALATION_LEVELS == (
        "dinsos_head", "kabupaten")
    assert escalation_levels_from_env({"SEDULUR_SLA_ESCALATION_LEVELS": "camat, bupati"}) == (
        "camat", "bupati")
    with pytest.raises(ConfigurationError):
        escalation_levels_from_env({"SEDULUR_SLA_ESCALATION_LEVELS": "a,a"})


@pytest.mark.parametrize(
    ("kabupaten", "wilayah", "zone"),
    [("3325", "3325012001", "Asia/Jakarta"), ("6371", "6371012001", "Asia/Makassar"),
     ("9101", None, "Asia/Jayapura"), ("3325", "garbage", "Asia/Jakarta")],
)
def test_clock_zone_follows_the_wilayah(kabupaten, wilayah, zone):
    assert zone_name_for(kabupaten, wilayah) == zone


def test_kecamatan_is_the_first_six_digits_of_the_desa_else_the_desk():
    assert kecamatan_of("332501", "3325022001") == "332502"
    assert kecamatan_of("332501", None) == "332501"
    assert kecamatan_of(None, "33") is None


def test_a_rule_round_trips_through_its_stored_form():
    rule = LAPOR.rule_for("referral")
    assert rule_from_dict(rule_as_dict(rule)) == rule


def test_lapor_clock_started_on_a_friday_afternoon_is_due_wednesday_same_time():
    started = datetime(2026, 3, 6, 14, 30, tzinfo=UTC)  # Friday 21:30 WIB
    clock = start_clock(LAPOR.rule_for("verification"), started, "Asia/Jakarta")
    assert clock.due_at == datetime(2026, 3, 11, 14, 30, tzinfo=UTC)
    assert clock.started_at < clock.at_risk_at < clock.due_at


def test_pause_before_a_clock_started_counts_only_from_its_start():
    rule = POLICY_24H.rule_for("verification")
    started = datetime(2026, 3, 2, 8, tzinfo=UTC)
    clock = start_clock(rule, started, "Asia/Jakarta")
    due, risk = moved_by_pause(clock.due_at, clock.at_risk_at, started,
                               started - timedelta(hours=5), started + timedelta(hours=2),
                               rule, "Asia/Jakarta")
    assert due - clock.due_at == timedelta(hours=2) == risk - clock.at_risk_at


def test_escalation_steps_fire_one_stage_budget_apart():
    started = datetime(2026, 3, 2, tzinfo=UTC)
    due = started + timedelta(hours=24)
    assert [escalation_due(due, started, k) for k in range(3)] == [
        due, due + timedelta(hours=24), due + timedelta(hours=48)]


def test_local_holidays_apply_to_their_kabupaten_only(tmp_path):
    from datetime import date

    from services.sla.domainmodel import RegionalCalendars

    path = tmp_path / "local.yaml"
    path.write_text('"33.25":\n  - {date: 2026-04-08, name: Hari Jadi Batang}\n')
    calendars = RegionalCalendars.from_env({"SEDULUR_SLA_LOCAL_HOLIDAYS_FILE": str(path)})
    batang, version = calendars.for_kabupaten("3325")
    assert not batang.is_working_day(date(2026, 4, 8)) and version.startswith("3325:")
    national, version = calendars.for_kabupaten("3374")
    assert national.is_working_day(date(2026, 4, 8)) and version == "national"


@pytest.mark.parametrize("text", ['"3325": [{date: 2026-04-08}]', '"3325": 5',
                                  '"99": [{date: 2026-04-08, name: x}]', "[1, 2]"])
def test_malformed_local_holiday_file_is_a_configuration_error(tmp_path, text):
    from services.sla.domainmodel import RegionalCalendars
    from shared.errors import InvalidInput

    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises((ConfigurationError, InvalidInput)):
        RegionalCalendars.from_env({"SEDULUR_SLA_LOCAL_HOLIDAYS_FILE": str(path)})


def test_shipped_local_holiday_file_loads():
    from services.sla.domainmodel import RegionalCalendars

    assert RegionalCalendars.from_env({}).for_kabupaten("3325")[1] == "national"

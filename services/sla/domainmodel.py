"""SLA clocks as pure functions of a complaint's events (no I/O beyond the policy files).

The deadlines projection asks this module three things for every event it applies:

* which lifecycle word the event is (``Registered`` -> ``registered``, ...);
* which clocks that word starts and stops, by the complaint's policy, category, priority;
* when a started clock is due and at risk (working-day arithmetic in the complaint's zone).

Everything here is computed from the event's own timestamp and the policy's content, so
replaying the same events under the same policy version gives the same rows (style rule 5).
The policy a complaint runs under is chosen once, when its Registered event is applied, and
stored with its version hash on every deadline row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from services.sla.calendar import (
    DATA_DIR,
    WorkingCalendar,
    at_risk_at,
    due_at,
    extend_for_pause,
    for_region,
    national_calendar,
    zone,
    zone_for_wilayah,
)
from services.sla.policies import (
    HOURS,
    SlaPolicy,
    SlaRule,
    load_builtin_policy,
    load_policy,
)
from shared.errors import ConfigurationError, InvalidWilayah

DEFAULT_POLICY = "default-24h"
#: who a breached stage goes to, in order: the desk already owns it; a breach escalates to
#: the Dinsos head, one more budget later to the kabupaten.
DEFAULT_ESCALATION_LEVELS: tuple[str, ...] = ("dinsos_head", "kabupaten")

#: domain event class -> the policy's lifecycle word. ReferralResolved (one agency of
#: several) and ProgressNoted do not stop or start clocks.
LIFECYCLE_WORDS: Mapping[str, str] = {
    "Registered": "registered",
    "Verified": "verified",
    "Rejected": "rejected",
    "ReferredToOPD": "referred",
    "ReferralAccepted": "accepted",
    "ReferralReturned": "returned",
    "Resolved": "resolved",
}
#: words after which the complaint is closed: every clock still running stops, whatever the
#: policy lists, so no clock keeps running on a finished complaint.
TERMINAL_WORDS = frozenset({"resolved", "rejected", "withdrawn"})


@cache
def policy_version(policy: SlaPolicy) -> str:
    """A short hash of the policy's content (not its file name or comments): the same rules
    give the same version, any change to a rule gives a new one."""
    content = {
        "name": policy.name,
        "rules": [dataclasses.asdict(r) for r in policy.rules],
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def rule_as_dict(rule: SlaRule) -> dict[str, Any]:
    out = dataclasses.asdict(rule)
    out["stops_on"] = list(rule.stops_on)
    return out


def rule_from_dict(data: Mapping[str, Any]) -> SlaRule:
    fields = dict(data)
    fields["stops_on"] = tuple(fields["stops_on"])
    return SlaRule(**fields)


@dataclass(frozen=True)
class PolicySet:
    """The active policy, optionally a different one per kabupaten (4-digit code)."""

    default: SlaPolicy
    by_kabupaten: Mapping[str, SlaPolicy] = dataclasses.field(default_factory=dict)

    def for_kabupaten(self, kabupaten: str | None) -> SlaPolicy:
        key = (kabupaten or "").replace(".", "")
        return self.by_kabupaten.get(key, self.default)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PolicySet:
        """``SEDULUR_SLA_POLICY_FILE`` (a YAML file; wins) or ``SEDULUR_SLA_POLICY`` (a shipped
        policy name, default ``default-24h``); ``SEDULUR_SLA_POLICY_BY_KABUPATEN`` as
        ``3325=lapor-3-5,3374=/etc/sedulur/semarang.yaml``."""
        env = os.environ if env is None else env
        default = _policy_ref(env.get("SEDULUR_SLA_POLICY_FILE") or env.get("SEDULUR_SLA_POLICY")
                              or DEFAULT_POLICY)
        by_kab: dict[str, SlaPolicy] = {}
        raw = (env.get("SEDULUR_SLA_POLICY_BY_KABUPATEN") or "").strip()
        for item in filter(None, (p.strip() for p in raw.split(","))):
            kab, sep, ref = item.partition("=")
            kab = kab.strip().replace(".", "")
            if not sep or len(kab) != 4 or not kab.isdigit() or not ref.strip():
                raise ConfigurationError(
                    f"SEDULUR_SLA_POLICY_BY_KABUPATEN: {item!r} is not <4-digit kabupaten>="
                    "<policy name or file>", field="SEDULUR_SLA_POLICY_BY_KABUPATEN")
            by_kab[kab] = _policy_ref(ref.strip())
        return cls(default, by_kab)


def _policy_ref(ref: str) -> SlaPolicy:
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        return _load_file(str(Path(ref).resolve()))
    return load_builtin_policy(ref)


@cache
def _load_file(path: str) -> SlaPolicy:
    return load_policy(path)


def escalation_levels_from_env(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if env is None else env
    raw = (env.get("SEDULUR_SLA_ESCALATION_LEVELS") or "").strip()
    if not raw:
        return DEFAULT_ESCALATION_LEVELS
    levels = tuple(p.strip() for p in raw.split(",") if p.strip())
    if len(set(levels)) != len(levels):
        raise ConfigurationError("SEDULUR_SLA_ESCALATION_LEVELS repeats a level",
                                 field="SEDULUR_SLA_ESCALATION_LEVELS")
    return levels


LOCAL_HOLIDAYS_FILE = DATA_DIR / "local_holidays.yaml"
NATIONAL = "national"


@dataclass(frozen=True)
class RegionalCalendars:
    """The national calendar plus each kabupaten's own holidays (libur daerah), from a YAML
    file mapping a 4-digit kabupaten code to a list of ``{date, name}``."""

    additions: Mapping[str, tuple[tuple[date, str], ...]] = dataclasses.field(
        default_factory=dict)

    def for_kabupaten(self, kabupaten: str | None) -> tuple[WorkingCalendar, str]:
        """(calendar, version): ``national`` or ``<kab>:<hash of its local holidays>``."""
        key = (kabupaten or "").replace(".", "")
        local = self.additions.get(key)
        if not local:
            return national_calendar(), NATIONAL
        return _regional(key, local), f"{key}:" + hashlib.sha256(
            repr(sorted(local)).encode()).hexdigest()[:12]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RegionalCalendars:
        env = os.environ if env is None else env
        return _load_local_holidays(env.get("SEDULUR_SLA_LOCAL_HOLIDAYS_FILE")
                                    or str(LOCAL_HOLIDAYS_FILE))


@cache
def _regional(kabupaten: str, local: tuple[tuple[date, str], ...]) -> WorkingCalendar:
    return for_region(kabupaten, local)


@cache
def _load_local_holidays(path: str) -> RegionalCalendars:
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"local holidays {path}: {exc}",
                                 field="SEDULUR_SLA_LOCAL_HOLIDAYS_FILE") from exc
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"local holidays {path}: expected kabupaten -> list",
                                 field="SEDULUR_SLA_LOCAL_HOLIDAYS_FILE")
    additions: dict[str, tuple[tuple[date, str], ...]] = {}
    for kab, entries in data.items():
        key = str(kab).replace(".", "")
        where = f"{source.name}: {kab}"
        if not isinstance(entries, list):
            raise ConfigurationError(f"{where} must be a list of {{date, name}}", field=str(kab))
        days: list[tuple[date, str]] = []
        for i, entry in enumerate(entries):
            day = entry.get("date") if isinstance(entry, Mapping) else None
            name = entry.get("name") if isinstance(entry, Mapping) else None
            if isinstance(day, datetime) or not isinstance(day, date) or not isinstance(
                    name, str) or not name.strip():
                raise ConfigurationError(f"{where}[{i}] needs date: YYYY-MM-DD and a name",
                                         field=f"{kab}[{i}]")
            days.append((day, name.strip()))
        _regional(key, tuple(sorted(days)))  # validates the kabupaten code now, not later
        additions[key] = tuple(sorted(days))
    return RegionalCalendars(additions)


def zone_name_for(kabupaten: str, wilayah: str | None) -> str:
    """The complaint's clock zone: by its wilayah (the citizen's desa), else its kabupaten;
    WIB when neither is a known code (a clock must still run)."""
    for code in (wilayah, kabupaten):
        if code:
            try:
                return str(zone_for_wilayah(code))
            except InvalidWilayah:
                continue
    return "Asia/Jakarta"


def kecamatan_of(desk: str | None, wilayah: str | None) -> str | None:
    """The kecamatan (6-digit code) of the citizen's desa, else of the desk."""
    for code in (wilayah, desk):
        digits = "".join(ch for ch in (code or "") if ch.isdigit())
        if len(digits) >= 6:
            return digits[:6]
    return None


@dataclass(frozen=True)
class Clock:
    """A started clock: what the deadline row stores."""

    stage: str
    rule: SlaRule
    started_at: datetime
    due_at: datetime
    at_risk_at: datetime


def start_clock(rule: SlaRule, started: datetime, tz: str,
                calendar: WorkingCalendar | None = None) -> Clock:
    """The clock of ``rule`` started at ``started`` (an event's timestamp)."""
    cal = calendar or national_calendar()
    due = due_at(started, rule, cal, tz)
    return Clock(rule.stage, rule, started, due, at_risk_at(started, due, rule.at_risk_ratio))


def moved_by_pause(due: datetime, risk: datetime, started: datetime, paused: datetime,
                   resumed: datetime, rule: SlaRule, tz: str,
                   calendar: WorkingCalendar | None = None) -> tuple[datetime, datetime]:
    """(due, at-risk) after a pause; a clock started during the pause counts it only from
    its start."""
    cal = calendar or national_calendar()
    since = max(paused, started)
    if resumed <= since:
        return due, risk
    return (extend_for_pause(due, since, resumed, rule, cal, tz),
            extend_for_pause(risk, since, resumed, rule, cal, tz))


def escalation_due(due: datetime, started: datetime, level_index: int) -> datetime:
    """When escalation ``level_index`` (0: the breach itself) fires: at the deadline, then one
    more stage budget (in elapsed time) for every level after it."""
    return due + (due - started) * level_index


def tz_of(name: str) -> tzinfo:
    return zone(name)


def is_hours(rule: SlaRule) -> bool:
    return rule.unit == HOURS

"""SLA policies as data: YAML files an administrator edits, validated on load.

A **policy** is a named list of **rules**. A rule says: the clock of ``stage`` starts when an
event of type ``starts_on`` happens to a complaint and stops at the first of ``stops_on``;
it must stop within ``duration`` ``unit`` (``hours`` = elapsed clock hours, ``working_days``
= see :mod:`services.sla.calendar`); it is *at risk* once ``at_risk_ratio`` of that span has
passed. ``category`` and ``priority`` optionally narrow a rule to some complaints.

Stages (labels for dashboards and escalation; what a clock measures is set by its events):

=============== ==========================================
``verification`` registered → verified
``referral``     verified → referred
``acceptance``   referred → accepted (by the agency)
``resolution``   accepted → resolved
``overall``      registered → resolved
=============== ==========================================

A policy may start a stage's clock on an earlier event than the table says — SP4N-LAPOR!'s
"verify and forward within 3 working days" is ``referral`` starting on ``registered`` — and
may leave a stage out (no clock for it).

**Most specific rule wins.** For a complaint with category *c* and priority *p*, a stage's
rule is chosen among the rules whose filters match (a missing filter matches anything) by
specificity: category+priority (3) > category (2) > priority (1) > neither (0). Two rules for
the same stage with the same filters are refused on load, so the choice is never ambiguous.

File format (``data/policies/*.yaml``)::

    name: lapor-3-5                # [a-z0-9-]+; the file stem of a shipped policy
    description: free text
    at_risk_ratio: 0.75            # optional, default for every rule (0 < r <= 1)
    rules:
      - stage: referral            # one of STAGES
        starts_on: registered      # one of LIFECYCLE_EVENTS
        stops_on: [referred, rejected]   # one event or a list
        duration: 3                # > 0; an integer for working_days
        unit: working_days         # hours | working_days
        category: pkh              # optional filter (a shared/data/categories.yaml code)
        priority: urgent           # optional filter (normal | high | urgent at intake)
        at_risk_ratio: 0.5         # optional

Every mistake raises :class:`~shared.errors.ConfigurationError` whose ``field`` is the path
of the offending value, e.g. ``rules[2].unit``, and whose message names the file.

Event types are the complaint's lifecycle events as lower-case past participles
(:data:`LIFECYCLE_EVENTS`), the same words as ``shared.complaints.domainmodel.Stage`` and
``ReferralStatus``; the SLA service maps the domain's event classes onto them
(``Registered`` → ``registered``, ``ReferredToOPD`` → ``referred``, ...). ``withdrawn`` is
reserved for a withdrawal event the domain does not emit yet. Category and priority filters
are not checked against a vocabulary here (the policy module stays free of other data).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shared.errors import ConfigurationError

__all__ = [
    "DEFAULT_AT_RISK_RATIO",
    "HOURS",
    "LIFECYCLE_EVENTS",
    "POLICY_DIR",
    "STAGES",
    "UNITS",
    "WORKING_DAYS",
    "SlaPolicy",
    "SlaRule",
    "builtin_policy_names",
    "load_builtin_policy",
    "load_policy",
    "parse_policy",
    "policy_from_yaml",
]

POLICY_DIR = Path(__file__).parent / "data" / "policies"

STAGES = ("verification", "referral", "acceptance", "resolution", "overall")
HOURS = "hours"
WORKING_DAYS = "working_days"
UNITS = (HOURS, WORKING_DAYS)
DEFAULT_AT_RISK_RATIO = 0.75

#: Event types a rule may start or stop on.
LIFECYCLE_EVENTS = frozenset(
    {
        "registered",  # the desk recorded the complaint
        "verified",  # found eligible / complete
        "rejected",  # found not eligible; the complaint ends
        "referred",  # forwarded to an agency (dinas, BPJS, ...)
        "accepted",  # the agency took the referral
        "returned",  # the agency sent the referral back
        "resolved",  # the complaint is settled
        "withdrawn",  # the citizen withdrew it
    }
)

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_FILTER_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_POLICY_KEYS = frozenset({"name", "description", "at_risk_ratio", "rules"})
_RULE_KEYS = frozenset(
    {"stage", "starts_on", "stops_on", "duration", "unit", "category", "priority"}
    | {"at_risk_ratio"}
)
_REQUIRED_RULE_KEYS = ("stage", "starts_on", "stops_on", "duration", "unit")


@dataclass(frozen=True, slots=True)
class SlaRule:
    """One clock: ``stage`` runs from ``starts_on`` to the first of ``stops_on``."""

    stage: str
    starts_on: str
    stops_on: tuple[str, ...]
    duration: int | float
    unit: str
    category: str | None = None
    priority: str | None = None
    at_risk_ratio: float = DEFAULT_AT_RISK_RATIO

    @property
    def specificity(self) -> int:
        """3 category+priority, 2 category, 1 priority, 0 default."""
        return (2 if self.category is not None else 0) + (1 if self.priority is not None else 0)

    def matches(self, category: str | None, priority: str | None) -> bool:
        """Whether this rule applies to a complaint with that category and priority."""
        return (self.category is None or self.category == category) and (
            self.priority is None or self.priority == priority
        )


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """A validated policy. Use :meth:`rule_for` / :meth:`rules_for` to resolve rules."""

    name: str
    rules: tuple[SlaRule, ...]
    description: str = ""
    source: str = field(default="<memory>", compare=False)

    def rule_for(
        self, stage: str, category: str | None = None, priority: str | None = None
    ) -> SlaRule | None:
        """The most specific rule of ``stage`` matching the complaint, or None (no clock)."""
        if stage not in STAGES:
            raise ConfigurationError(
                f"unknown stage {stage!r}; expected one of {STAGES}", field="stage"
            )
        best: SlaRule | None = None
        for rule in self.rules:
            if rule.stage == stage and rule.matches(category, priority):
                if best is None or rule.specificity > best.specificity:
                    best = rule
        return best

    def rules_for(
        self, category: str | None = None, priority: str | None = None
    ) -> dict[str, SlaRule]:
        """Stage → effective rule for a complaint; stages without a rule are left out."""
        chosen = {}
        for stage in STAGES:
            rule = self.rule_for(stage, category, priority)
            if rule is not None:
                chosen[stage] = rule
        return chosen

    def rules_starting_on(
        self, event_type: str, category: str | None = None, priority: str | None = None
    ) -> tuple[SlaRule, ...]:
        """The effective rules whose clock an event of ``event_type`` starts."""
        return tuple(
            r for r in self.rules_for(category, priority).values() if r.starts_on == event_type
        )

    def rules_stopping_on(
        self, event_type: str, category: str | None = None, priority: str | None = None
    ) -> tuple[SlaRule, ...]:
        """The effective rules whose clock an event of ``event_type`` stops."""
        return tuple(
            r for r in self.rules_for(category, priority).values() if event_type in r.stops_on
        )


# --- validation --------------------------------------------------------------------------


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, message: str, field_path: str) -> ConfigurationError:
        return ConfigurationError(
            f"SLA policy {self.source}: {field_path}: {message}",
            field=field_path,
            source=self.source,
        )

    def ratio(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise self.fail(f"must be a number in (0, 1], got {value!r}", where)
        return float(value)

    def event(self, value: Any, where: str, known: frozenset[str]) -> str:
        if not isinstance(value, str) or value not in known:
            raise self.fail(f"unknown event type {value!r}; expected one of {sorted(known)}", where)
        return value

    def filter(self, value: Any, where: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not _FILTER_RE.match(value):
            raise self.fail(
                f"must be a lower-case code such as 'pkh' (or omitted), got {value!r}", where
            )
        return value


def parse_policy(
    data: Any,
    source: str = "<memory>",
    *,
    known_events: Iterable[str] = LIFECYCLE_EVENTS,
) -> SlaPolicy:
    """Validate an already-parsed policy document (a mapping) into an :class:`SlaPolicy`."""
    check = _Checker(source)
    events = frozenset(known_events)
    if not isinstance(data, Mapping):
        raise check.fail("the policy must be a mapping with 'name' and 'rules'", "policy")
    unknown = sorted(str(k) for k in data if k not in _POLICY_KEYS)
    if unknown:
        raise check.fail(f"unknown key; allowed: {sorted(_POLICY_KEYS)}", unknown[0])

    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise check.fail(f"must be a lower-case slug like 'lapor-3-5', got {name!r}", "name")
    description = data.get("description", "") or ""
    if not isinstance(description, str):
        raise check.fail("must be a string", "description")
    default_ratio = check.ratio(data.get("at_risk_ratio", DEFAULT_AT_RISK_RATIO), "at_risk_ratio")

    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise check.fail("must be a non-empty list of rules", "rules")

    rules: list[SlaRule] = []
    seen: dict[tuple[str, str | None, str | None], int] = {}
    for i, raw in enumerate(raw_rules):
        at = f"rules[{i}]"
        if not isinstance(raw, Mapping):
            raise check.fail("each rule must be a mapping", at)
        extra = sorted(str(k) for k in raw if k not in _RULE_KEYS)
        if extra:
            raise check.fail(f"unknown key; allowed: {sorted(_RULE_KEYS)}", f"{at}.{extra[0]}")
        for key in _REQUIRED_RULE_KEYS:
            if raw.get(key) is None:
                raise check.fail("is required", f"{at}.{key}")

        stage = raw["stage"]
        if stage not in STAGES:
            raise check.fail(
                f"unknown stage {stage!r}; expected one of {list(STAGES)}", f"{at}.stage"
            )
        unit = raw["unit"]
        if unit not in UNITS:
            raise check.fail(f"unknown unit {unit!r}; expected one of {list(UNITS)}", f"{at}.unit")
        duration = raw["duration"]
        if isinstance(duration, bool) or not isinstance(duration, int | float):
            raise check.fail(f"must be a number, got {duration!r}", f"{at}.duration")
        if not math.isfinite(duration) or duration <= 0:
            raise check.fail(
                f"must be a positive, finite number, got {duration!r}", f"{at}.duration"
            )
        if unit == WORKING_DAYS:
            if duration != int(duration):
                raise check.fail(
                    f"working_days must be a whole number, got {duration!r}", f"{at}.duration"
                )
            duration = int(duration)

        starts_on = check.event(raw["starts_on"], f"{at}.starts_on", events)
        stops_raw = raw["stops_on"]
        stops_list = [stops_raw] if isinstance(stops_raw, str) else stops_raw
        if not isinstance(stops_list, list) or not stops_list:
            raise check.fail("must be an event type or a non-empty list of them", f"{at}.stops_on")
        stops: list[str] = []
        for j, ev in enumerate(stops_list):
            where = f"{at}.stops_on[{j}]"
            ev = check.event(ev, where, events)
            if ev == starts_on:
                raise check.fail(
                    f"{ev!r} is also starts_on; a clock cannot stop on its start", where
                )
            if ev in stops:
                raise check.fail(f"{ev!r} is listed twice", where)
            stops.append(ev)

        category = check.filter(raw.get("category"), f"{at}.category")
        priority = check.filter(raw.get("priority"), f"{at}.priority")
        ratio = (
            check.ratio(raw["at_risk_ratio"], f"{at}.at_risk_ratio")
            if raw.get("at_risk_ratio") is not None
            else default_ratio
        )

        key = (stage, category, priority)
        if key in seen:
            raise check.fail(
                f"duplicates rules[{seen[key]}] (same stage, category and priority); "
                "which one applies would be ambiguous",
                at,
            )
        seen[key] = i
        rules.append(
            SlaRule(stage, starts_on, tuple(stops), duration, unit, category, priority, ratio)
        )
    return SlaPolicy(name=name, rules=tuple(rules), description=description.strip(), source=source)


def policy_from_yaml(
    text: str, source: str = "<memory>", *, known_events: Iterable[str] = LIFECYCLE_EVENTS
) -> SlaPolicy:
    """Parse and validate a policy from YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(
            f"SLA policy {source}: not valid YAML: {exc}", field="policy", source=source
        ) from exc
    return parse_policy(data, source, known_events=known_events)


def load_policy(path: Path | str, *, known_events: Iterable[str] = LIFECYCLE_EVENTS) -> SlaPolicy:
    """Load and validate the policy file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"SLA policy {path}: cannot read: {exc}", field="policy", source=str(path)
        ) from exc
    return policy_from_yaml(text, str(path), known_events=known_events)


def builtin_policy_names() -> tuple[str, ...]:
    """Names of the policies shipped in ``data/policies`` (file stems)."""
    return tuple(sorted(p.stem for p in POLICY_DIR.glob("*.yaml")))


@cache
def load_builtin_policy(name: str) -> SlaPolicy:
    """A shipped policy by name, e.g. ``"default-24h"`` or ``"lapor-3-5"``."""
    if name not in builtin_policy_names():
        raise ConfigurationError(
            f"no shipped SLA policy {name!r}; available: {list(builtin_policy_names())}",
            field="policy",
        )
    policy = load_policy(POLICY_DIR / f"{name}.yaml")
    if policy.name != name:
        raise ConfigurationError(
            f"SLA policy {policy.source}: name {policy.name!r} does not match the file name",
            field="name",
            source=policy.source,
        )
    return policy

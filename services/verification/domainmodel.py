"""Verification rules: a pure function from (complaint, DTKS answer, rule set, now) to an
outcome — verify, reject with a reason code, or send to the manual desk with a reason.

The rule set is data (data/rules.yaml, loaded and validated by rules.py). Every outcome
names the rule that decided it (`<category>.<check>`) and the DTKS snapshot it was read from.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

PROGRAMS = ("PKH", "BPNT", "PBI_JK", "KIP", "PIP")

# Desk reasons: why a case needs a human instead of an automatic decision.
DESK_NAME_MISMATCH = "name_mismatch"
DESK_KK_ONLY = "nik_not_found_kk_found"
DESK_STALE = "registry_stale"
DESK_NO_SNAPSHOT = "registry_empty"


@dataclass(frozen=True)
class CategoryRule:
    must_be_in_dtks: bool = True
    max_desil: int = 10
    must_have: tuple[str, ...] = ()
    must_not_have: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    version: int
    stale_after_days: int
    name_similarity_min: float
    defaults: CategoryRule
    categories: dict[str, CategoryRule]

    def for_category(self, category: str) -> tuple[str, CategoryRule]:
        if category in self.categories:
            return category, self.categories[category]
        return "default", self.defaults


@dataclass(frozen=True)
class DtksAnswer:
    """What the registry said, read once in the command and recorded in the outcome."""

    person: dict[str, Any] | None
    family: list[dict[str, Any]]
    snapshot_id: str | None
    snapshot_at: datetime | None  # when the current snapshot became current


@dataclass(frozen=True)
class Outcome:
    kind: str  # "verified" | "rejected" | "desk"
    rule: str
    dtks_snapshot: str
    reasons: list[str] = field(default_factory=list)
    reason_code: str = ""  # rejected: why; desk: the desk reason

    @property
    def verified(self) -> bool:
        return self.kind == "verified"

    @property
    def to_desk(self) -> bool:
        return self.kind == "desk"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


_TITLES = {
    "h", "hj", "dr", "drs", "dra", "ir", "prof", "st", "se", "sh", "spd", "skm", "amd", "mm",
    "bpk", "bapak", "ibu", "sdr", "sdri", "tn", "ny", "nn", "almarhum", "alm", "kh", "hajjah",
}


def normalise_name(name: str) -> str:
    """Case, punctuation, whitespace and honorifics/degrees (H., Hj., Dr., S.Pd., Bpk., ...)
    do not make two names different."""
    # Degrees follow a comma ("Siti Aminah, S.Pd."); honorifics precede the name.
    words = re.sub(r"[^a-z ]", " ", name.split(",")[0].lower()).split()
    return " ".join(w for w in words if w not in _TITLES)


def name_similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, normalise_name(a), normalise_name(b)).ratio()


def evaluate(*, category: str, citizen: dict[str, Any], dtks: DtksAnswer, rules: RuleSet,
             now: datetime) -> Outcome:
    name, rule = rules.for_category(category)
    snapshot = dtks.snapshot_id or "none"

    def out(kind: str, check: str, reason: str, code: str = "") -> Outcome:
        return Outcome(kind=kind, rule=f"{name}.{check}", dtks_snapshot=snapshot,
                       reasons=[reason], reason_code=code)

    if dtks.snapshot_id is None:
        return out("desk", "registry", "DTKS replica has no snapshot yet", DESK_NO_SNAPSHOT)
    if dtks.snapshot_at is not None and now - dtks.snapshot_at > timedelta(
            days=rules.stale_after_days):
        age = (now - dtks.snapshot_at).days
        return out("desk", "registry",
                   f"DTKS snapshot {snapshot} is {age} days old (limit {rules.stale_after_days})",
                   DESK_STALE)
    person = dtks.person
    if person is None:
        if dtks.family:
            return out("desk", "terdaftar",
                       f"NIK not in DTKS but family card {citizen.get('kk')} is "
                       f"({len(dtks.family)} members)", DESK_KK_ONLY)
        if rule.must_be_in_dtks:
            return out("rejected", "terdaftar", "NIK tidak ditemukan di DTKS", "not_in_dtks")
        return out("verified", "tanpa_dtks",
                   f"category {category} does not require DTKS registration")
    similarity = name_similarity(citizen.get("name", ""), person.get("name", ""))
    if similarity < rules.name_similarity_min:
        return out("desk", "nama",
                   f"name {citizen.get('name')!r} vs DTKS {person.get('name')!r}: similarity "
                   f"{similarity:.2f} < {rules.name_similarity_min}", DESK_NAME_MISMATCH)
    desil = person.get("desil")
    if desil is not None and desil > rule.max_desil:
        return out("rejected", "desil", f"desil {desil} above {rule.max_desil}",
                   "desil_above_threshold")
    held = set(person.get("programs") or ())
    for program in rule.must_have:
        if program not in held:
            return out("rejected", f"must_have_{program}", f"does not hold {program}",
                       "program_required")
    for program in rule.must_not_have:
        if program in held:
            return out("rejected", f"must_not_have_{program}", f"already holds {program}",
                       "already_has_program")
    return out("verified", "eligible",
               f"in DTKS, desil {desil} <= {rule.max_desil}, programs {sorted(held) or 'none'}")

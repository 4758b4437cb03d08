"""The routing table: per kabupaten/kota, category (+ optional desil / wilayah conditions)
-> one or more agencies, with a default and, per rule, a fallback list for when an agency
returns a case as not its authority ("bukan wewenang").

Pure: parsing, validation and the routing decision. Where tables are kept (the data file,
versioned rows an admin PUTs) is the application's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.agency import DESK_AGENCY, AgencyProfile, routing_file
from shared.errors import ConfigurationError, InvalidRoutingTable

ANY_KABUPATEN = "*"
DESK_RULE = "dinsos-desk"
FALLBACK_SUFFIX = "/fallback"
_RULE_KEYS = {"id", "category", "agencies", "fallback", "min_desil", "max_desil",
              "wilayah_prefix"}


@dataclass(frozen=True)
class Route:
    rule_id: str
    agencies: tuple[str, ...]
    table_version: int = 0


@dataclass(frozen=True)
class Rule:
    id: str
    agencies: tuple[str, ...]
    category: str | None = None
    min_desil: int | None = None
    max_desil: int | None = None
    wilayah_prefix: str | None = None
    fallback: tuple[str, ...] = ()

    @property
    def uses_desil(self) -> bool:
        return self.min_desil is not None or self.max_desil is not None

    def matches(self, category: str, desil: int | None, wilayah: str | None) -> bool:
        if self.category not in (None, category):
            return False
        if self.uses_desil:
            if desil is None:
                return False
            if self.min_desil is not None and desil < self.min_desil:
                return False
            if self.max_desil is not None and desil > self.max_desil:
                return False
        return not (self.wilayah_prefix and not (wilayah or "").startswith(self.wilayah_prefix))

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "agencies": list(self.agencies)}
        for key in ("category", "min_desil", "max_desil", "wilayah_prefix"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        if self.fallback:
            doc["fallback"] = list(self.fallback)
        return doc


def _agency_list(raw: Any, where: str, known: Iterable[str], *, required: bool) -> tuple[str, ...]:
    if raw is None and not required:
        return ()
    if not isinstance(raw, list) or (required and not raw) or not all(
            isinstance(a, str) for a in raw):
        raise InvalidRoutingTable(f"{where} must be a non-empty list of agency codes"
                                  if required else f"{where} must be a list of agency codes",
                                  field=where)
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise InvalidRoutingTable(f"{where} names unknown agencies {unknown}", field=where)
    if len(set(raw)) != len(raw):
        raise InvalidRoutingTable(f"{where} names an agency twice", field=where)
    return tuple(raw)


def _desil(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= 10:
        raise InvalidRoutingTable(f"{where} must be a welfare decile 1..10", field=where)
    return raw


def parse_rule(raw: Any, where: str, known: Iterable[str], *, default: bool = False) -> Rule:
    known = list(known)
    if not isinstance(raw, dict):
        raise InvalidRoutingTable(f"{where} must be a mapping", field=where)
    extra = sorted(set(raw) - _RULE_KEYS)
    if extra:
        raise InvalidRoutingTable(f"{where} has unknown keys {extra}", field=f"{where}.{extra[0]}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip() or "/" in rule_id:
        raise InvalidRoutingTable(f"{where} needs an id (text without '/')", field=f"{where}.id")
    if default and any(raw.get(k) is not None for k in ("category", "min_desil", "max_desil",
                                                        "wilayah_prefix")):
        raise InvalidRoutingTable("the default rule takes no conditions", field=where)
    category = raw.get("category")
    if category is not None and not isinstance(category, str):
        raise InvalidRoutingTable(f"{where}.category must be text", field=f"{where}.category")
    prefix = raw.get("wilayah_prefix")
    if prefix is not None and not (isinstance(prefix, str) and prefix.isdigit()):
        raise InvalidRoutingTable(f"{where}.wilayah_prefix must be digits",
                                  field=f"{where}.wilayah_prefix")
    rule = Rule(
        id=rule_id,
        agencies=_agency_list(raw.get("agencies"), f"{where}.agencies", known, required=True),
        category=category,
        min_desil=_desil(raw.get("min_desil"), f"{where}.min_desil"),
        max_desil=_desil(raw.get("max_desil"), f"{where}.max_desil"),
        wilayah_prefix=prefix,
        fallback=_agency_list(raw.get("fallback"), f"{where}.fallback", known, required=False),
    )
    if rule.min_desil and rule.max_desil and rule.min_desil > rule.max_desil:
        raise InvalidRoutingTable(f"{where}: min_desil above max_desil", field=f"{where}.min_desil")
    return rule


@dataclass(frozen=True)
class KabupatenTable:
    """One kabupaten/kota's table at one version (0 = the data file)."""

    kabupaten: str
    version: int
    rules: tuple[Rule, ...]
    default: Rule
    by_id: dict[str, Rule] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_id.update({r.id: r for r in (*self.rules, self.default)})

    @classmethod
    def parse(cls, kabupaten: str, doc: Any, agencies: Iterable[str],
              version: int = 0) -> KabupatenTable:
        agencies = list(agencies)
        if not isinstance(doc, dict):
            raise InvalidRoutingTable("a routing table must be a mapping", field="body")
        extra = sorted(set(doc) - {"rules", "default"})
        if extra:
            raise InvalidRoutingTable(f"unknown keys {extra}", field=extra[0])
        raw_rules = doc.get("rules") or []
        if not isinstance(raw_rules, list):
            raise InvalidRoutingTable("rules must be a list", field="rules")
        rules = tuple(parse_rule(r, f"rules.{i}", agencies) for i, r in enumerate(raw_rules))
        if "default" not in doc:
            raise InvalidRoutingTable("a routing table needs a default rule", field="default")
        default = parse_rule(doc["default"], "default", agencies, default=True)
        ids = [r.id for r in (*rules, default)]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise InvalidRoutingTable(f"rule ids must be unique, repeated: {dupes}", field="rules")
        return cls(kabupaten, version, rules, default)

    def to_document(self) -> dict[str, Any]:
        return {"rules": [r.to_document() for r in self.rules],
                "default": self.default.to_document()}

    def needs_desil(self, category: str) -> bool:
        """Whether routing this category may depend on the person's DTKS desil, so the
        lookup is made only when a rule asks for it."""
        return any(r.uses_desil and r.category in (None, category) for r in self.rules)

    def rule_for(self, category: str, desil: int | None = None,
                 wilayah: str | None = None) -> Rule:
        for rule in self.rules:
            if rule.matches(category, desil, wilayah):
                return rule
        return self.default

    def route(self, category: str, desil: int | None = None,
              wilayah: str | None = None) -> Route:
        rule = self.rule_for(category, desil, wilayah)
        return Route(rule.id, rule.agencies, self.version)

    def reroute(self, *, routed_by: str | None, category: str, desil: int | None,
                wilayah: str | None, returned_by: Iterable[str],
                open_agencies: Iterable[str] = ()) -> Route | None:
        """After an agency returned the case: the next agency of the rule that routed it
        (its agencies, then its fallback list), else the Dinsos desk; None when even the
        desk returned it. `routed_by` is the rule id recorded in the returned referral; if
        this table version no longer has that rule, the rule it would pick today counts."""
        base = (routed_by or "").removesuffix(FALLBACK_SUFFIX)
        rule = self.by_id.get(base) or self.rule_for(category, desil, wilayah)
        excluded = set(returned_by) | set(open_agencies)
        for agency in (*rule.agencies, *rule.fallback):
            if agency not in excluded:
                return Route(rule.id + FALLBACK_SUFFIX, (agency,), self.version)
        if DESK_AGENCY not in excluded:
            return Route(DESK_RULE, (DESK_AGENCY,), self.version)
        return None


@dataclass(frozen=True)
class RoutingTable:
    """The data file: agency profiles and the tables per kabupaten ('*' for any other)."""

    agencies: dict[str, AgencyProfile]
    tables: dict[str, KabupatenTable]

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> RoutingTable:
        agencies = {code: AgencyProfile.parse(code, raw)
                    for code, raw in (doc.get("agencies") or {}).items()}
        if DESK_AGENCY not in agencies:
            raise ConfigurationError(f"the agencies need the desk agency {DESK_AGENCY}",
                                     field="agencies")
        raw_tables = doc.get("kabupaten") or {}
        if ANY_KABUPATEN not in raw_tables:
            raise ConfigurationError("routing table needs a '*' kabupaten entry",
                                     field="kabupaten")
        tables = {}
        for kab, raw in raw_tables.items():
            try:
                tables[str(kab)] = KabupatenTable.parse(str(kab), raw, agencies)
            except InvalidRoutingTable as exc:
                raise ConfigurationError(f"kabupaten {kab}: {exc.message}",
                                         field=f"kabupaten.{kab}.{exc.field}") from None
        return cls(agencies, tables)

    @classmethod
    def load(cls, path: str | Path | None = None) -> RoutingTable:
        path = Path(path or routing_file())
        try:
            return cls.from_document(yaml.safe_load(path.read_text()) or {})
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"cannot read routing table {path}: {exc}") from None

    def table_for(self, kabupaten: str) -> KabupatenTable:
        return self.tables.get(kabupaten) or self.tables[ANY_KABUPATEN]

    def route(self, *, kabupaten: str, category: str, desil: int | None = None,
              wilayah: str | None = None) -> Route:
        return self.table_for(kabupaten).route(category, desil, wilayah)

"""The routing table: category (+ optional desil / wilayah conditions) -> agencies."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.errors import ConfigurationError

DEFAULT_FILE = Path(__file__).parent / "data" / "routing.yaml"


@dataclass(frozen=True)
class Route:
    rule_id: str
    agencies: tuple[str, ...]


@dataclass(frozen=True)
class RoutingTable:
    agencies: dict[str, str]
    tables: dict[str, dict[str, Any]]

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> RoutingTable:
        agencies = doc.get("agencies") or {}
        tables = doc.get("kabupaten") or {}
        if "*" not in tables:
            raise ConfigurationError("routing table needs a '*' kabupaten entry", field="kabupaten")
        for kab, table in tables.items():
            default = table.get("default") or {}
            for rule in [*(table.get("rules") or []), default]:
                if not rule.get("id") or not rule.get("agencies"):
                    raise ConfigurationError(f"routing rule without id/agencies in {kab}",
                                             field=f"kabupaten.{kab}")
                unknown = set(rule["agencies"]) - set(agencies)
                if unknown:
                    raise ConfigurationError(
                        f"rule {rule['id']} names unknown agencies {sorted(unknown)}",
                        field=f"kabupaten.{kab}.rules.{rule['id']}")
        return cls(agencies, tables)

    @classmethod
    def load(cls, path: str | Path | None = None) -> RoutingTable:
        path = Path(path or os.environ.get("SEDULUR_ROUTING_FILE") or DEFAULT_FILE)
        try:
            return cls.from_document(yaml.safe_load(path.read_text()) or {})
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"cannot read routing table {path}: {exc}") from None

    def route(self, *, kabupaten: str, category: str, desil: int | None = None,
              wilayah: str | None = None) -> Route:
        table = self.tables.get(kabupaten) or self.tables["*"]
        for rule in table.get("rules") or []:
            if rule.get("category") not in (None, category):
                continue
            if rule.get("max_desil") is not None and (desil is None or desil > rule["max_desil"]):
                continue
            if rule.get("wilayah_prefix") and not (wilayah or "").startswith(rule["wilayah_prefix"]):
                continue
            return Route(rule["id"], tuple(rule["agencies"]))
        default = table["default"]
        return Route(default["id"], tuple(default["agencies"]))

"""The complaint category tree, loaded from a data file an admin can change.

Each category has a code (stable, stored in events), a name, an optional parent, a default
`priority` (normal | high | urgent) and a `confidential` flag; children inherit both from
their parent unless they set their own. The file is validated as a whole when read, so a
typo fails at start-up with the entry at fault instead of at the first complaint.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from shared.errors import ConfigurationError, UnknownCategory

DEFAULT_FILE = Path(__file__).parent / "data" / "categories.yaml"
PRIORITIES = ("normal", "high", "urgent")
_KEYS = {"code", "name", "priority", "confidential", "children", "description"}


def priority_rank(priority: str) -> int:
    return PRIORITIES.index(priority)


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, dict[str, Any]]:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read categories file {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("categories"), list):
        raise ConfigurationError(f"{path}: expected a top-level `categories:` list")
    out: dict[str, dict[str, Any]] = {}

    def walk(items: list[Any], parent: dict[str, Any] | None) -> None:
        for item in items:
            if not isinstance(item, dict):
                raise ConfigurationError(f"{path}: a category must be a mapping, got {item!r}")
            code, name = item.get("code"), item.get("name")
            if not isinstance(code, str) or not code or not isinstance(name, str) or not name:
                raise ConfigurationError(f"category without code or name in {path}", field="code")
            unknown = set(item) - _KEYS
            if unknown:
                raise ConfigurationError(
                    f"{path}: category {code!r} has unknown keys {sorted(unknown)}", field=code
                )
            if code in out:
                raise ConfigurationError(f"{path}: category {code!r} appears twice", field=code)
            priority = item.get("priority", parent["priority"] if parent else "normal")
            if priority not in PRIORITIES:
                raise ConfigurationError(
                    f"{path}: category {code!r} priority must be one of {PRIORITIES}",
                    field=code,
                )
            confidential = item.get("confidential", parent["confidential"] if parent else False)
            if not isinstance(confidential, bool):
                raise ConfigurationError(
                    f"{path}: category {code!r} confidential must be true or false", field=code
                )
            node = {
                "code": code,
                "name": name,
                "parent": parent["code"] if parent else None,
                "priority": priority,
                "confidential": confidential,
                "description": item.get("description"),
                "children": [],
            }
            out[code] = node
            if parent is not None:
                parent["children"].append(code)
            walk(item.get("children") or [], node)

    walk(doc["categories"], None)
    return out


def categories() -> dict[str, dict[str, Any]]:
    return _load(os.environ.get("SEDULUR_CATEGORIES_FILE", str(DEFAULT_FILE)))


def require(code: str, field: str = "category") -> dict[str, Any]:
    found = categories().get(code)
    if found is None:
        raise UnknownCategory(
            f"unknown category {code!r}; known: {', '.join(sorted(categories()))}", field=field
        )
    return found


def lookup(code: str, field: str = "category") -> dict[str, Any]:
    """Case-insensitive, for channels where people type the code (SMS: `kis`, `KIS`)."""
    return require(code.strip().lower(), field=field)


def root_of(code: str) -> str:
    node = require(code)
    while node["parent"] is not None:
        node = categories()[node["parent"]]
    return str(node["code"])


def tree() -> list[dict[str, Any]]:
    """The nested tree (for the desk's picker and the OpenAPI example)."""
    flat = categories()

    def nest(code: str) -> dict[str, Any]:
        node = flat[code]
        return {
            "code": code,
            "name": node["name"],
            "priority": node["priority"],
            "confidential": node["confidential"],
            "children": [nest(c) for c in node["children"]],
        }

    return [nest(c) for c, n in flat.items() if n["parent"] is None]

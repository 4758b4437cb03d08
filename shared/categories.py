"""The complaint category tree, loaded from a data file an admin can change."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from shared.errors import ConfigurationError, UnknownCategory

DEFAULT_FILE = Path(__file__).parent / "data" / "categories.yaml"


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, dict[str, Any]]:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read categories file {path}: {exc}") from None
    out: dict[str, dict[str, Any]] = {}

    def walk(items: list[dict[str, Any]], parent: str | None) -> None:
        for item in items or []:
            code = item.get("code")
            if not code or not item.get("name"):
                raise ConfigurationError(f"category without code or name in {path}", field="code")
            out[code] = {"code": code, "name": item["name"], "parent": parent, **{
                k: v for k, v in item.items() if k not in ("code", "name", "children")}}
            walk(item.get("children") or [], code)

    walk(doc.get("categories") or [], None)
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

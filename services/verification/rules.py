"""Loads and validates data/rules.yaml; reloads it when the file changes (by mtime), so an
admin edits rules without a restart. A file that fails validation is refused with a named
error and the rules in force stay."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.errors import ConfigurationError

from .domainmodel import PROGRAMS, CategoryRule, RuleSet

DEFAULT_FILE = Path(__file__).parent / "data" / "rules.yaml"


class _Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    must_be_in_dtks: bool | None = None
    max_desil: int | None = Field(default=None, ge=1, le=10)
    must_have: list[str] | None = None
    must_not_have: list[str] | None = None

    @field_validator("must_have", "must_not_have")
    @classmethod
    def _programs(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            unknown = [p for p in v if p not in PROGRAMS]
            if unknown:
                raise ValueError(f"unknown programs {unknown}; known: {list(PROGRAMS)}")
        return v


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    stale_after_days: int = Field(ge=1)
    name_similarity_min: float = Field(gt=0, le=1)
    defaults: _Category
    categories: dict[str, _Category] = {}


def _merge(base: CategoryRule, c: _Category) -> CategoryRule:
    return CategoryRule(
        must_be_in_dtks=base.must_be_in_dtks if c.must_be_in_dtks is None else c.must_be_in_dtks,
        max_desil=base.max_desil if c.max_desil is None else c.max_desil,
        must_have=base.must_have if c.must_have is None else tuple(c.must_have),
        must_not_have=base.must_not_have if c.must_not_have is None else tuple(c.must_not_have),
    )


def parse(data: Any, source: str = "rules") -> RuleSet:
    try:
        f = _File.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise ConfigurationError(
            f"invalid verification rules in {source}: {first['msg']}",
            field=".".join(str(x) for x in first["loc"]),
        ) from None
    defaults = _merge(CategoryRule(), f.defaults)
    return RuleSet(
        version=f.version,
        stale_after_days=f.stale_after_days,
        name_similarity_min=f.name_similarity_min,
        defaults=defaults,
        categories={k: _merge(defaults, v) for k, v in f.categories.items()},
    )


def load(path: Path) -> RuleSet:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigurationError(f"cannot read verification rules {path}: {e}",
                                 field="rules") from None
    return parse(data, str(path))


class RuleFile:
    """The rules in force: re-read when the file's mtime changes."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path or os.environ.get("SEDULUR_VERIFICATION_RULES") or DEFAULT_FILE)
        self._lock = threading.Lock()
        self._mtime = self.path.stat().st_mtime_ns
        self._rules = load(self.path)
        self.last_error: ConfigurationError | None = None

    def current(self) -> RuleSet:
        mtime = self.path.stat().st_mtime_ns
        if mtime != self._mtime:
            with self._lock:
                if mtime != self._mtime:
                    self._mtime = mtime
                    try:
                        self._rules = load(self.path)
                        self.last_error = None
                    except ConfigurationError as e:
                        # a broken edit must not stop verification: the old rules stay
                        self.last_error = e
        return self._rules

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AgencyCode = Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9_]+$")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AcceptIn(_In):
    agency: str = AgencyCode


class ProgressIn(_In):
    agency: str = AgencyCode
    note: str = Field(min_length=1, max_length=2000)


class ResolveIn(_In):
    agency: str = AgencyCode
    outcome: str = Field(min_length=1, max_length=2000)


class ReturnIn(_In):
    agency: str = AgencyCode
    reason: str = Field(min_length=1, max_length=2000)


class TableIn(_In):
    """A kabupaten's routing table; rules are validated by the domain model."""

    rules: list[Any] = Field(default_factory=list)
    default: Any = None
    expected_version: int | None = Field(default=None, ge=0)


class QueueQuery(_In):
    status: Literal["referred", "accepted", "returned", "resolved"] | None = None
    category: str | None = Field(default=None, max_length=64)
    kabupaten: str | None = Field(default=None, pattern=r"^\d{4}$")
    overdue: bool | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=400)

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ChangesQuery(BaseModel):
    """GET /dtks/changes?from=&to=&kind=&limit=&offset= (from/to default to the previous
    and the current snapshot)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str | None = Field(default=None, alias="from", max_length=200)
    to: str | None = Field(default=None, max_length=200)
    kind: Literal["added", "removed", "desil_changed", "program_changed"] | None = None
    limit: int = Field(default=100, ge=1, le=5000)
    offset: int = Field(default=0, ge=0)

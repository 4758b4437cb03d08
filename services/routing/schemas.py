from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    agency: str = Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9_]+$")
    outcome: str = Field(min_length=1, max_length=2000)

"""Query of GET /reports/recap (served by the sla service)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RecapQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(description="YYYY-MM (month), YYYY-Www (ISO week) or YYYY-MM-DD")
    area: str = Field(description="wilayah code: 2 (provinsi), 4 (kabupaten), 6 or 10 digits")
    format: Literal["pdf", "xlsx", "csv", "json"] = "pdf"

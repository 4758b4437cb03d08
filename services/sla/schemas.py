"""Request bodies of the sla service."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.errors import InvalidInput


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500,
                        description="why the clock waits, e.g. waiting for the citizen's KK")


class BoardQuery(BaseModel):
    """GET /board and /board/compliance query string."""

    model_config = ConfigDict(extra="forbid")

    by: Literal["stage", "agency", "kecamatan", "kabupaten"] = "stage"
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    period: Literal["day", "week", "month"] = "week"
    tz: Literal["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura", "UTC"] = "Asia/Jakarta"

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        until = self.until or now
        since = self.since or until - timedelta(days=30)
        if since >= until:
            raise InvalidInput("since must be before until", field="since")
        return since, until

"""SQL of the sla service: the timer's scan, claim and mark; the SLA board."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.db import Database

# An open, running clock whose next step is due: step k (0 = the breach itself) fires at
# due_at + k stage budgets; escalation_level counts the steps already taken.
_STEP_DUE = (
    "closed_at IS NULL AND paused_at IS NULL AND rule IS NOT NULL"
    " AND escalation_level < %(steps)s"
    " AND due_at + (due_at - started_at) * escalation_level <= %(now)s"
)

# What a desk sees for one clock: met / missed once closed; else paused, breached (past
# due), at_risk (past the at-risk instant) or on_track.
_STATE = (
    "CASE WHEN closed_at IS NOT NULL THEN"
    " CASE WHEN closed_at <= due_at THEN 'met' ELSE 'missed' END"
    " WHEN paused_at IS NOT NULL THEN 'paused'"
    " WHEN due_at <= now() THEN 'breached'"
    " WHEN at_risk_at <= now() THEN 'at_risk'"
    " ELSE 'on_track' END"
)


@dataclass
class Claimed:
    """An overdue deadline row locked by this instance until the claim's transaction ends."""

    complaint_id: UUID
    stage: str
    policy: str
    due_at: datetime
    started_at: datetime
    step: int
    projected_version: int
    _cur: Any

    def mark(self, now: datetime) -> None:
        """The step is on record: flag the row in the claim's transaction."""
        self._cur.execute(
            "UPDATE sla.deadlines SET breached_at = COALESCE(breached_at, %s),"
            " escalation_level = GREATEST(escalation_level, %s)"
            " WHERE complaint_id = %s AND stage = %s",
            (now, self.step + 1, self.complaint_id, self.stage),
        )


# Rows of one area: a wilayah-code prefix ("" = everywhere) matched against the clock's
# kecamatan (which begins with its kabupaten) or its kabupaten.
_IN_AREA = ("(%(area)s = '' OR kecamatan LIKE %(area)s || '%%'"
            " OR (kecamatan IS NULL AND kabupaten = left(%(area)s, 4)))")


class DeadlineStore:
    def __init__(self, db: Database, projection: str = "sla.deadlines") -> None:
        self.db = db
        self.projection = projection

    # -- the timer -------------------------------------------------------------------------
    def overdue(self, now: datetime, steps: int, limit: int) -> list[tuple[UUID, str]]:
        rows = self.db.fetchall(
            f"SELECT complaint_id, stage FROM sla.deadlines WHERE {_STEP_DUE}"
            " ORDER BY due_at LIMIT %(limit)s",
            {"now": now, "steps": steps, "limit": limit},
        )
        return [(r["complaint_id"], r["stage"]) for r in rows]

    @contextmanager
    def claim(self, complaint_id: UUID, stage: str, now: datetime,
              steps: int) -> Iterator[Claimed | None]:
        """Lock the row if it is still overdue and no other instance holds it (SKIP LOCKED:
        another sla instance working on it means we simply move on)."""
        with self.db.transaction() as cur:
            cur.execute(
                "SELECT complaint_id, stage, policy, due_at, started_at, escalation_level"
                f" FROM sla.deadlines WHERE complaint_id = %(cid)s AND stage = %(stage)s"
                f" AND {_STEP_DUE} FOR UPDATE SKIP LOCKED",
                {"cid": complaint_id, "stage": stage, "now": now, "steps": steps},
            )
            row: Any = cur.fetchone()  # dict rows (shared.db)
            if row is None:
                yield None
                return
            cur.execute(
                "SELECT version FROM sla.projection_tracking WHERE projection = %s"
                " AND complaint_id = %s", (self.projection, complaint_id))
            tracked: Any = cur.fetchone()
            yield Claimed(row["complaint_id"], row["stage"], row["policy"], row["due_at"],
                          row["started_at"], row["escalation_level"],
                          tracked["version"] if tracked else 0, cur)

    def flag_at_risk(self, now: datetime) -> list[str]:
        """Flag running clocks past their at-risk instant; returns the stages newly flagged
        (a second instance re-checks the condition under the row lock: nothing twice)."""
        with self.db.transaction() as cur:
            # SKIP LOCKED: rows another instance or a projection transaction holds are left
            # for the next tick instead of waited on (no lock-order deadlocks).
            cur.execute(
                "WITH risky AS (SELECT complaint_id, stage FROM sla.deadlines"
                "  WHERE closed_at IS NULL AND paused_at IS NULL AND at_risk_flagged_at IS NULL"
                "  AND at_risk_at <= %(now)s FOR UPDATE SKIP LOCKED)"
                " UPDATE sla.deadlines d SET at_risk_flagged_at = %(now)s FROM risky"
                " WHERE d.complaint_id = risky.complaint_id AND d.stage = risky.stage"
                " RETURNING d.stage",
                {"now": now},
            )
            rows: list[Any] = cur.fetchall()
            return [r["stage"] for r in rows]

    def gauges(self, now: datetime) -> list[dict[str, Any]]:
        return self.db.fetchall(
            "SELECT stage, count(*) AS open,"
            " count(*) FILTER (WHERE at_risk_at <= %(now)s AND due_at > %(now)s) AS at_risk,"
            " count(*) FILTER (WHERE due_at <= %(now)s) AS breached"
            " FROM sla.deadlines WHERE closed_at IS NULL AND rule IS NOT NULL"
            " GROUP BY stage ORDER BY stage",
            {"now": now},
        )

    # -- reads -------------------------------------------------------------------------------
    def for_complaint(self, complaint_id: UUID) -> list[dict[str, Any]]:
        return self.db.fetchall(
            f"SELECT *, {_STATE} AS state FROM sla.deadlines WHERE complaint_id = %s"
            " ORDER BY started_at, stage",
            (complaint_id,),
        )

    def open_deadlines(self, limit: int = 500, area: str = "") -> list[dict[str, Any]]:
        return self.db.fetchall(
            f"SELECT *, {_STATE} AS state FROM sla.deadlines WHERE closed_at IS NULL"
            f" AND {_IN_AREA} ORDER BY due_at LIMIT %(limit)s",
            {"limit": limit, "area": area},
        )


BOARD_DIMENSIONS = {"stage": "stage", "agency": "agency", "kecamatan": "kecamatan",
                    "kabupaten": "kabupaten"}
PERIODS = ("day", "week", "month")


class Board:
    """The SLA board, read straight from sla.deadlines (one row per clock)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def summary(self, by: str, now: datetime, since: datetime,
                until: datetime, area: str = "") -> list[dict[str, Any]]:
        """Per ``by`` value: running clocks on track / at risk / overdue now, clocks due in
        [since, until), and of the clocks closed in that period how many in time."""
        column = BOARD_DIMENSIONS[by]
        return self.db.fetchall(
            f"SELECT COALESCE({column}, '-') AS key,"
            " count(*) FILTER (WHERE closed_at IS NULL) AS open,"
            " count(*) FILTER (WHERE closed_at IS NULL AND at_risk_at > %(now)s) AS on_track,"
            " count(*) FILTER (WHERE closed_at IS NULL AND at_risk_at <= %(now)s"
            "   AND due_at > %(now)s) AS at_risk,"
            " count(*) FILTER (WHERE closed_at IS NULL AND due_at <= %(now)s) AS overdue,"
            " count(*) FILTER (WHERE due_at >= %(since)s AND due_at < %(until)s) AS due,"
            " count(*) FILTER (WHERE breached_at >= %(since)s AND breached_at < %(until)s)"
            "   AS breached,"
            " count(*) FILTER (WHERE closed_at >= %(since)s AND closed_at < %(until)s)"
            "   AS closed,"
            " count(*) FILTER (WHERE closed_at >= %(since)s AND closed_at < %(until)s"
            "   AND closed_at <= due_at) AS closed_in_time,"
            " round(100.0 * count(*) FILTER (WHERE closed_at >= %(since)s"
            "   AND closed_at < %(until)s AND closed_at <= due_at)"
            "   / NULLIF(count(*) FILTER (WHERE closed_at >= %(since)s"
            "   AND closed_at < %(until)s), 0), 1)::float AS compliance_pct"
            f" FROM sla.deadlines WHERE rule IS NOT NULL AND {_IN_AREA}"
            "   AND (closed_at IS NULL OR closed_at >= %(since)s"
            "        OR (due_at >= %(since)s AND due_at < %(until)s)"
            "        OR (breached_at >= %(since)s AND breached_at < %(until)s))"
            f" GROUP BY 1 ORDER BY 1",
            {"now": now, "since": since, "until": until, "area": area},
        )

    def compliance(self, by: str, period: str, tz: str, since: datetime,
                   until: datetime, area: str = "") -> list[dict[str, Any]]:
        """Compliance % of clocks closed per ``period`` (local ``tz`` calendar) and ``by``."""
        column = BOARD_DIMENSIONS[by]
        return self.db.fetchall(
            "SELECT date_trunc(%(period)s, closed_at AT TIME ZONE %(tz)s)::date AS period,"
            f" COALESCE({column}, '-') AS key, count(*) AS closed,"
            " count(*) FILTER (WHERE closed_at <= due_at) AS closed_in_time,"
            " round(100.0 * count(*) FILTER (WHERE closed_at <= due_at) / count(*), 1)::float"
            "   AS compliance_pct"
            f" FROM sla.deadlines WHERE rule IS NOT NULL AND {_IN_AREA}"
            " AND closed_at >= %(since)s AND closed_at < %(until)s GROUP BY 1, 2 ORDER BY 1, 2",
            {"period": period, "tz": tz, "since": since, "until": until, "area": area},
        )

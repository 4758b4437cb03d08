"""SLA deadlines per complaint stage, computed from the complaint's events by its policy.

Exactly-once per stream comes from StreamProjection (tracking row in the same transaction).
Determinism (rebuild == live) comes from computing every instant from the events' own
timestamps, the policy chosen at registration and the calendar data: no clock is read here.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from shared.projection import StreamProjection

from .domainmodel import (
    DEFAULT_ESCALATION_LEVELS,
    LIFECYCLE_WORDS,
    TERMINAL_WORDS,
    PolicySet,
    RegionalCalendars,
    kecamatan_of,
    moved_by_pause,
    policy_version,
    rule_as_dict,
    rule_from_dict,
    start_clock,
    zone_name_for,
)
from .metrics import TIME_TO_RESOLVE
from .policies import SlaPolicy

_OPEN_COLUMNS = (
    "complaint_id, stage, policy, policy_version, rule, tz, started_at, due_at, at_risk_at,"
    " paused_at, kabupaten, kecamatan, agency, category, priority, calendar"
)


class Deadlines(StreamProjection):
    name = "sla.deadlines"
    schema = "sla"
    tables = ("sla.deadlines", "sla.complaint_clocks")
    per_stream = True  # every row is one complaint's, computed from its own events

    def __init__(self, app: Any, db: Any, policies: PolicySet | None = None,
                 escalation_levels: tuple[str, ...] = DEFAULT_ESCALATION_LEVELS,
                 calendars: RegionalCalendars | None = None) -> None:
        super().__init__(app, db)
        self.policies = policies or PolicySet.from_env()
        self.calendars = calendars or RegionalCalendars.from_env()
        self.escalation_levels = escalation_levels
        self._live = threading.local()  # green-thread local under eventlet
        self._replay = threading.local()

    # -- live: observe time-to-resolve once per Resolved (not on rebuild) -----------------
    def catch_up(self, complaint_id: UUID) -> int:
        self._live.resolved = []
        try:
            applied = super().catch_up(complaint_id)
            for seconds in self._live.resolved:
                TIME_TO_RESOLVE.observe(seconds)
            return applied
        finally:
            self._live.resolved = None

    # -- replay: the clock facts in memory --------------------------------------------------
    def replay_page(self, cur: Any, position: int, limit: int) -> tuple[int, int]:
        """During a replay the page's complaint_clocks rows are kept in memory as the
        handlers write them, so `_lifecycle` does not read each back (a round trip per
        event, which also stopped the writes from being sent together)."""
        self._replay.facts = {}
        try:
            return super().replay_page(cur, position, limit)
        finally:
            self._replay.facts = None

    def _facts_cache(self) -> dict[UUID, dict[str, Any]] | None:
        return getattr(self._replay, "facts", None)

    def _remember(self, complaint_id: UUID, **changes: Any) -> None:
        cache = self._facts_cache()
        if cache is not None and complaint_id in cache:
            cache[complaint_id].update(changes)

    # -- events ----------------------------------------------------------------------------
    def apply(self, cur: Any, event: Any) -> None:
        name = type(event).__name__
        handler = getattr(self, "on_" + name, None)
        if handler is not None:
            handler(cur, event)
        word = LIFECYCLE_WORDS.get(name)
        if word is not None:
            self._lifecycle(cur, event, word)

    def on_Registered(self, cur: Any, e: Any) -> None:
        policy = self.policies.for_kabupaten(e.kabupaten)
        facts = {
            "complaint_id": e.originator_id, "policy": policy.name,
            "policy_version": policy_version(policy),
            "tz": zone_name_for(e.kabupaten, e.wilayah), "kabupaten": e.kabupaten,
            "kecamatan": kecamatan_of(e.desk, e.wilayah), "category": e.category,
            "priority": e.priority, "agency": None, "registered_at": e.timestamp,
            "resolved_at": None, "paused_at": None,
        }
        cur.execute(
            "INSERT INTO sla.complaint_clocks (complaint_id, policy, policy_version, tz,"
            " kabupaten, kecamatan, category, priority, registered_at)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (complaint_id) DO NOTHING",
            (facts["complaint_id"], facts["policy"], facts["policy_version"], facts["tz"],
             facts["kabupaten"], facts["kecamatan"], facts["category"], facts["priority"],
             facts["registered_at"]),
        )
        cache = self._facts_cache()
        if cache is not None:
            cache.setdefault(e.originator_id, facts)  # DO NOTHING: a first row stays

    def on_ReferredToOPD(self, cur: Any, e: Any) -> None:
        cur.execute("UPDATE sla.complaint_clocks SET agency = %s WHERE complaint_id = %s",
                    (e.agency, e.originator_id))
        self._remember(e.originator_id, agency=e.agency)

    def on_Resolved(self, cur: Any, e: Any) -> None:
        if self._facts_cache() is not None:
            # A replay observes no metric, so it needs no answer back.
            cur.execute("UPDATE sla.complaint_clocks SET resolved_at = %s WHERE complaint_id = %s",
                        (e.timestamp, e.originator_id))
            self._remember(e.originator_id, resolved_at=e.timestamp)
            return
        cur.execute(
            "UPDATE sla.complaint_clocks SET resolved_at = %s WHERE complaint_id = %s"
            " RETURNING registered_at", (e.timestamp, e.originator_id))
        row = cur.fetchone()
        pending = getattr(self._live, "resolved", None)
        if row is not None and pending is not None:
            pending.append((e.timestamp - row["registered_at"]).total_seconds())

    def on_SlaBreached(self, cur: Any, e: Any) -> None:
        # The record wins over the timer's provisional mark: rebuild == live.
        cur.execute(
            "UPDATE sla.deadlines SET breached_at = %s,"
            " escalation_level = GREATEST(escalation_level, 1)"
            " WHERE complaint_id = %s AND stage = %s",
            (e.timestamp, e.originator_id, e.stage),
        )

    def on_Escalated(self, cur: Any, e: Any) -> None:
        levels = self.escalation_levels
        level = levels.index(e.level) + 1 if e.level in levels else 1
        cur.execute(
            "UPDATE sla.deadlines SET escalation_level = GREATEST(escalation_level, %s)"
            " WHERE complaint_id = %s AND stage = %s",
            (level, e.originator_id, e.stage),
        )

    def on_ClockPaused(self, cur: Any, e: Any) -> None:
        cur.execute("UPDATE sla.complaint_clocks SET paused_at = %s WHERE complaint_id = %s",
                    (e.timestamp, e.originator_id))
        self._remember(e.originator_id, paused_at=e.timestamp)
        cur.execute(
            "UPDATE sla.deadlines SET paused_at = %s"
            " WHERE complaint_id = %s AND closed_at IS NULL AND paused_at IS NULL",
            (e.timestamp, e.originator_id),
        )

    def on_ClockResumed(self, cur: Any, e: Any) -> None:
        cur.execute("UPDATE sla.complaint_clocks SET paused_at = NULL WHERE complaint_id = %s",
                    (e.originator_id,))
        self._remember(e.originator_id, paused_at=None)
        cur.execute(
            "SELECT stage, rule, tz, kabupaten, started_at, due_at, at_risk_at, paused_at"
            " FROM sla.deadlines WHERE complaint_id = %s AND closed_at IS NULL"
            " AND paused_at IS NOT NULL AND rule IS NOT NULL ORDER BY stage",
            (e.originator_id,),
        )
        for row in cur.fetchall():
            due, risk = moved_by_pause(row["due_at"], row["at_risk_at"], row["started_at"],
                                       row["paused_at"], e.timestamp,
                                       rule_from_dict(row["rule"]), row["tz"],
                                       self.calendars.for_kabupaten(row["kabupaten"])[0])
            paused = max(0.0, (e.timestamp - max(row["paused_at"], row["started_at"]))
                         .total_seconds())
            cur.execute(
                "UPDATE sla.deadlines SET due_at = %s, at_risk_at = %s, paused_at = NULL,"
                " paused_seconds = paused_seconds + %s,"
                " at_risk_flagged_at = CASE WHEN %s > at_risk_flagged_at THEN NULL"
                " ELSE at_risk_flagged_at END"
                " WHERE complaint_id = %s AND stage = %s",
                (due, risk, paused, risk, e.originator_id, row["stage"]),
            )

    # -- clocks by policy --------------------------------------------------------------------
    def _lifecycle(self, cur: Any, e: Any, word: str) -> None:
        cache = self._facts_cache()
        facts = cache.get(e.originator_id) if cache is not None else None
        if facts is None:
            cur.execute("SELECT * FROM sla.complaint_clocks WHERE complaint_id = %s",
                        (e.originator_id,))
            facts = cur.fetchone()
            if facts is not None and cache is not None:
                cache[e.originator_id] = dict(facts)
        if facts is None:
            return  # a stream whose Registered predates this projection's facts table
        policy = self._policy(facts["policy"], facts["kabupaten"])
        category, priority = facts["category"], facts["priority"]
        if word in TERMINAL_WORDS:
            self._close(cur, e.originator_id, None, e.timestamp)
        else:
            stopping = [r.stage for r in policy.rules_stopping_on(word, category, priority)]
            if stopping:
                self._close(cur, e.originator_id, stopping, e.timestamp)
        for rule in policy.rules_starting_on(word, category, priority):
            self._open(cur, e, facts, policy, rule)

    def _policy(self, name: str, kabupaten: str) -> SlaPolicy:
        current = self.policies.for_kabupaten(kabupaten)
        if current.name == name:
            return current
        for candidate in (self.policies.default, *self.policies.by_kabupaten.values()):
            if candidate.name == name:
                return candidate
        return current  # the complaint's policy is no longer configured: the current one

    def _close(self, cur: Any, complaint_id: UUID, stages: list[str] | None,
               at: datetime) -> None:
        cur.execute(
            "UPDATE sla.deadlines SET closed_at = %s WHERE complaint_id = %s"
            " AND (%s::text[] IS NULL OR stage = ANY(%s::text[])) AND closed_at IS NULL",
            (at, complaint_id, stages, stages),
        )

    def _open(self, cur: Any, e: Any, facts: dict[str, Any], policy: SlaPolicy,
              rule: Any) -> None:
        calendar, calendar_version = self.calendars.for_kabupaten(facts["kabupaten"])
        clock = start_clock(rule, e.timestamp, facts["tz"], calendar)
        agency = facts["agency"] if rule.starts_on in ("referred", "accepted") else None
        # A running clock keeps running (a second agency referred); a closed one restarts
        # (a referral returned and routed again).
        cur.execute(
            f"INSERT INTO sla.deadlines ({_OPEN_COLUMNS})"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
            " ON CONFLICT (complaint_id, stage) DO UPDATE SET"
            " policy = EXCLUDED.policy, policy_version = EXCLUDED.policy_version,"
            " rule = EXCLUDED.rule, tz = EXCLUDED.tz, started_at = EXCLUDED.started_at,"
            " due_at = EXCLUDED.due_at, at_risk_at = EXCLUDED.at_risk_at,"
            " paused_at = EXCLUDED.paused_at, agency = EXCLUDED.agency, closed_at = NULL,"
            " calendar = EXCLUDED.calendar,"
            " paused_seconds = 0, breached_at = NULL, escalation_level = 0,"
            " at_risk_flagged_at = NULL"
            " WHERE sla.deadlines.closed_at IS NOT NULL",
            (e.originator_id, rule.stage, policy.name, policy_version(policy),
             Jsonb(rule_as_dict(rule)), facts["tz"], clock.started_at, clock.due_at,
             clock.at_risk_at, facts["paused_at"], facts["kabupaten"], facts["kecamatan"],
             agency, facts["category"], facts["priority"], calendar_version),
        )

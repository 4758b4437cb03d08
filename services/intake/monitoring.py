"""The supervisor's view of operators: who is online, who has gone idle, whose input
deadlines are at risk, rolled up per desk, kecamatan and kabupaten. Pure: rows in, view out
(the clock is an argument), so the same function feeds the HTTP view, the live stream and
the Prometheus gauges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from .application import WIB


@dataclass(frozen=True)
class MonitorPolicy:
    idle_after_seconds: int = 900
    heartbeat_seconds: int = 60
    at_risk_minutes: int = 120

    @property
    def offline_after_seconds(self) -> int:
        # Three missed heartbeats: one lost packet does not make a desk look closed.
        return 3 * self.heartbeat_seconds


class ActivityRows(Protocol):
    def operators(self, area: str, today: date, week_start: date,
                  at_risk_before: datetime) -> list[dict[str, Any]]: ...


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def operator_view(row: dict[str, Any], now: datetime, policy: MonitorPolicy) -> dict[str, Any]:
    logged_in = row.get("logged_in_at")
    last_seen = row.get("last_seen_at")
    online = bool(
        row.get("has_session")
        and row.get("logged_out_at") is None
        and last_seen is not None
        and (now - last_seen).total_seconds() <= policy.offline_after_seconds
    )
    marks = [t for t in (row.get("last_action_at"), logged_in) if t is not None]
    since = max(marks) if marks else None
    idle_seconds = max(0.0, (now - since).total_seconds()) if since else None
    at_risk = row.get("deadlines_at_risk")
    return {
        "operator_id": row["operator_id"],
        "desk": row["desk"],
        "kecamatan": row["desk"][:6],
        "kabupaten": row["desk"][:4],
        "online": online,
        "last_action": row.get("last_action"),
        "last_action_at": _iso(row.get("last_action_at")),
        "last_seen_at": _iso(last_seen),
        "idle_minutes": None if idle_seconds is None else int(idle_seconds // 60),
        "idle_seconds": None if idle_seconds is None else int(idle_seconds),
        "idle": bool(online and idle_seconds is not None
                     and idle_seconds > policy.idle_after_seconds),
        "complaints_today": int(row.get("complaints_today") or 0),
        "complaints_week": int(row.get("complaints_week") or 0),
        "deadlines_at_risk": at_risk,
        "deadline_at_risk": bool(at_risk),
    }


def rollup(operators: list[dict[str, Any]], level: str) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for op in operators:
        g = groups.setdefault(op[level], {
            level: op[level], "operators": 0, "online": 0, "idle": 0,
            "complaints_today": 0, "complaints_week": 0, "deadlines_at_risk": 0,
        })
        g["operators"] += 1
        g["online"] += op["online"]
        g["idle"] += op["idle"]
        g["complaints_today"] += op["complaints_today"]
        g["complaints_week"] += op["complaints_week"]
        g["deadlines_at_risk"] += op["deadlines_at_risk"] or 0
    return [groups[k] for k in sorted(groups)]


def activity_view(rows_source: ActivityRows, area: str, now: datetime,
                  policy: MonitorPolicy) -> dict[str, Any]:
    local = now.astimezone(WIB)
    today = local.date()
    week_start = today - timedelta(days=today.weekday())
    rows = rows_source.operators(area, today, week_start,
                                 now + timedelta(minutes=policy.at_risk_minutes))
    operators = [operator_view(r, now, policy) for r in rows]
    return {
        "area": area,
        "at": now.isoformat(),
        "idle_after_seconds": policy.idle_after_seconds,
        "operators": operators,
        "desks": rollup(operators, "desk"),
        "kecamatan": rollup(operators, "kecamatan"),
        "kabupaten": rollup(operators, "kabupaten"),
    }


# Fields whose change is news for the live view (idle_seconds ticks every second: not news).
_NEWS = ("online", "idle", "last_action", "last_action_at", "complaints_today",
         "complaints_week", "deadline_at_risk", "deadlines_at_risk", "desk")


def changes(before: dict[str, dict[str, Any]], view: dict[str, Any]
            ) -> tuple[dict[str, dict[str, Any]], list[tuple[str, dict[str, Any]]]]:
    """(new memory, [(sse event name, payload)]) between two views of the same area."""
    out: list[tuple[str, dict[str, Any]]] = []
    memory: dict[str, dict[str, Any]] = {}
    for op in view["operators"]:
        key = op["operator_id"]
        news = {k: op[k] for k in _NEWS}
        memory[key] = news
        old = before.get(key)
        if old == news:
            continue
        # An operator new to the view is compared with one that has done nothing yet.
        was = old or {"idle": False, "deadline_at_risk": False, "complaints_today": 0}
        if op["idle"] and not was["idle"]:
            out.append(("idle", op))
        elif op["deadline_at_risk"] and not was["deadline_at_risk"]:
            out.append(("deadline_at_risk", op))
        elif op["complaints_today"] > was["complaints_today"]:
            out.append(("registration", op))
        else:
            out.append(("operator", op))
    return memory, out

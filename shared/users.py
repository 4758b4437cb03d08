"""PostgreSQL side of auth: the users a token may be issued for, and the access log of
personal-data reads (who read which complaint, when, through which endpoint)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from shared.auth import Principal, Resource, allowed, issue_token
from shared.db import Database
from shared.errors import Forbidden, InvalidInput, NotFound


class UserNotFound(NotFound):
    code = "user_not_found"


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, principal: Principal, display_name: str | None = None) -> Principal:
        missing = principal.missing_area()
        if missing:
            raise InvalidInput(f"a {principal.role} needs {', '.join(missing)}",
                               field=missing[0])
        self.db.execute(
            "INSERT INTO auth.users (user_id, role, desk, kecamatan, kabupaten, agency,"
            " display_name) VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (user_id) DO UPDATE SET"
            " role = EXCLUDED.role, desk = EXCLUDED.desk, kecamatan = EXCLUDED.kecamatan,"
            " kabupaten = EXCLUDED.kabupaten, agency = EXCLUDED.agency,"
            " display_name = EXCLUDED.display_name, active = true",
            (principal.user_id, principal.role, principal.desk, principal.kecamatan,
             principal.kabupaten, principal.agency, display_name),
        )
        return principal

    def get(self, user_id: str) -> Principal:
        row = self.db.fetchone(
            "SELECT user_id, role, desk, kecamatan, kabupaten, agency FROM auth.users"
            " WHERE user_id = %s AND active", (user_id,))
        if row is None:
            raise UserNotFound(f"no active user {user_id!r}", field="user_id")
        return Principal(**row)

    def list(self, role: str | None = None) -> list[dict[str, Any]]:
        return self.db.fetchall(
            "SELECT user_id, role, desk, kecamatan, kabupaten, agency, display_name, active"
            " FROM auth.users WHERE (%s::text IS NULL OR role = %s) ORDER BY role, user_id",
            (role, role))

    def token(self, user_id: str, ttl: int | None = None) -> str:
        return issue_token(self.get(user_id), ttl=ttl)


class AccessLog:
    """Append one row per read of personal data; an auditor queries them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, actor: dict[str, Any] | Principal, *, action: str, endpoint: str,
               allowed: bool, complaint_id: UUID | str | None = None,
               subject: str | None = None, correlation_id: str | None = None) -> None:
        p = Principal.from_actor(actor)
        self.db.execute(
            "INSERT INTO auth.access_log (user_id, role, action, complaint_id, subject,"
            " endpoint, allowed, correlation_id) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
            (p.user_id, p.role, action, str(complaint_id) if complaint_id else None, subject,
             endpoint, allowed, correlation_id),
        )

    def authorize_read(self, actor: dict[str, Any] | Principal, action: str,
                       resource: Resource, *, endpoint: str,
                       correlation_id: str | None = None, subject: str | None = None
                       ) -> Principal:
        """authorize() for a read of personal data, logged whether allowed or denied (a
        denied read is what breach detection looks for)."""
        p = Principal.from_actor(actor)
        ok = allowed(p, action, resource)
        self.record(p, action=action, endpoint=endpoint, allowed=ok,
                    complaint_id=resource.complaint_id, subject=subject,
                    correlation_id=correlation_id)
        if not ok:
            raise Forbidden(f"a {p.role} may not {action} here", field="authorization")
        return p

    def query(self, *, complaint_id: UUID | str | None = None, user_id: str | None = None,
              since: datetime | None = None, limit: int = 500) -> list[dict[str, Any]]:
        return self.db.fetchall(
            "SELECT id, at, user_id, role, action, complaint_id, subject, endpoint, allowed,"
            " correlation_id FROM auth.access_log"
            " WHERE (%(c)s::uuid IS NULL OR complaint_id = %(c)s::uuid)"
            "   AND (%(u)s::text IS NULL OR user_id = %(u)s)"
            "   AND (%(s)s::timestamptz IS NULL OR at >= %(s)s)"
            " ORDER BY id DESC LIMIT %(n)s",
            {"c": str(complaint_id) if complaint_id else None, "u": user_id, "s": since,
             "n": max(1, min(limit, 5000))},
        )

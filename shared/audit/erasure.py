"""Erasure on request (UU PDP): destroy a person's data keys, record who/when/why, and make
the read models forget (docs/audit.md, "Personal data").

No stored event changes: the events keep their ciphertext and their hashes, so the chain
still verifies, while every read of them (aggregate, history, relay, rebuild) now gets
"[dihapus]" in the personal fields.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from shared.config import Settings
from shared.db import Database, connect
from shared.errors import InvalidInput
from shared.identity import NIK


def erase(settings: Settings, nik: str, *, reason: str, actor: str) -> dict[str, Any]:
    from shared.eventstore import keyring_for
    from shared.projection_rebuild import select

    if not reason.strip():
        raise InvalidInput("an erasure needs its reason (the request and its legal basis)",
                           field="reason")
    if not actor.strip():
        raise InvalidInput("an erasure needs the officer who carries it out", field="actor")
    value = NIK.parse(nik, field="nik").value
    ring = keyring_for(settings)
    subject = ring.master.subject(value)
    with connect(settings.pg_dsn, autocommit=False) as conn:
        shredded = [r[0] for r in conn.execute(
            "UPDATE keystore.person_keys SET wrapped_key = NULL, shredded_at = now()"
            " WHERE subject = %s AND shredded_at IS NULL RETURNING key_id", (subject,))]
        # Every complaint sealed with any key this person ever had: a repeated request
        # purges again what a process still holding a cached key may have projected.
        complaints = [r[0] for r in conn.execute(
            "SELECT s.originator_id FROM keystore.stream_keys s JOIN keystore.person_keys p"
            " USING (key_id) WHERE p.subject = %s ORDER BY 1", (subject,))]
        # Complaints registered before per-person keys existed are plaintext in the store:
        # they cannot be shredded, only reported (docs/audit.md).
        plaintext = [r[0] for r in conn.execute(
            "SELECT complaint_id FROM intake.citizen_complaints WHERE nik = %s"
            " UNION SELECT complaint_id FROM verification.complaints WHERE nik = %s"
            " EXCEPT SELECT originator_id FROM keystore.stream_keys ORDER BY 1",
            (value, value))]
        row = conn.execute(
            "INSERT INTO audit.erasures (subject, key_ids, complaints, plaintext_streams,"
            " reason, actor) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, erased_at",
            (subject, shredded, complaints, plaintext, reason.strip(), actor.strip()),
        ).fetchone()
        conn.commit()
    ring.forget()
    projections = purge(settings, complaints, select)
    return {
        "erasure_id": row[0],
        "erased_at": row[1].isoformat(),
        "subject": subject.hex()[:16],
        "keys_shredded": len(shredded),
        "complaints": [str(c) for c in complaints],
        "plaintext_complaints": [str(c) for c in plaintext],
        "projections_purged": projections,
    }


def purge(settings: Settings, complaints: list[UUID], select: Any) -> list[str]:
    """Blank the personal columns of these complaints in every projection, in one
    transaction (the rows then equal a rebuild from the redacted events)."""
    from shared.eventstore import ComplaintsApplication

    if not complaints:
        return []
    db = Database.from_settings(settings, max_size=1)
    app = ComplaintsApplication(settings)
    try:
        projections = select(None, app, db)
        with db.transaction() as cur:
            for p in projections:
                p.erase(cur, complaints)
        return [p.name for p in projections]
    finally:
        app.close()
        db.close()

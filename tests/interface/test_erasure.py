"""Erasure on request against the real store: personal fields are ciphertext at rest, `audit
erase` shreds one person's key, their events read "[dihapus]", the other person's stay,
the chain verifies, projections forget, the complaint still loads and can be resolved."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.audit.chain import verify
from shared.audit.history import AuditTrail
from shared.complaints.domainmodel import Complaint, Stage, complaint_id_for
from shared.config import Settings
from shared.db import Database, connect
from shared.eventstore import ComplaintsApplication
from shared.personal import REDACTED, is_redacted
from shared.projection_rebuild import check, select
from tests.helpers import fresh_databases

OPERATOR = {"user_id": "op-ani", "role": "operator", "desk": "332501", "agency": None}
VERIFIER = {"user_id": "ver-budi", "role": "verifier", "desk": None, "agency": None}
ROUTER = {"user_id": "system:routing", "role": "system", "desk": None, "agency": None}
DINKES = {"user_id": "opd-citra", "role": "agency", "desk": None, "agency": "DINKES"}

SITI = {"nik": "3325014507900001", "name": "Siti Aminah", "kk": "3325010101100001",
        "phone": "081234567890"}
BUDI = {"nik": "3325011203850002", "name": "Budi Santoso", "kk": "3325010202100002",
        "phone": "081298765432"}


@pytest.fixture
def store(_servers: dict[str, str]) -> Iterator[tuple[Settings, ComplaintsApplication, Database]]:
    factory: Iterator[Callable[[], Settings]] = fresh_databases(_servers["pg"])
    make = next(factory)
    settings = make()
    app = ComplaintsApplication(settings)
    db = Database.from_settings(settings, max_size=3)
    try:
        yield settings, app, db
    finally:
        app.close()
        db.close()
        factory.close()


def register(number: str, citizen: dict[str, Any]) -> Complaint:
    return Complaint.register(
        complaint_id=complaint_id_for(f"registration:{number}"), registration_number=number,
        kabupaten="3325", desk="332501", channel="desk", category="kis",
        description=f"KIS {citizen['name']} tidak aktif", citizen=dict(citizen),
        wilayah="3325012001", priority="normal", confidential=False, actor=OPERATOR,
        correlation_id=f"corr-{number}")


def traffic(app: ComplaintsApplication) -> dict[str, Complaint]:
    """Siti: one complaint rejected and proposed (usulan), one referred with a note. Budi: one
    referred with a note. Each step saved on its own, as the services do."""
    siti_rejected = register("3325-251123-0001", SITI)
    app.save(siti_rejected)
    siti_rejected.reject(reason_code="not_in_dtks", reason=f"NIK {SITI['nik']} tidak ada di DTKS",
                         rule="dtks-membership", dtks_snapshot="s1", actor=VERIFIER,
                         correlation_id="c")
    app.save(siti_rejected)
    siti_rejected.propose_usulan(reason=f"{SITI['name']} layak diusulkan", actor=VERIFIER,
                                 correlation_id="c")
    app.save(siti_rejected)
    out = {"siti_rejected": siti_rejected}
    for key, number, citizen in (("siti", "3325-251123-0002", SITI),
                                 ("budi", "3325-251123-0003", BUDI)):
        c = register(number, citizen)
        app.save(c)
        c.verify(rule="dtks.kk", dtks_snapshot="s1", reasons=[f"KK {citizen['kk']} terdaftar"],
                 actor=VERIFIER, correlation_id="c")
        app.save(c)
        c.refer(agency="DINKES", routing_rule="kis-dinkes", actor=ROUTER, correlation_id="c")
        app.save(c)
        c.note_progress(agency="DINKES", note=f"{citizen['name']} dihubungi di {citizen['phone']}",
                        actor=DINKES, correlation_id="c")
        app.save(c)
        out[key] = c
    return out


def raw_store(settings: Settings) -> bytes:
    with connect(settings.pg_dsn) as conn:
        rows = conn.execute("SELECT state FROM eventstore.sedulur_events").fetchall()
        keystore = conn.execute(
            "SELECT string_agg(subject::text || coalesce(wrapped_key::text, ''), ',')"
            " FROM keystore.person_keys").fetchone()[0]
    return b"\n".join(bytes(r[0]) for r in rows) + keystore.encode()


def projection_text(db: Database) -> str:
    tables = ("verification.complaints", "verification.usulan", "intake.citizen_complaints",
              "intake.complaint_status", "routing.agency_queue")
    return json.dumps([db.fetchall(f"SELECT * FROM {t}") for t in tables], default=str)


def personal_values(citizen: dict[str, str]) -> list[str]:
    return [citizen["nik"], citizen["name"], citizen["kk"], citizen["phone"]]


def test_erasing_one_person_shreds_their_data_and_leaves_the_other_intact(store, monkeypatch):
    from typer.testing import CliRunner

    from shared.audit.cli import app as audit_cli

    settings, app, db = store
    complaints = traffic(app)
    projections = select(None, app, db)
    for p in projections:
        p.rebuild()

    # At rest: no NIK, name, KK or phone of anyone in the stored events or the key table.
    raw = raw_store(settings)
    for value in personal_values(SITI) + personal_values(BUDI):
        assert value.encode() not in raw, value
    assert SITI["name"] in projection_text(db)  # the read models do hold it (before erasure)

    monkeypatch.setenv("SEDULUR_PG_DSN", settings.pg_dsn)
    result = CliRunner().invoke(audit_cli, [
        "erase", SITI["nik"], "--reason", "permintaan subjek data, UU PDP pasal 8",
        "--actor", "dpo-rina"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["keys_shredded"] == 1
    assert sorted(report["complaints"]) == sorted(
        str(complaints[k].id) for k in ("siti_rejected", "siti"))
    assert report["plaintext_complaints"] == []
    assert SITI["nik"] not in result.output

    # Who, when and why are recorded; the person only as a keyed hash.
    with connect(settings.pg_dsn) as conn:
        erasure = conn.execute("SELECT reason, actor, erased_at, subject, key_ids"
                               " FROM audit.erasures").fetchall()
    assert [(r[0], r[1]) for r in erasure] == [("permintaan subjek data, UU PDP pasal 8",
                                                 "dpo-rina")]
    assert SITI["nik"].encode() not in bytes(erasure[0][3])

    # Reads: Siti's personal fields are redacted in every event, Budi's are intact.
    siti_events = app.stored_events(complaints["siti"].id)
    assert is_redacted(siti_events[0].citizen) and siti_events[0].description == REDACTED
    assert siti_events[1].reasons == [REDACTED] and siti_events[3].note == REDACTED
    assert app.stored_events(complaints["siti_rejected"].id)[1].reason == REDACTED
    budi_events = app.stored_events(complaints["budi"].id)
    assert budi_events[0].citizen == BUDI and budi_events[3].note.startswith(BUDI["name"])
    history = AuditTrail(app, db).history("3325-251123-0002")
    assert history[0]["details"]["personal_data"] == "erased"

    # The chain hashes the stored bytes: nothing changed, it verifies.
    assert verify(settings.pg_dsn).ok

    # Read models forgot Siti (live, after the purge) and equal a rebuild from the log.
    text = projection_text(db)
    for value in personal_values(SITI):
        assert value not in text, value
    assert BUDI["name"] in text and BUDI["nik"] in text
    for p in projections:
        report_ = check(p)
        assert report_.ok, (p.name, report_.as_dict())
    assert db.fetchone("SELECT count(*) AS n FROM intake.citizen_complaints"
                       " WHERE complaint_id = %s", (complaints["siti"].id,))["n"] == 0

    # The complaint still loads with its lifecycle and can still be resolved.
    siti = app.get_complaint(complaints["siti"].id)
    assert siti.stage is Stage.REFERRED and siti.registration_number == "3325-251123-0002"
    siti.resolve(agency="DINKES", outcome=f"KIS {SITI['name']} aktif", actor=DINKES,
                 correlation_id="c")
    app.save(siti)
    assert app.get_complaint(siti.id).stage is Stage.RESOLVED
    assert app.stored_events(siti.id)[-1].outcome == REDACTED
    assert SITI["name"].encode() not in raw_store(settings)
    assert verify(settings.pg_dsn).ok

    # A new complaint of the same NIK after erasure gets a new key and is readable.
    again = register("3325-251123-0009", SITI)
    app.save(again)
    assert app.stored_events(again.id)[0].citizen == SITI


def test_complaints_stored_in_plaintext_before_keys_still_load_and_are_reported(store):
    from shared.audit.erasure import erase

    settings, app, db = store
    old = register("3325-251123-0005", SITI)
    [event] = old.collect_events()
    state = app.mapper.transcoder.encode(
        {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
        | {"class_version": 2})
    with connect(settings.pg_dsn) as conn:
        conn.execute("INSERT INTO eventstore.sedulur_events"
                     " (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)",
                     (old.id, "shared.complaints.domainmodel:Complaint.Registered", state))
    loaded = app.get_complaint(old.id)
    assert loaded.citizen == SITI
    # Its later events stay in plaintext too: the stream has no key.
    loaded.verify(rule="r", dtks_snapshot="s", reasons=["KK cocok"], actor=VERIFIER,
                  correlation_id="c")
    app.save(loaded)
    assert app.stored_events(old.id)[1].reasons == ["KK cocok"]
    for p in select(None, app, db):
        p.rebuild()
    report = erase(settings, SITI["nik"], reason="permintaan", actor="dpo")
    assert report["plaintext_complaints"] == [str(old.id)]
    assert report["keys_shredded"] == 0
    assert verify(settings.pg_dsn).ok

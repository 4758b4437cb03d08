"""Personal fields are sealed per person in the stored state, opened on read, redacted once
the person's key is destroyed; old plaintext events pass through (shared/personal.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    MapperDeserialisationError,
    StoredEvent,
    UUIDAsHex,
)

from shared.complaints.domainmodel import Complaint, Stage, complaint_id_for
from shared.eventstore import SedulurMapper
from shared.personal import (
    DEV_MASTER_KEY,
    PII,
    REDACTED,
    KeyRing,
    MasterKey,
    MemoryKeys,
    is_redacted,
)

OPERATOR = {"user_id": "op-1", "role": "operator", "desk": "332501"}
SYSTEM = {"user_id": "system:verification", "role": "system", "desk": None}
SITI = {"nik": "3325014507900001", "name": "Siti Aminah", "kk": "3325010101100001",
        "phone": "081234567890"}
BUDI = {"nik": "3325011203850002", "name": "Budi Santoso"}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def mapper(backend: MemoryKeys | None = None, clock: Any = None) -> SedulurMapper:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    ring = KeyRing(MasterKey.from_config(DEV_MASTER_KEY), backend or MemoryKeys(), ttl=60,
                   clock=clock or Clock())
    return SedulurMapper(transcoder, ring)


def lifecycle(number: str, citizen: dict[str, Any]) -> tuple[Complaint, list[Any]]:
    c = Complaint.register(
        complaint_id=complaint_id_for(number), registration_number=number, kabupaten="3325",
        desk="332501", channel="desk", category="kis", description="KIS Siti tidak aktif",
        citizen=dict(citizen), wilayah="3325012001", priority="normal", confidential=False,
        actor=OPERATOR, correlation_id="c-1")
    c.verify(rule="dtks.terdaftar", dtks_snapshot="s1",
             reasons=[f"KK {citizen.get('kk')} terdaftar"], actor=SYSTEM, correlation_id="c-2")
    c.refer(agency="DINKES", routing_rule="kis-dinkes", actor=SYSTEM, correlation_id="c-3")
    c.note_progress(agency="DINKES", note="Ibu Siti dihubungi", actor=OPERATOR,
                    correlation_id="c-4")
    return c, c.collect_events()


def test_personal_fields_are_stored_sealed_and_read_back_in_plaintext() -> None:
    m = mapper()
    _, events = lifecycle("3325-261123-000015", SITI)
    stored = [m.to_stored_event(e) for e in events]
    raw = b"".join(s.state for s in stored)
    for secret in (SITI["nik"], SITI["name"], SITI["kk"], SITI["phone"], b"Ibu Siti", b"KIS Siti"):
        assert (secret if isinstance(secret, bytes) else secret.encode()) not in raw
    registered = json.loads(stored[0].state)
    assert "citizen" not in registered and "description" not in registered
    assert registered[PII]["f"] == ["citizen", "description"]
    # What is not personal stays readable to the chain, the relay and SQL diagnostics.
    assert registered["registration_number"] == "3325-261123-000015"
    assert registered["actor"] == OPERATOR
    assert PII not in json.loads(stored[2].state)  # ReferredToOPD carries nothing personal
    back = [m.to_domain_event(s) for s in stored]
    assert back[0].citizen == SITI and back[0].description == "KIS Siti tidak aktif"
    assert back[1].reasons == [f"KK {SITI['kk']} terdaftar"]
    assert back[3].note == "Ibu Siti dihubungi"
    assert [vars(b) for b in back] == [vars(e) for e in events]


def test_one_key_per_person_shared_by_their_complaints_and_later_events() -> None:
    backend = MemoryKeys()
    m = mapper(backend)
    s1 = [m.to_stored_event(e) for e in lifecycle("3325-261123-000015", SITI)[1]]
    s2 = [m.to_stored_event(e) for e in lifecycle("3325-261123-000016", SITI)[1]]
    s3 = [m.to_stored_event(e) for e in lifecycle("3325-261123-000017", BUDI)[1]]
    key = lambda s: json.loads(s.state)[PII]["k"]  # noqa: E731
    assert key(s1[0]) == key(s1[1]) == key(s2[0]) == key(s2[3])
    assert key(s3[0]) != key(s1[0])
    assert len(backend.person) == 2


def test_after_the_key_is_destroyed_fields_read_redacted_and_the_aggregate_still_loads() -> None:
    backend, clock = MemoryKeys(), Clock()
    m = mapper(backend, clock)
    siti = [m.to_stored_event(e) for e in lifecycle("3325-261123-000015", SITI)[1]]
    budi = [m.to_stored_event(e) for e in lifecycle("3325-261123-000016", BUDI)[1]]
    backend.shred(m.keyring.master.subject(SITI["nik"]))
    clock.now += 61  # the cached key outlives the erasure by at most the TTL
    events = [m.to_domain_event(s) for s in siti]
    assert is_redacted(events[0].citizen) and events[0].citizen["nik"] == REDACTED
    assert events[0].description == REDACTED
    assert events[1].reasons == [REDACTED] and events[3].note == REDACTED
    assert events[0].registration_number == "3325-261123-000015"  # the lifecycle stays
    complaint = None
    for e in events:
        complaint = e.mutate(complaint)
    assert complaint.stage is Stage.REFERRED and complaint.referrals == {"DINKES": "referred"}
    # A later event of the erased person's complaint keeps no new personal text.
    complaint.resolve(agency="DINKES", outcome="Bantuan untuk Ibu Siti", actor=OPERATOR,
                      correlation_id="c-5")
    [resolved] = complaint.collect_events()
    stored = m.to_stored_event(resolved)
    assert b"Ibu Siti" not in stored.state
    assert m.to_domain_event(stored).outcome == REDACTED
    # The other person is untouched.
    assert m.to_domain_event(budi[0]).citizen == BUDI


def test_events_stored_in_plaintext_before_keys_existed_still_load() -> None:
    m = mapper()
    _, events = lifecycle("3325-261123-000015", SITI)
    plain = SedulurMapper(m.transcoder, None)
    stored = [plain.to_stored_event(e) for e in events]
    assert SITI["nik"].encode() in stored[0].state
    back = [m.to_domain_event(s) for s in stored]
    assert back[0].citizen == SITI and back[3].note == "Ibu Siti dihubungi"
    # A stream without a key keeps its later events in plaintext too (nothing to seal with).
    c = Complaint.register(complaint_id=events[0].originator_id, **{
        k: getattr(events[0], k) for k in ("registration_number", "kabupaten", "desk",
                                           "channel", "category", "description", "citizen",
                                           "wilayah", "priority", "confidential", "actor",
                                           "correlation_id")})
    c.collect_events()
    c.pause_clock(reason="menunggu berkas", actor=OPERATOR, correlation_id="c-9")
    [paused] = c.collect_events()
    assert b"menunggu berkas" in m.to_stored_event(paused).state


def test_a_sealed_field_moved_to_another_event_does_not_open() -> None:
    m = mapper()
    stored = [m.to_stored_event(e) for e in lifecycle("3325-261123-000015", SITI)[1]]
    forged = json.loads(stored[3].state)
    forged[PII] = json.loads(stored[1].state)[PII] | {"f": ["note"]}
    moved = StoredEvent(stored[3].originator_id, stored[3].originator_version, stored[3].topic,
                        json.dumps(forged).encode())
    with pytest.raises(MapperDeserialisationError):
        m.to_domain_event(moved)


def test_keys_are_cached_and_a_batch_read_fetches_them_in_one_round_trip() -> None:
    backend = MemoryKeys()
    writer = mapper(backend)
    stored = []
    for i, person in enumerate(
            [{"nik": f"33250145079{i:05d}", "name": f"Warga {i}"} for i in range(20)]):
        stored += [writer.to_stored_event(e)
                   for e in lifecycle(f"3325-261123-{i:06d}", person)[1]]
    reader = mapper(backend)
    before = backend.calls
    reader.to_domain_events(stored)
    assert backend.calls == before + 1
    reader.to_domain_events(stored)
    assert backend.calls == before + 1


def test_a_batch_of_registrations_creates_its_keys_in_one_round_trip() -> None:
    backend = MemoryKeys()
    m = mapper(backend)
    pairs = [(complaint_id_for(f"k-{i}"), f"33250145079{i:05d}") for i in range(50)]
    m.keyring.register(pairs)
    assert backend.calls == 1 and len(backend.person) == 50
    m.keyring.register(pairs)
    assert backend.calls == 1


def test_the_master_key_must_be_32_bytes() -> None:
    from shared.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        MasterKey.from_config(base64.b64encode(b"short").decode())
    with pytest.raises(ConfigurationError):
        MasterKey.from_config("not base64!")


def test_a_different_master_key_is_named_as_the_problem() -> None:
    from shared.errors import ConfigurationError

    backend = MemoryKeys()
    writer = mapper(backend)
    stored = [writer.to_stored_event(e) for e in lifecycle("3325-261123-000015", SITI)[1]]
    other = base64.b64encode(bytes(32)).decode()
    reader = mapper(backend)
    reader.keyring.master = MasterKey.from_config(other)
    with pytest.raises(ConfigurationError, match="SEDULUR_MASTER_KEY"):
        reader.to_domain_event(stored[0])

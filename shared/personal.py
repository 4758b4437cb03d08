"""Personal data at rest: per-person keys and crypto-shredding (UU PDP, docs/audit.md).

Each event class names its personal fields (`personal` on the class, in the domain model).
On the way into the store the mapper seals those fields together with AES-256-GCM under the
data key of the person the complaint is about (one key per NIK) and stores

    "_pii": {"k": <key id>, "n": <nonce>, "c": <ciphertext>, "f": [<field names>]}

in place of them; the associated data binds the ciphertext to its stream, version and
topic, so it cannot be moved to another event. On the way out the fields are restored — or,
once the person's key has been destroyed (`sedulur audit erase`), filled with "[dihapus]".
Aggregates, projections, the relay and the audit history all read through the mapper, so
they see plaintext while the stored rows (and backups) hold only ciphertext. The hash chain
hashes the stored bytes, so destroying a key changes nothing it covers.

Events stored before this existed have no "_pii" and pass through unchanged; a complaint
whose Registered was stored in plaintext keeps its later events in plaintext too (its
stream has no key).

Data keys are sealed (wrapped) with the master key from SEDULUR_MASTER_KEY and kept in
keystore.person_keys; the person is identified there only by an HMAC of the NIK. Unwrapped
keys are cached per process (LRU with a TTL, so an erasure reaches every process within
SEDULUR_KEY_CACHE_TTL seconds).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.errors import ConfigurationError

REDACTED = "[dihapus]"
PII = "_pii"

# What a redacted field reads as: the same shape as the original, so handlers that index
# into it keep working (citizen["nik"], reasons[0]).
_REDACTED_VALUES: dict[str, Any] = {
    "citizen": {"nik": REDACTED, "name": REDACTED},
    "reasons": [REDACTED],
}

# Used only when SEDULUR_MASTER_KEY is unset (developer machines, tests): never for real data.
DEV_MASTER_KEY = base64.b64encode(
    hashlib.sha256(b"sedulur development master key - not for production").digest()
).decode()


def redacted(field: str) -> Any:
    value = _REDACTED_VALUES.get(field, REDACTED)
    return dict(value) if isinstance(value, dict) else list(value) if isinstance(
        value, list) else value


def is_redacted(value: Any) -> bool:
    """True for a field (or a citizen record) whose person's key was destroyed."""
    if isinstance(value, dict):
        return value.get("nik") == REDACTED
    if isinstance(value, list):
        return value == [REDACTED]
    return value == REDACTED


def personal_fields(event_cls: type) -> tuple[str, ...]:
    return tuple(getattr(event_cls, "personal", ()))


class MasterKey:
    """Wraps data keys and derives the keyed hash that names a person."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise ConfigurationError("SEDULUR_MASTER_KEY must be 32 bytes, base64-encoded",
                                     field="SEDULUR_MASTER_KEY")
        self._aead = AESGCM(raw)
        self._subject_key = hmac.new(raw, b"sedulur.subject", hashlib.sha256).digest()

    @classmethod
    def from_config(cls, text: str) -> MasterKey:
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:
            raise ConfigurationError("SEDULUR_MASTER_KEY must be base64 (32 bytes)",
                                     field="SEDULUR_MASTER_KEY") from None
        return cls(raw)

    def subject(self, nik: str) -> bytes:
        """The person's name in the key table and the erasure log: HMAC-SHA256 of the NIK,
        not reversible without the master key (a plain hash of a 16-digit NIK would be)."""
        return hmac.new(self._subject_key, nik.encode(), hashlib.sha256).digest()

    def wrap(self, key_id: UUID, data_key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, key_id.bytes)

    def unwrap(self, key_id: UUID, wrapped: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:12], wrapped[12:], key_id.bytes)


class KeyBackend(Protocol):
    def register(self, rows: Sequence[tuple[UUID, bytes, UUID, bytes]]
                 ) -> dict[UUID, tuple[UUID, bytes | None]]:
        """rows: (stream id, subject, candidate key id, candidate wrapped key). Creates the
        subjects' keys that do not exist, maps each stream to its subject's key (an existing
        mapping wins) and returns stream id -> (key id, wrapped key or None if shredded)."""

    def keys(self, key_ids: Sequence[UUID]) -> dict[UUID, bytes | None]: ...

    def streams(self, stream_ids: Sequence[UUID]) -> dict[UUID, tuple[UUID, bytes | None]]: ...


class _Lru:
    def __init__(self, size: int, ttl: float | None, clock: Callable[[], float]) -> None:
        self.size, self.ttl, self.clock = size, ttl, clock
        self.data: OrderedDict[Any, tuple[Any, float]] = OrderedDict()

    def get(self, key: Any, default: Any = None) -> Any:
        hit = self.data.get(key)
        if hit is None:
            return default
        value, born = hit
        if self.ttl is not None and self.clock() - born > self.ttl:
            del self.data[key]
            return default
        self.data.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self.data[key] = (value, self.clock())
        self.data.move_to_end(key)
        while len(self.data) > self.size:
            self.data.popitem(last=False)

    def clear(self) -> None:
        self.data.clear()


_MISSING = object()
SHREDDED = None  # a cached key that was destroyed


class KeyRing:
    """Per-person data keys for one process, cached (LRU + TTL)."""

    def __init__(self, master: MasterKey, backend: KeyBackend, *, cache_size: int = 20_000,
                 ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.master = master
        self.backend = backend
        self._lock = threading.Lock()
        self._keys = _Lru(cache_size, ttl, clock)  # key id -> AESGCM | SHREDDED
        # stream id -> key id: a stream's key never changes, only its material can vanish.
        self._streams = _Lru(cache_size, None, clock)

    # -- keys -----------------------------------------------------------------------------
    def _remember(self, key_id: UUID, wrapped: bytes | None) -> Any:
        try:
            aead = (AESGCM(self.master.unwrap(key_id, wrapped)) if wrapped is not None
                    else SHREDDED)
        except InvalidTag:
            raise ConfigurationError(
                f"the data key {key_id} does not open with this master key: "
                "SEDULUR_MASTER_KEY is not the one the keys were wrapped with",
                field="SEDULUR_MASTER_KEY") from None
        self._keys.put(key_id, aead)
        return aead

    def aead(self, key_id: UUID) -> Any:
        """The key's cipher, or SHREDDED (also for a key id the table does not know)."""
        with self._lock:
            hit = self._keys.get(key_id, _MISSING)
        if hit is not _MISSING:
            return hit
        wrapped = self.backend.keys([key_id]).get(key_id)
        with self._lock:
            return self._remember(key_id, wrapped)

    def prefetch(self, key_ids: Iterable[UUID]) -> None:
        """Load the keys not cached in one round trip (a replay meets many people)."""
        with self._lock:
            missing = list({k for k in key_ids if self._keys.get(k, _MISSING) is _MISSING})
        if not missing:
            return
        found = self.backend.keys(missing)
        with self._lock:
            for key_id in missing:
                self._remember(key_id, found.get(key_id))

    # -- streams ---------------------------------------------------------------------------
    def register(self, pairs: Iterable[tuple[UUID, str]]) -> None:
        """Make sure each (stream, NIK) has its person's key and the stream is mapped to it:
        one round trip for all that are not known in this process (a backfill batch)."""
        rows = []
        seen: set[UUID] = set()
        for stream_id, nik in pairs:
            if stream_id in seen or self._streams.get(stream_id) is not None:
                continue
            seen.add(stream_id)
            key_id, data_key = uuid4(), AESGCM.generate_key(bit_length=256)
            rows.append((stream_id, self.master.subject(nik), key_id,
                         self.master.wrap(key_id, data_key)))
        if not rows:
            return
        for _ in range(3):
            got = self.backend.register(rows)
            with self._lock:
                for stream_id, (key_id, wrapped) in got.items():
                    self._remember(key_id, wrapped)
                    self._streams.put(stream_id, key_id)
            # A subject created concurrently by another writer is missing: ask again.
            rows = [r for r in rows if r[0] not in got]
            if not rows:
                return
        raise RuntimeError("could not create the person keys (concurrent writers)")

    def stream_key(self, stream_id: UUID) -> UUID | None:
        """The key sealing this complaint's events; None for a stream stored in plaintext."""
        with self._lock:
            key_id = self._streams.get(stream_id)
        if key_id is not None:
            return key_id
        self.prefetch_streams([stream_id])
        with self._lock:
            return self._streams.get(stream_id)

    def prefetch_streams(self, stream_ids: Iterable[UUID]) -> None:
        with self._lock:
            missing = list({s for s in stream_ids if self._streams.get(s) is None})
        if not missing:
            return
        found = self.backend.streams(missing)
        with self._lock:
            for stream_id, (key_id, wrapped) in found.items():
                self._remember(key_id, wrapped)
                self._streams.put(stream_id, key_id)

    def forget(self) -> None:
        with self._lock:
            self._keys.clear()

    # -- sealing ---------------------------------------------------------------------------
    def seal(self, key_id: UUID, plaintext: bytes, aad: bytes) -> dict[str, Any] | None:
        aead = self.aead(key_id)
        if aead is SHREDDED:
            return None
        nonce = os.urandom(12)
        return {"k": str(key_id), "n": _b64(nonce), "c": _b64(aead.encrypt(nonce, plaintext, aad))}

    def open(self, sealed: dict[str, Any], aad: bytes) -> bytes | None:
        aead = self.aead(UUID(sealed["k"]))
        if aead is SHREDDED:
            return None
        return aead.decrypt(base64.b64decode(sealed["n"]), base64.b64decode(sealed["c"]), aad)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def associated_data(originator_id: UUID, version: int, topic: str) -> bytes:
    return originator_id.bytes + version.to_bytes(8, "big", signed=True) + topic.encode()


class MemoryKeys:
    """KeyBackend in memory, for unit tests."""

    def __init__(self) -> None:
        self.person: dict[UUID, tuple[bytes, bytes | None]] = {}
        self.live: dict[bytes, UUID] = {}
        self.stream: dict[UUID, UUID] = {}
        self.calls = 0

    def register(self, rows: Sequence[tuple[UUID, bytes, UUID, bytes]]
                 ) -> dict[UUID, tuple[UUID, bytes | None]]:
        self.calls += 1
        out = {}
        for stream_id, subject, key_id, wrapped in rows:
            if subject not in self.live:
                self.live[subject] = key_id
                self.person[key_id] = (subject, wrapped)
            self.stream.setdefault(stream_id, self.live[subject])
            mapped = self.stream[stream_id]
            out[stream_id] = (mapped, self.person[mapped][1])
        return out

    def keys(self, key_ids: Sequence[UUID]) -> dict[UUID, bytes | None]:
        self.calls += 1
        return {k: self.person[k][1] for k in key_ids if k in self.person}

    def streams(self, stream_ids: Sequence[UUID]) -> dict[UUID, tuple[UUID, bytes | None]]:
        self.calls += 1
        return {s: (self.stream[s], self.person[self.stream[s]][1])
                for s in stream_ids if s in self.stream}

    def shred(self, subject: bytes) -> None:
        key_id = self.live.pop(subject)
        self.person[key_id] = (subject, None)


class PgKeys:
    """KeyBackend on keystore.* in PostgreSQL (shared/sql/010, 011). One connection of its
    own, opened on first use and reopened after a failure: with the cache in front, key
    lookups are rare, and a pool would add worker threads to every process."""

    def __init__(self, dsn: str, *, timeout: int = 5) -> None:
        self.dsn, self.timeout = dsn, timeout
        self._conn: Any = None
        self._lock = threading.Lock()

    def _run(self, sql: str, params: Any) -> list[Any]:
        import psycopg

        with self._lock:
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed:
                    # Asynchronous commit: a key is only ever needed by an event appended
                    # after it, and that event's synchronous commit flushes the WAL up to
                    # itself, this earlier key row included. A key lost in a crash before
                    # its event was stored seals nothing. Saves one fsync per new person.
                    self._conn = psycopg.connect(self.dsn, autocommit=True,
                                                 connect_timeout=self.timeout,
                                                 options="-c synchronous_commit=off")
                try:
                    return self._conn.execute(sql, params).fetchall()
                except psycopg.OperationalError:
                    self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def register(self, rows: Sequence[tuple[UUID, bytes, UUID, bytes]]
                 ) -> dict[UUID, tuple[UUID, bytes | None]]:
        cols = list(zip(*rows, strict=True))
        found = self._run(
                "WITH w AS (SELECT * FROM unnest(%s::uuid[], %s::bytea[], %s::uuid[],"
                "   %s::bytea[]) AS w(stream_id, subject, key_id, wrapped)),"
                " ins AS (INSERT INTO keystore.person_keys (key_id, subject, wrapped_key)"
                "   SELECT DISTINCT ON (subject) key_id, subject, wrapped FROM w"
                "   ON CONFLICT (subject) WHERE shredded_at IS NULL DO NOTHING"
                "   RETURNING key_id, subject, wrapped_key),"
                " k AS (SELECT key_id, subject, wrapped_key FROM ins UNION ALL"
                "   SELECT p.key_id, p.subject, p.wrapped_key FROM keystore.person_keys p"
                "   WHERE p.shredded_at IS NULL AND p.subject IN (SELECT subject FROM w)),"
                " m AS (INSERT INTO keystore.stream_keys (originator_id, key_id)"
                "   SELECT w.stream_id, k.key_id FROM w JOIN k USING (subject)"
                "   ON CONFLICT (originator_id) DO NOTHING)"
                # A stream mapped before (a retried registration) keeps its key.
                " SELECT w.stream_id, coalesce(s.key_id, k.key_id),"
                "   CASE WHEN s.key_id IS NULL THEN k.wrapped_key ELSE sp.wrapped_key END"
                " FROM w JOIN k USING (subject)"
                " LEFT JOIN keystore.stream_keys s ON s.originator_id = w.stream_id"
                " LEFT JOIN keystore.person_keys sp ON sp.key_id = s.key_id",
                [list(c) for c in cols])
        return {sid: (kid, bytes(w) if w is not None else None) for sid, kid, w in found}

    def keys(self, key_ids: Sequence[UUID]) -> dict[UUID, bytes | None]:
        rows = self._run(
            "SELECT key_id, wrapped_key FROM keystore.person_keys WHERE key_id = ANY(%s)",
            (list(key_ids),))
        return {k: bytes(w) if w is not None else None for k, w in rows}

    def streams(self, stream_ids: Sequence[UUID]) -> dict[UUID, tuple[UUID, bytes | None]]:
        rows = self._run(
            "SELECT s.originator_id, s.key_id, p.wrapped_key FROM keystore.stream_keys s"
            " JOIN keystore.person_keys p USING (key_id) WHERE s.originator_id = ANY(%s)",
            (list(stream_ids),))
        return {s: (k, bytes(w) if w is not None else None) for s, k, w in rows}

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

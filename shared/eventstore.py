"""The one event store of record: PostgreSQL through eventsourcing (design.md §5).

All services share one application name ("Sedulur"), so one table `eventstore.sedulur_events`
holds every complaint stream, with a single global notification order the relay tails.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    find_id_convertor,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic
from psycopg.sql import SQL, Identifier

from shared.complaints.domainmodel import Complaint
from shared.config import Settings
from shared.db import check_reachable
from shared.errors import ConcurrencyConflict, ConfigurationError
from shared.personal import (
    DEV_MASTER_KEY,
    PII,
    KeyRing,
    MasterKey,
    PgKeys,
    associated_data,
    personal_fields,
    redacted,
)

EVENTSTORE_SCHEMA = "eventstore"
APPLICATION_NAME = "Sedulur"
EVENTS_TABLE = "sedulur_events"


class SedulurRecorder(PostgresApplicationRecorder):
    """eventsourcing's recorder with one change: its single-statement insert function also
    takes the table's EXCLUSIVE lock.

    The stock function (POSTGRES_ENABLE_DB_FUNCTIONS) skips the lock, so two transactions
    could commit notification ids out of order and a relay tailing the log by id would pass
    over the lower one for good. Taking the lock inside the function keeps one round trip
    per append (the reason to use the function) and the commit order = id order guarantee.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        self.pg_function_name_insert_events = f"sedulur_insert_events_{self.datastore.originator_id_type}"
        function = Identifier(self.pg_function_name_insert_events)
        self.sql_invoke_pg_function_insert_events = SQL("SELECT * FROM {schema}.{fn}((%s))").format(
            schema=schema, fn=function
        )
        self.sql_create_statements[self.create_insert_function_statement_index] = SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{fn}(events {schema}.{event}[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            "BEGIN "
            "  SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "  NOTIFY {channel}; "
            "  RETURN QUERY INSERT INTO {schema}.{table} AS t "
            "    (originator_id, originator_version, topic, state) "
            "    SELECT originator_id, originator_version, topic, state FROM unnest(events) "
            "    RETURNING notification_id; "
            "END; $BODY$"
        ).format(
            schema=schema,
            fn=function,
            event=Identifier(self.stored_event_type_name),
            table=table,
            channel=Identifier(self.channel_name),
            lock_timeout=self.datastore.lock_timeout,
        )


class SedulurMapper(Mapper[UUID]):
    """eventsourcing's mapper plus per-person sealing of personal fields (shared/personal.py):
    what is stored holds ciphertext, what is read holds plaintext, or "[dihapus]" once the
    person's key is destroyed. This is the encryption at rest of personal data; the event
    as a whole is not encrypted (registration numbers, codes and actors stay readable to
    the hash chain, the relay and SQL diagnostics)."""

    def __init__(self, transcoder: Transcoder, keyring: KeyRing | None) -> None:
        super().__init__(transcoder)
        self.keyring = keyring

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        topic = get_topic(cls)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        fields = [f for f in personal_fields(cls) if f in state]
        if fields and self.keyring is not None:
            key_id = self._key_for(originator_id, state)
            if key_id is not None:
                personal = {f: state.pop(f) for f in fields}
                sealed = self.keyring.seal(
                    key_id, self.transcoder.encode(personal),
                    associated_data(originator_id, originator_version, topic))
                if sealed is None:
                    # The person was erased: whatever personal text comes later is not kept.
                    state.update({f: redacted(f) for f in fields})
                else:
                    sealed["f"] = fields
                    state[PII] = sealed
        return StoredEvent(originator_id=originator_id, originator_version=originator_version,
                           topic=topic, state=self.transcoder.encode(state))

    def _key_for(self, originator_id: UUID, state: dict[str, Any]) -> UUID | None:
        assert self.keyring is not None
        citizen = state.get("citizen")
        nik = citizen.get("nik") if isinstance(citizen, dict) else None
        if nik:
            self.keyring.register([(originator_id, str(nik))])
        return self.keyring.stream_key(originator_id)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self._finish(stored_event, self._decode(stored_event))

    def to_domain_events(self, stored_events: Sequence[StoredEvent]) -> list[Any]:
        """Many at once: the data keys they need are fetched in one round trip."""
        states = [self._decode(s) for s in stored_events]
        if self.keyring is not None:
            self.keyring.prefetch(UUID(st[PII]["k"]) for st in states if PII in st)
        return [self._finish(s, st) for s, st in zip(stored_events, states, strict=True)]

    def _decode(self, stored_event: StoredEvent) -> dict[str, Any]:
        try:
            return self.transcoder.decode(stored_event.state)
        except Exception as e:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic "
                f"'{stored_event.topic}', originator_id '{stored_event.originator_id}' and "
                f"originator_version {stored_event.originator_version}: {e}") from e

    def _finish(self, stored_event: StoredEvent, state: dict[str, Any]) -> Any:
        cls = resolve_topic(stored_event.topic)
        sealed = state.pop(PII, None)
        if sealed is not None:
            state.update(self._open(sealed, stored_event))
        state["originator_id"] = find_id_convertor(cls, UUID)(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event

    def _open(self, sealed: dict[str, Any], stored_event: StoredEvent) -> dict[str, Any]:
        plaintext = None
        if self.keyring is not None:
            try:
                plaintext = self.keyring.open(sealed, associated_data(
                    stored_event.originator_id, stored_event.originator_version,
                    stored_event.topic))
            except ConfigurationError:
                raise
            except Exception as e:  # a wrong tag: the sealed blob was edited or moved
                raise MapperDeserialisationError(
                    f"cannot open the personal fields of {stored_event.originator_id} "
                    f"version {stored_event.originator_version}: {e!r}") from e
        if plaintext is None:
            return {f: redacted(f) for f in sealed["f"]}
        return dict(self.transcoder.decode(plaintext))


_KEYRINGS: dict[tuple[str, str], KeyRing] = {}
_KEYRINGS_LOCK = threading.Lock()


def keyring_for(settings: Settings) -> KeyRing:
    """One key cache per process and database, shared by every application object in it."""
    master = settings.master_key or DEV_MASTER_KEY
    cache_key = (settings.pg_dsn, master)
    with _KEYRINGS_LOCK:
        ring = _KEYRINGS.get(cache_key)
        if ring is None:
            if not settings.master_key:
                logging.getLogger(__name__).warning(
                    "SEDULUR_MASTER_KEY is not set: personal data is sealed with the public "
                    "development key (fine for a laptop or tests, never for real data)")
            ring = KeyRing(MasterKey.from_config(master),
                           PgKeys(settings.pg_dsn, timeout=settings.pg_connect_timeout),
                           ttl=float(settings.key_cache_ttl))
            _KEYRINGS[cache_key] = ring
        return ring


def eventstore_env(settings: Settings, *, create_table: bool = False) -> dict[str, str]:
    pg = settings.pg
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": pg.dbname,
        "POSTGRES_HOST": pg.host,
        "POSTGRES_PORT": str(pg.port),
        "POSTGRES_USER": pg.user,
        "POSTGRES_PASSWORD": pg.password,
        "POSTGRES_SCHEMA": EVENTSTORE_SCHEMA,
        "POSTGRES_CONNECT_TIMEOUT": str(settings.pg_connect_timeout),
        # A small floor, growing on demand: many processes share one server's connections.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": str(max(settings.pg_pool_size * 2 - 1, 1)),
        # No pre-ping: it is a second round trip on every append (a quarter of an append's
        # time in a profile, docs/benchmarks.md). A connection that died in the pool fails
        # its statement with OperationalError, which eventsourcing's recorder retries (up
        # to 10 times) on a fresh connection from the pool.
        "POSTGRES_PRE_PING": "no",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "yes",
        "APPLICATION_RECORDER_TOPIC": "shared.eventstore:SedulurRecorder",
        "CREATE_TABLE": "yes" if create_table else "no",
    }


class ComplaintsApplication(Application[UUID]):
    """Base of every service's application object: same store, same table."""

    name = APPLICATION_NAME
    env: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # eventsourcing names the table after the class; every service must share one.
        super().__init_subclass__(**kwargs)
        cls.name = APPLICATION_NAME

    def __init__(self, settings: Settings | None = None, *, create_table: bool = False) -> None:
        self.settings = settings or Settings()
        check_reachable(self.settings.pg_dsn, self.settings.pg_connect_timeout)
        super().__init__(env=eventstore_env(self.settings, create_table=create_table))
        recorder = self.recorder
        assert isinstance(recorder, SedulurRecorder)
        if recorder.stored_event_type_name not in recorder.datastore.psycopg_python_types:
            raise ConfigurationError(
                "the event store is not set up in this database: run `sedulur migrate` first",
                field="SEDULUR_PG_DSN",
            )

    def construct_mapper(self) -> Mapper[UUID]:
        return SedulurMapper(self.construct_transcoder(), keyring_for(self.settings))

    @property
    def keyring(self) -> KeyRing:
        mapper = self.mapper
        assert isinstance(mapper, SedulurMapper) and mapper.keyring is not None
        return mapper.keyring

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        # The people of everything about to be stored get their keys in one round trip (a
        # backfill batch registers hundreds), instead of one per event in the mapper.
        self.prepare_keys(e for o in objs for e in getattr(o, "pending_events", ()))
        return super().save(*objs, **kwargs)

    def prepare_keys(self, events: Iterable[Any]) -> None:
        registrations, others = [], []
        for e in events:
            if not personal_fields(type(e)):
                continue
            citizen = getattr(e, "citizen", None)
            if isinstance(citizen, dict) and citizen.get("nik"):
                registrations.append((e.originator_id, str(citizen["nik"])))
            else:
                others.append(e.originator_id)
        ring = self.keyring
        if registrations:
            ring.register(registrations)
        registered = {r[0] for r in registrations}
        ring.prefetch_streams(o for o in others if o not in registered)

    def get_complaint(self, complaint_id: UUID, version: int | None = None) -> Complaint:
        from eventsourcing.application import AggregateNotFoundError

        from shared.errors import ComplaintNotFound

        try:
            return self.repository.get(complaint_id, version=version)
        except AggregateNotFoundError:
            raise ComplaintNotFound(f"no complaint {complaint_id}", field="complaint_id") from None

    def save_or_conflict(self, *aggregates: Any) -> list[int]:
        """Save; a concurrent writer that got there first becomes a named conflict."""
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            raise ConcurrencyConflict(
                "the complaint was changed by someone else at the same time; reload and retry"
            ) from None
        return [r.notification.id for r in recordings]

    def stored_events(self, complaint_id: UUID, gt: int | None = None) -> list[Any]:
        return list(self.events.get(complaint_id, gt=gt))

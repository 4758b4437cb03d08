"""The one event store of record: PostgreSQL through eventsourcing (design.md §5).

All services share one application name ("Sedulur"), so one table `eventstore.sedulur_events`
holds every complaint stream, with a single global notification order the relay tails.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from shared.complaints.domainmodel import Complaint
from shared.config import Settings
from shared.db import check_reachable
from shared.errors import ConcurrencyConflict, ConfigurationError

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

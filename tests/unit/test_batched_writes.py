"""The replay cursor: runs of one statement become one set-wise statement, each stream's own
statements keep their order, anything it cannot rewrite goes out as it came."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shared.projection import BatchedWrites, _set_wise_plan


class Recorder:
    """A cursor that records what reaches the database."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.connection = self

    def execute(self, sql: str, params: Any = None, **_: Any) -> None:
        self.sent.append(("execute", sql, params))

    def executemany(self, sql: str, rows: Any, **_: Any) -> None:
        self.sent.append(("executemany", sql, list(rows)))

    # what _column_types asks for: the projection tables' column types
    def cursor(self, **_: Any) -> Any:
        return self

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *_: Any) -> None:
        pass

    def fetchall(self) -> list[tuple[str, str]]:
        return [("complaint_id", "uuid[]"), ("stage", "text[]"), ("duplicate_of", "uuid[]"),
                ("updated_at", "timestamp with time zone[]")]


INSERT = "INSERT INTO t (complaint_id, stage, duplicate_of) VALUES (%s, 'registered', %s)"
UPDATE = "UPDATE t SET stage = %s, updated_at = %s WHERE complaint_id = %s"
DELETE = "DELETE FROM d WHERE complaint_id = %s"
NOW = datetime(2025, 11, 23, tzinfo=UTC)


def test_a_page_goes_out_layer_by_layer_as_set_wise_statements() -> None:
    cur = Recorder()
    w = BatchedWrites(cur, set_wise=True)
    a, b = uuid.uuid4(), uuid.uuid4()
    for stream in (a, b):
        w.begin(stream, (1, "Registered"))
        w.execute(INSERT, (stream, None))
        w.execute(UPDATE, ("verified", NOW, stream))
    w.flush()
    kinds = [(k, sql.split()[0]) for k, sql, _ in cur.sent if "pg_attribute" not in sql]
    assert kinds == [("execute", "INSERT"), ("execute", "UPDATE")]
    insert = next(s for s in cur.sent if s[1].startswith("INSERT"))
    # Column types from the table: a NULL-only column and a str for a uuid column are typed.
    assert "unnest(%b::uuid[], %b::uuid[])" in insert[1]
    assert insert[2] == [[a, b], [None, None]]
    update = next(s for s in cur.sent if s[1].startswith("UPDATE"))
    assert "FROM unnest(" in update[1] and "WHERE complaint_id = _u._p2" in update[1]
    assert update[2] == [["verified", "verified"], [NOW, NOW], [a, b]]


def test_a_new_group_sends_what_is_pending_first_and_a_read_sends_everything() -> None:
    cur = Recorder()
    w = BatchedWrites(cur, set_wise=True)
    s = uuid.uuid4()
    w.begin(s, (1, "Registered"))
    w.execute(INSERT, (s, None))
    w.begin(s, (2, "Verified"))
    assert [sql.split()[0] for _, sql, _ in cur.sent] == ["INSERT"]
    w.execute(UPDATE, ("verified", NOW, s))
    w.execute("UPDATE t SET x = 1 WHERE complaint_id = %s RETURNING y", (s,))
    assert [sql.split()[0] for _, sql, _ in cur.sent] == ["INSERT", "UPDATE", "UPDATE"]
    assert cur.sent[-1][1].endswith("RETURNING y")


def test_without_set_wise_only_consecutive_identical_statements_are_batched() -> None:
    cur = Recorder()
    w = BatchedWrites(cur)
    ids = [uuid.uuid4() for _ in range(3)]
    w.execute(DELETE, (ids[0],))
    w.execute(DELETE, (ids[1],))
    w.execute(INSERT, (ids[2], None))
    w.execute(DELETE, (ids[2],))
    w.flush()
    assert [(k, sql) for k, sql, _ in cur.sent] == [
        ("executemany", DELETE), ("execute", INSERT), ("execute", DELETE)]


def test_parameters_it_cannot_type_fall_back_to_executemany() -> None:
    cur = Recorder()
    w = BatchedWrites(cur, set_wise=True)
    sql = "UPDATE t SET tags = %s WHERE complaint_id = %s"
    for s in (uuid.uuid4(), uuid.uuid4()):
        w.begin(s, (3, "X"))
        w.execute(sql, (["a", "b"], s))  # an array parameter
    w.flush()
    assert [k for k, q, _ in cur.sent if "pg_attribute" not in q] == ["executemany"]


def test_the_shapes_it_rewrites_and_the_ones_it_leaves() -> None:
    assert _set_wise_plan(DELETE) is not None
    insert_select = (
        "INSERT INTO q (complaint_id, agency, status) SELECT complaint_id, %s, 'referred'"
        " FROM f WHERE complaint_id = %s ON CONFLICT (complaint_id, agency) DO NOTHING")
    build, columns = _set_wise_plan(insert_select)
    assert columns == [("q", "agency"), ("f", "complaint_id")]
    assert build(("text[]", "uuid[]")) == (
        "INSERT INTO q (complaint_id, agency, status) SELECT complaint_id, _u._p0, 'referred'"
        " FROM f, unnest(%b::text[], %b::uuid[]) AS _u(_p0, _p1) WHERE complaint_id = _u._p1"
        " ON CONFLICT (complaint_id, agency) DO NOTHING")
    assert _set_wise_plan("UPDATE t SET a = (SELECT 1) WHERE b = %s") is None
    assert _set_wise_plan("INSERT INTO t (a) VALUES (%s) ON CONFLICT (a) DO UPDATE SET b = %s") \
        is None
    assert _set_wise_plan("UPDATE t SET a = 1") is None

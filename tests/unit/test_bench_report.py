"""The benchmark result writer: valid JSON and a markdown page from a fake result set."""

from __future__ import annotations

import json

from bench.loadgen import (
    NotLoopback,
    fixed_rate,
    hourly_histogram,
    office_day,
    require_loopback,
)
from bench.report import Measure, RunResult, load, render_markdown, write


def fake_result() -> RunResult:
    result = RunResult({"date": "2026-11-23T12:00:00Z", "commit": "abc1234567", "quick": True,
                        "mode": "quick", "cpus": 2, "versions": {"postgresql": "15.20"},
                        "load": {"before": [0.4, 0.5, 0.3], "after": [1.9, 1.0, 0.5]}})
    for key, value, unit, stage in [("pg_commit", 2000.0, "rows/s", "raw"),
                                    ("append_single", 1500.0, "events/s", "sedulur"),
                                    ("rmq_publish", 16000.0, "msg/s", "raw"),
                                    ("relay_publish", 4000.0, "events/s", "sedulur"),
                                    ("e2e_p99", 310.0, "ms", "sedulur"),
                                    ("rebuild", 25000.0, "events/s", "sedulur")]:
        result.add(Measure(key, f"a | {key}", value, unit, stage, 1.0, 0.5,
                           detail={"rounds": [1, 2]}))
    result.errors["DTKS"] = "ModuleNotFoundError: no importer"
    return result


def test_json_round_trips_with_ratios_and_goals(tmp_path):
    json_path, md_path = write(fake_result(), json_dir=tmp_path / "results",
                               markdown_path=tmp_path / "docs" / "benchmarks.md")
    doc = json.loads(json_path.read_text())
    assert json_path.name == "2026-11-23-abc1234567-quick.json"
    assert {m["key"] for m in doc["measures"]} >= {"pg_commit", "relay_publish"}
    ratios = {(r["numerator"], r["denominator"]): r for r in doc["ratios"]}
    assert ratios[("append_single", "pg_commit")]["value"] == 0.75
    assert ratios[("append_single", "pg_commit")]["met"] is True
    assert ratios[("relay_publish", "rmq_publish")]["met"] is False
    goals = {g["measure"]: g for g in doc["goals"]}
    assert goals["e2e_p99"]["met"] is False and "24% above" in goals["e2e_p99"]["miss"]
    assert goals["rebuild"]["met"] is True
    assert goals["e2e_sustained"]["met"] is None  # not measured is not "missed"
    assert doc["errors"] == {"DTKS": "ModuleNotFoundError: no importer"}
    assert load(json_path).to_json() == doc  # the page can be re-rendered from the file


def test_markdown_tables_have_the_same_number_of_columns_in_every_row(tmp_path):
    text = render_markdown(fake_result(), analysis="## Where the time goes\n\nprose")
    assert text.startswith("# Benchmarks\n")
    assert "load average (1/5/15 min) before | [0.4, 0.5, 0.3]" in text
    assert "## Where the time goes" in text
    table = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            # a pipe inside a label is escaped, so it does not add a column
            widths = {len(row.replace("\\|", "").split("|")) for row in table}
            assert len(widths) == 1, table
            table = []


def test_load_generator_schedules_are_bounded_and_office_hours_shaped():
    assert fixed_rate(50, 2) == [i / 50 for i in range(100)]
    day = office_day(2000, 90, seed=1)
    assert len(day) == 2000 and day == sorted(day) and 0 <= day[0] and day[-1] <= 90
    per_hour = hourly_histogram(day, 90)  # 08..16: morning burst, lunch dip
    assert per_hour[1] > per_hour[4] < per_hour[5]


def test_load_generator_refuses_non_loopback_targets():
    require_loopback("http://127.0.0.1:8701/complaints")
    try:
        require_loopback("http://192.0.2.10:8701/complaints")
    except NotLoopback:
        pass
    else:
        raise AssertionError("a non-loopback target was accepted")

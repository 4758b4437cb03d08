"""`sedulur demo`'s simulated day against the running stack: its desk operators and agency
officers are users in auth.users and act with tokens issued for them."""

from __future__ import annotations

import csv
import io

import pytest
from rich.console import Console

from shared.db import connect

pytestmark = pytest.mark.system


def test_the_demo_day_runs_with_users_and_signed_tokens(stack, dtks_people, tmp_path):
    from shared.demo import simulate_day

    dtks_file = tmp_path / "dtks.csv"
    with dtks_file.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(dtks_people[0]))
        writer.writeheader()
        writer.writerows(dtks_people)
    out = io.StringIO()
    result = simulate_day(stack.settings, dtks_file, 10, Console(file=out, width=200), seed=5)
    assert result["complaints"] == 10
    assert set(result["stages"]) <= {"resolved", "rejected"}
    with connect(stack.settings.pg_dsn) as conn:
        roles = {r for (r,) in conn.execute(
            "SELECT DISTINCT role FROM auth.users WHERE display_name LIKE 'demo %'")}
    assert {"operator", "agency", "auditor"} <= roles
    assert "access log:" in out.getvalue()

"""Pure intake pieces: the category tree, the SMS/WhatsApp text, the backfill CSV rows and
the supervisor's view arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from services.intake.channels import RowError, parse_gateway_text, read_backfill
from services.intake.monitoring import MonitorPolicy, changes, operator_view, rollup
from services.intake.schemas import RegisterComplaintIn
from shared import categories
from shared.errors import (
    ConfigurationError,
    InvalidGatewayMessage,
    InvalidNIK,
    UnknownCategory,
)

# --- category tree ---------------------------------------------------------------------


def test_category_tree_has_the_programmes_the_desks_handle():
    roots = {c for c, n in categories.categories().items() if n["parent"] is None}
    assert {"kis", "pkh", "bpnt", "kip", "rtlh", "adminduk", "disabilitas", "lansia",
            "bencana", "lainnya"} <= roots


def test_a_child_category_inherits_priority_and_confidentiality_unless_it_sets_its_own():
    assert categories.require("kis-nonaktif")["priority"] == "high"
    assert categories.require("kis-rawat-inap")["priority"] == "urgent"
    assert categories.root_of("kis-rawat-inap") == "kis"
    assert categories.require("disabilitas")["confidential"] is True


def test_desk_cannot_lower_a_categorys_priority_or_unset_confidential():
    body = {"desk": "332501", "category": "kekerasan", "description": "x", "priority": "normal",
            "confidential": False,
            "citizen": {"nik": "3325014507900001", "name": "A"}}
    command = RegisterComplaintIn.model_validate(body).to_command()
    assert (command["priority"], command["confidential"]) == ("urgent", True)
    body.update(category="lainnya", priority="high")
    assert RegisterComplaintIn.model_validate(body).to_command()["priority"] == "high"


@pytest.mark.parametrize("text", [
    "categories: [{code: a}]",
    "categories: [{code: a, name: A, priority: extreme}]",
    "categories: [{code: a, name: A, confidential: maybe}]",
    "categories: [{code: a, name: A}, {code: a, name: B}]",
    "categories: [{code: a, name: A, colour: red}]",
    "nothing: here",
], ids=["no-name", "bad-priority", "bad-flag", "twice", "unknown-key", "no-list"])
def test_a_broken_category_file_fails_with_a_configuration_error(tmp_path, monkeypatch, text):
    path = tmp_path / "categories.yaml"
    path.write_text(text)
    monkeypatch.setenv("SEDULUR_CATEGORIES_FILE", str(path))
    with pytest.raises(ConfigurationError):
        categories.categories()


# --- SMS / WhatsApp --------------------------------------------------------------------


def test_gateway_text_becomes_a_registration_at_the_citizens_kecamatan():
    reg = parse_gateway_text(" 3325.0145.0790.0001 # kis #Kartu mati #2", channel="whatsapp",
                             sender="+6281234567890")
    command = reg.to_command()
    assert command["desk"] == "332501"
    assert command["category"] == "kis"
    assert command["description"] == "Kartu mati #2"
    assert command["channel"] == "whatsapp"
    assert command["citizen"]["phone"] == "+6281234567890"


@pytest.mark.parametrize(("text", "error", "field"), [
    ("3325014507900001#KIS", InvalidGatewayMessage, "text"),
    ("3325014507900001##uraian", InvalidGatewayMessage, "text"),
    ("33250145079#KIS#uraian", InvalidNIK, "text.nik"),
    ("3325014507900001#ZZZ#uraian", UnknownCategory, "text.kategori"),
])
def test_gateway_text_refused_names_the_part_at_fault(text, error, field):
    with pytest.raises(error) as excinfo:
        parse_gateway_text(text, channel="sms", sender="081234567890")
    assert excinfo.value.field == field


# --- backfill CSV ----------------------------------------------------------------------


def _csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "paper.csv"
    path.write_text(body)
    return path


def test_backfill_rows_report_line_numbers_and_keep_going(tmp_path):
    path = _csv(tmp_path, "desk,category,description,nik,name,registered_on\n"
                "332501,kis,a,3325014507900001,A,2025-01-02\n"
                "332501,kis,b,3325014507900001,,\n"
                "332501,kis,c,3325014507900001,C,2099-01-01\n"
                "332501,kis,d,3325014507900001,D,05/01/2025\n")
    out = list(read_backfill(path, today=date(2025, 6, 1)))
    assert [type(o).__name__ for o in out] == ["BatchItem", "RowError", "RowError", "BatchItem"]
    assert [o.line for o in out] == [2, 3, 4, 5]
    assert isinstance(out[1], RowError) and out[1].field == "name"
    assert out[2].field == "registered_on"
    assert out[3].day == date(2025, 1, 5)


def test_backfill_keys_are_the_form_number_or_the_content_and_its_repeat_count(tmp_path):
    path = _csv(tmp_path, "form_number,desk,category,description,nik,name\n"
                "F-9,332501,kis,a,3325014507900001,A\n"
                ",332501,kis,a,3325014507900001,A\n"
                ",332501,kis,a,3325014507900001,A\n")
    keys = [o.key for o in read_backfill(path)]
    assert keys[0] == "form:F-9"
    assert keys[1].startswith("row:") and keys[1].endswith(":0")
    assert keys[2] == keys[1][:-1] + "1"
    again = [o.key for o in read_backfill(path)]
    assert again == keys


def test_backfill_file_without_required_columns_is_refused_whole(tmp_path):
    from shared.errors import InvalidBackfillFile

    with pytest.raises(InvalidBackfillFile) as excinfo:
        list(read_backfill(_csv(tmp_path, "desk,nik\n332501,3325014507900001\n")))
    assert "category" in excinfo.value.message


# --- supervisor's view -----------------------------------------------------------------

NOW = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
POLICY = MonitorPolicy(idle_after_seconds=600, heartbeat_seconds=60)


def _row(**over):
    row = {"operator_id": "op", "desk": "3325010001", "has_session": True,
           "logged_in_at": NOW - timedelta(hours=1), "last_seen_at": NOW - timedelta(seconds=30),
           "logged_out_at": None, "last_action": "Registered",
           "last_action_at": NOW - timedelta(minutes=5), "complaints_today": 3,
           "complaints_week": 9, "deadlines_at_risk": 0}
    row.update(over)
    return row


def test_operator_is_idle_only_when_online_and_inactive_beyond_the_threshold():
    assert operator_view(_row(), NOW, POLICY)["idle"] is False
    idle = operator_view(_row(last_action_at=NOW - timedelta(minutes=11)), NOW, POLICY)
    assert idle["idle"] is True and idle["idle_minutes"] == 11
    gone = _row(last_action_at=NOW - timedelta(minutes=11),
                last_seen_at=NOW - timedelta(minutes=4))
    assert operator_view(gone, NOW, POLICY)["online"] is False
    assert operator_view(gone, NOW, POLICY)["idle"] is False


def test_rollups_sum_per_kecamatan():
    ops = [operator_view(_row(operator_id=o, desk=d), NOW, POLICY)
           for o, d in (("a", "3325010001"), ("b", "3325010002"), ("c", "332502"))]
    by_kec = {g["kecamatan"]: g for g in rollup(ops, "kecamatan")}
    assert by_kec["332501"]["operators"] == 2 and by_kec["332501"]["complaints_today"] == 6
    assert by_kec["332502"]["operators"] == 1


def test_live_changes_name_what_happened_and_stay_quiet_when_nothing_did():
    view = {"operators": [operator_view(_row(), NOW, POLICY)]}
    memory, first = changes({}, view)
    assert [n for n, _ in first] == ["registration"]
    memory, none = changes(memory, view)
    assert none == []
    heartbeating = _row(last_seen_at=NOW + timedelta(minutes=6))
    later = {"operators": [operator_view(heartbeating, NOW + timedelta(minutes=6), POLICY)]}
    _, news = changes(memory, later)
    assert [n for n, _ in news] == ["idle"]


def test_duplicate_lookup_row_of_a_foreign_registration_number_uses_the_event_day():
    from types import SimpleNamespace

    from services.intake.projections import _registered_on

    at = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # already 2 March in Jakarta
    assert _registered_on(SimpleNamespace(registration_number="REG-1", timestamp=at)) == \
        date(2026, 3, 2)
    from shared.identity import RegistrationNumber

    number = RegistrationNumber.build("3325", date(2025, 3, 4), 1).value
    assert _registered_on(SimpleNamespace(registration_number=number, timestamp=at)) == \
        date(2025, 3, 4)

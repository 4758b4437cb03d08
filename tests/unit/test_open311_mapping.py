"""Open311 mapping without a server: services from the category tree, the request form
turned into the registration command, status rows turned into service requests, XML."""

from __future__ import annotations

from datetime import UTC, date, datetime
from xml.etree import ElementTree as ET

import pytest

from services.intake import open311
from shared import categories

CLIENT = open311.Client("kota", "Aplikasi Kota", "open311-kota")
TODAY = date(2026, 12, 5)


def form(**overrides: str) -> dict[str, str]:
    body = {"api_key": "k", "service_code": "kis", "description": "KIS tidak aktif",
            "attribute[nik]": "3325014507900001", "attribute[nama]": "Siti Aminah"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v}


def test_every_category_is_a_service_grouped_under_its_root():
    services = {s["service_code"]: s for s in open311.services()}
    assert set(services) == set(categories.categories())
    assert services["bpnt-kks"]["group"] == categories.require("bpnt")["name"]
    assert all(s["metadata"] is True and s["type"] == "realtime" for s in services.values())


def test_a_post_becomes_the_same_command_as_the_native_api_under_the_clients_channel():
    post = open311.parse_post(form(phone="0812-3456-7890", first_name="x"), CLIENT,
                              today=TODAY)
    assert post.command["citizen"] == {"nik": "3325014507900001", "name": "Siti Aminah",
                                       "phone": "+6281234567890"}
    assert (post.command["desk"], post.command["channel"]) == ("332501", "open311-kota")
    assert post.command["priority"] == "high"  # the category's, as on every channel
    assert post.actor == {"user_id": "open311:kota", "role": "citizen", "desk": None}


def test_first_and_last_name_stand_in_for_the_nama_attribute():
    post = open311.parse_post(form(**{"attribute[nama]": "", "first_name": "Siti",
                                      "last_name": "Aminah"}), CLIENT, today=TODAY)
    assert post.command["citizen"]["name"] == "Siti Aminah"


def test_retry_key_ignores_the_api_key_and_changes_with_content_and_day():
    a = open311.parse_post(form(), CLIENT, today=TODAY).idempotency_key
    assert open311.parse_post(form(api_key="other"), CLIENT, today=TODAY).idempotency_key == a
    assert open311.parse_post(form(description="lain"), CLIENT,
                              today=TODAY).idempotency_key != a
    assert open311.parse_post(form(), CLIENT, today=date(2026, 12, 6)).idempotency_key != a


def test_unknown_service_code_is_404_and_missing_is_400():
    with pytest.raises(open311.Open311Errors) as unknown:
        open311.parse_post(form(service_code="unicorn"), CLIENT, today=TODAY)
    with pytest.raises(open311.Open311Errors) as missing:
        open311.parse_post(form(service_code=""), CLIENT, today=TODAY)
    assert (unknown.value.status, missing.value.status) == (404, 400)


@pytest.mark.parametrize(("stage", "status"), [
    ("registered", "open"), ("verified", "open"), ("referred", "open"),
    ("resolved", "closed"), ("rejected", "closed")])
def test_stages_map_to_open_or_closed_with_notes_in_plain_words(stage, status):
    row = {"registration_number": "3325-251123-000019", "category": "kis", "stage": stage,
           "agencies": ["DINKES"] if stage in ("referred", "resolved") else [],
           "reason_code": "not_in_dtks" if stage == "rejected" else None,
           "registered_at": datetime(2026, 12, 5, 1, tzinfo=UTC),
           "updated_at": datetime(2026, 12, 5, 2, tzinfo=UTC), "due_at": None}
    view = open311.request_view(row)
    assert view["status"] == status
    assert view["status_notes"] and "_" not in view["status_notes"]
    assert view["requested_datetime"] == "2026-12-05T01:00:00+00:00"
    assert view["agency_responsible"] == ("DINKES" if row["agencies"] else None)


def test_xml_uses_the_specifications_root_and_item_elements():
    root = ET.fromstring(open311.render(open311.services()[:2], "services", "xml"))
    assert root.tag == "services" and [c.tag for c in root] == ["service", "service"]
    assert root[0].findtext("metadata") == "true"
    definition = ET.fromstring(open311.render(open311.definition("kis"), "service_definition",
                                              "xml"))
    values = definition.find("attributes/attribute[code='prioritas']/values")
    assert [v.findtext("key") for v in values] == ["normal", "high", "urgent"]
    errors = ET.fromstring(open311.render([{"code": 403, "description": "x"}], "errors", "xml"))
    assert (errors[0].tag, errors[0].findtext("code")) == ("error", "403")


def test_request_filters():
    q = open311.request_query({"status": "closed", "service_code": "kis,pkh",
                               "start_date": "2026-12-01T00:00:00+07:00"})
    assert q.stages == ("resolved", "rejected") and q.service_codes == ("kis", "pkh")
    assert open311.request_query({"service_request_id": "a,b", "status": "x"}).ids == ("a", "b")
    for bad in ({"status": "pending"}, {"start_date": "2026-12-01"},
                {"start_date": "2026-12-02T00:00:00Z", "end_date": "2026-12-01T00:00:00Z"}):
        with pytest.raises(open311.Open311Errors) as err:
            open311.request_query(bad)
        assert err.value.status == 400

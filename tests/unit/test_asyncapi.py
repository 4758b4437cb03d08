"""docs/asyncapi.yaml describes what the relay really sends: every exchange is documented and
the messages the code builds validate against the document's schemas."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared import topology
from shared.agency import AgencyProfile, citizen_notification, load_profiles, referral_message
from shared.complaints.domainmodel import Complaint
from shared.envelope import to_cloudevent

DOC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml").read_text())


def schema(name: str) -> dict[str, Any]:
    """A component schema with its internal $refs resolvable."""
    return {"$ref": f"#/components/schemas/{name}", "components": DOC["components"]}


def test_every_exchange_the_relay_publishes_to_is_a_documented_channel():
    channels = DOC["channels"]
    assert DOC["asyncapi"].startswith("2.6")
    exchanges = {c["bindings"]["amqp"]["exchange"]["name"] for c in channels.values()}
    assert {f"{o}.events" for o in topology.owners()} <= exchanges
    assert {topology.AGENCY_EXCHANGE, topology.NOTIFICATIONS_EXCHANGE} <= exchanges


def _referred_event() -> Any:
    c = Complaint.register(
        complaint_id=uuid.uuid4(), registration_number="3325-20260415-000123-7",
        kabupaten="3325", desk="332501", channel="desk", category="kis", description="d",
        citizen={"nik": "3325014507900001", "name": "S"}, wilayah="332501", priority="normal",
        confidential=False, actor={"user_id": "op", "role": "operator", "desk": "332501"},
        correlation_id="c")
    c.verify(rule="r", dtks_snapshot="s", reasons=[], actor={"user_id": "x", "role": "system"},
             correlation_id="c")
    c.refer(agency="DINKES", routing_rule="kis-dinkes", routing_table_version=2,
            actor={"user_id": "x", "role": "system", "desk": None}, correlation_id="c")
    return c.collect_events()[-1]


SUMMARY = {"registration_number": "3325-20260415-000123-7", "category": "kis",
           "kabupaten": "3325", "wilayah": "332501", "description": "d", "confidential": False,
           "nik": "3325014507900001", "phone": "+6281234567890"}


@pytest.mark.parametrize("full_nik", [False, True], ids=["masked", "full"])
def test_the_agency_message_validates_against_the_document(full_nik):
    envelope = to_cloudevent(_referred_event(), position=9, owner="routing",
                             registration_number=SUMMARY["registration_number"])
    jsonschema.validate(envelope, schema("ReferredToOPDEvent"))
    message = referral_message(envelope, SUMMARY, AgencyProfile("X", "X", full_nik))
    jsonschema.validate(message, schema("AgencyReferral"))


@pytest.mark.parametrize("phone", ["+6281234567890", None], ids=["phone", "no-phone"])
def test_the_citizen_notification_validates_against_the_document(phone):
    envelope = to_cloudevent(_referred_event(), position=9, owner="routing",
                             registration_number=SUMMARY["registration_number"])
    _, message = citizen_notification(envelope, {**SUMMARY, "phone": phone}, load_profiles())
    jsonschema.validate(message, schema("CitizenNotification"))


def test_the_documents_examples_validate_against_their_schemas():
    for name in ("AgencyReferral", "CitizenNotification"):
        for example in DOC["components"]["messages"][name]["examples"]:
            jsonschema.validate(example["payload"], schema(name))

"""Verification rules: pure functions from (complaint, DTKS answer) to an outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    verified: bool
    rule: str
    dtks_snapshot: str
    reasons: list[str] = field(default_factory=list)
    reason_code: str = ""

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def evaluate(person: dict[str, Any] | None, snapshot_id: str | None) -> Outcome:
    """The walking-skeleton rule: the citizen must be registered in DTKS."""
    snapshot = snapshot_id or "none"
    if person is None:
        return Outcome(
            verified=False,
            rule="dtks.terdaftar",
            dtks_snapshot=snapshot,
            reasons=["NIK tidak ditemukan di DTKS"],
            reason_code="not_in_dtks",
        )
    return Outcome(
        verified=True,
        rule="dtks.terdaftar",
        dtks_snapshot=person.get("snapshot_id") or snapshot,
        reasons=[f"NIK terdaftar di DTKS (desil {person.get('desil')})"],
    )

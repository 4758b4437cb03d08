"""Backfill: register a kabupaten's paper complaints from a CSV file.

Rows are validated one by one (a bad row is reported with its line and reason and never
stops the good ones), then appended in batches: one append per batch of up to `batch_size`
complaints, one round trip and one transaction. Every row's complaint id derives from the
paper form's number (or the row's content), so running the same file again registers
nothing new and a file with fixed rows registers only the fixed ones."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .application import BatchItem, Intake
from .channels import RowError, file_sha256, read_backfill


@dataclass
class BackfillReport:
    file: str
    sha256: str
    rows: int = 0
    registered: int = 0
    already_registered: int = 0
    duplicates_linked: int = 0
    batches: int = 0
    batches_split: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {
            "errors": [e.__dict__ for e in self.errors]}


def run_backfill(
    app: Intake,
    path: Path,
    *,
    actor: dict[str, Any],
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> BackfillReport:
    report = BackfillReport(file=str(path), sha256=file_sha256(path))
    correlation_id = f"backfill:{report.sha256[:16]}:{uuid.uuid4()}"
    seen_keys: dict[str, int] = {}
    seen_citizens: dict[Any, Any] = {}
    batch: list[BatchItem] = []

    def flush() -> None:
        if not batch:
            return
        outcome = app.register_batch(batch, actor=actor, correlation_id=correlation_id,
                                     seen=seen_citizens)
        report.batches += 1
        report.batches_split += outcome.batches_split
        report.registered += len(outcome.registered)
        report.already_registered += len(outcome.already)
        report.duplicates_linked += sum(1 for _, r in outcome.registered if r.duplicate_of)
        if progress:
            progress(len(batch))
        batch.clear()

    for entry in read_backfill(path):
        report.rows += 1
        if isinstance(entry, RowError):
            report.errors.append(entry)
            if progress:
                progress(1)
            continue
        first = seen_keys.get(entry.key)
        if first is not None:
            report.errors.append(RowError(entry.line, "duplicate_row", "form_number",
                                          f"the same form number is already on line {first}"))
            if progress:
                progress(1)
            continue
        seen_keys[entry.key] = entry.line
        batch.append(entry)
        if len(batch) >= batch_size:
            flush()
    flush()
    return report


def count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(0, sum(1 for _ in fh) - 1)

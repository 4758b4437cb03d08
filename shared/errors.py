"""Every failure Sedulur reports is a named exception with a stable code.

The shells (HTTP, RPC, CLI) map these in one table (`shared.web.ERROR_STATUS`) to an HTTP
status; the code and the field at fault travel to the client unchanged, so a client can
rely on `code` and never needs to parse `message`.
"""

from __future__ import annotations

from typing import Any


class SedulurError(Exception):
    """Base of every error Sedulur reports to a caller."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


# --- input -----------------------------------------------------------------------------


class InvalidInput(SedulurError):
    """A request or value that is malformed; nothing was changed."""

    code = "invalid_input"


class MalformedJSON(InvalidInput):
    code = "malformed_json"


class MissingField(InvalidInput):
    code = "missing_field"


class InvalidNIK(InvalidInput):
    code = "invalid_nik"


class InvalidKK(InvalidInput):
    code = "invalid_kk"


class InvalidWilayah(InvalidInput):
    code = "invalid_wilayah"


class InvalidPhone(InvalidInput):
    code = "invalid_phone"


class InvalidRegistrationNumber(InvalidInput):
    code = "invalid_registration_number"


class UnknownCategory(InvalidInput):
    code = "unknown_category"


class InvalidRoutingTable(InvalidInput):
    """A routing table an admin submitted breaks a rule (unknown agency, no default, ...)."""

    code = "invalid_routing_table"


class InvalidGatewayMessage(InvalidInput):
    """An SMS / WhatsApp text that is not `NIK#KATEGORI#uraian`."""

    code = "invalid_gateway_message"


class InvalidBackfillFile(InvalidInput):
    """A backfill CSV that cannot be read at all (no header, missing columns)."""

    code = "invalid_backfill_file"


class InvalidPeriod(InvalidInput):
    """A recap period that is not YYYY-MM, YYYY-Www or YYYY-MM-DD."""

    code = "invalid_period"


class UnknownReportFormat(InvalidInput):
    code = "unknown_report_format"


# --- lookups ---------------------------------------------------------------------------


class NotFound(SedulurError):
    code = "not_found"


class ComplaintNotFound(NotFound):
    code = "complaint_not_found"


class OperatorSessionNotFound(NotFound):
    code = "operator_session_not_found"


class UnknownProjection(NotFound):
    code = "unknown_projection"


class GeneratedReportNotFound(NotFound):
    code = "generated_report_not_found"


# --- domain rules (the aggregate refuses) ----------------------------------------------


class DomainRuleViolation(SedulurError):
    """The command is well-formed but the complaint's state does not allow it."""

    code = "domain_rule_violation"


class WrongStage(DomainRuleViolation):
    code = "wrong_stage"


class AlreadyResolved(WrongStage):
    code = "already_resolved"


class ComplaintRejected(WrongStage):
    code = "complaint_rejected"


class NotReferredToAgency(DomainRuleViolation):
    code = "not_referred_to_agency"


# --- concurrency -----------------------------------------------------------------------


class ConcurrencyConflict(SedulurError):
    """Somebody else changed the complaint first; re-read and decide again."""

    code = "concurrency_conflict"


class DuplicateRequest(ConcurrencyConflict):
    code = "duplicate_request"


class ReportNotReconciled(ConcurrencyConflict):
    """A recap's figures differ from the ones recomputed from the event log (the projection
    kept moving, or is wrong); nothing is handed out. Retry; if it persists, rebuild."""

    code = "report_not_reconciled"


# --- access ----------------------------------------------------------------------------


class Unauthenticated(SedulurError):
    code = "unauthenticated"


class Forbidden(SedulurError):
    code = "forbidden"


# --- limits (abuse protection) ----------------------------------------------------------


class RateLimited(SedulurError):
    """Too many requests from one client; `details.retry_after` says when to come back."""

    code = "rate_limited"


class RequestTooLarge(SedulurError):
    code = "request_too_large"


# --- infrastructure --------------------------------------------------------------------


class ConfigurationError(SedulurError):
    """A setting is missing or wrong; raised at start-up with what to fix."""

    code = "configuration_error"


class DependencyUnavailable(SedulurError):
    code = "dependency_unavailable"

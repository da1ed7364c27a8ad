"""The support service's pure rules: checking what an operator typed, audit outcomes."""

from __future__ import annotations

from services.common.errors import ErrorCode, PermisError
from workflows.ids import is_request_number

MAX_OPERATOR = 200
MAX_REASON = 1000
MAX_ACCOUNT_ID = 64
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

KIND_CANCEL = "cancel_request"

# An action's life: recorded (not yet accepted by the journey), then delivered or refused.
RECORDED = "recorded"
DELIVERED = "delivered"
REFUSED = "refused"

# The journey's stage once it accepted a cancellation.
CANCELLED_STAGE = "cancelled"


def _missing(field: str) -> PermisError:
    return PermisError(ErrorCode.MISSING_FIELDS, details={"field": field})


def check_request_number(raw: str) -> str:
    number = raw.strip().upper()
    if not number:
        raise _missing("request_number")
    if not is_request_number(number):
        raise PermisError(
            ErrorCode.INVALID_FIELD, "Numéro de demande invalide.", {"field": "request_number"}
        )
    return number


def check_text(raw: str, field: str, maximum: int) -> str:
    text = " ".join(raw.split())
    if not text:
        raise _missing(field)
    if len(text) > maximum:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            f"Ce champ est trop long ({maximum} caractères au plus).",
            {"field": field},
        )
    return text


def check_operator(raw: str) -> str:
    return check_text(raw, "operator_id", MAX_OPERATOR)


def check_reason(raw: str) -> str:
    return check_text(raw, "reason", MAX_REASON)


def check_account_id(raw: str) -> str:
    account_id = raw.strip()
    if not account_id:
        raise _missing("account_id")
    if len(account_id) > MAX_ACCOUNT_ID or not all(c.isalnum() or c in "-_" for c in account_id):
        raise PermisError(
            ErrorCode.INVALID_FIELD, "Identifiant de compte invalide.", {"field": "account_id"}
        )
    return account_id


def limit_of(requested: int) -> int:
    if requested <= 0:
        return DEFAULT_LIMIT
    return min(requested, MAX_LIMIT)


def is_final_refusal(code: ErrorCode) -> bool:
    """A refusal the journey will repeat whatever the retry (the action is then closed);
    SERVICE_UNAVAILABLE leaves it recorded, to be delivered by a retry."""
    return code is not ErrorCode.SERVICE_UNAVAILABLE


def visibility_literal(value: str) -> str:
    """A value inside a visibility query's quotes (checked values only: no quote in them)."""
    if "'" in value or "\\" in value:
        raise PermisError(ErrorCode.INVALID_FIELD, details={"field": "query"})
    return f"'{value}'"

"""Pure photo-code rules: file sniffing, code format, validity period and code state."""

from __future__ import annotations

import calendar
import re
import secrets
import string
from datetime import datetime
from enum import StrEnum

from services.common.errors import ErrorCode, PermisError

CODE_LENGTH = 22
CODE_ALPHABET = string.ascii_uppercase + string.digits
VALIDITY_MONTHS = 6

JPEG = "image/jpeg"
PNG = "image/png"
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
)


def sniff_image(data: bytes) -> str | None:
    """The content type by magic bytes (what the booth claims does not count)."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return None


def check_image(data: bytes, field: str, max_bytes: int) -> str:
    """The content type of an acceptable photo or signature, or the refusal."""
    if not data:
        raise PermisError(ErrorCode.EMPTY_FILE, details={"field": field})
    if len(data) > max_bytes:
        raise PermisError(ErrorCode.FILE_TOO_LARGE, details={"field": field})
    content_type = sniff_image(data)
    if content_type is None:
        raise PermisError(
            ErrorCode.UNSUPPORTED_FILE_TYPE,
            "Format d'image non accepté : la photo et la signature doivent être "
            "au format JPEG ou PNG.",
            {"field": field},
        )
    return content_type


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(value: str) -> str:
    """Codes are read aloud and retyped: ignore spaces, dashes and case."""
    return re.sub(r"[\s-]", "", value).upper()


def is_well_formed(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(c in CODE_ALPHABET for c in code)


def add_months(moment: datetime, months: int) -> datetime:
    """Same day ``months`` calendar months later, or the month's last day (31 Aug -> 28 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expiry_of(issued_at: datetime) -> datetime:
    return add_months(issued_at, VALIDITY_MONTHS)


class CodeState(StrEnum):
    USABLE = "usable"
    USED = "used"
    EXPIRED = "expired"


def state_of(consumed_by: str | None, expires_at: datetime, now: datetime) -> CodeState:
    # A spent code says "used" even after it expires: that is the more useful answer.
    if consumed_by:
        return CodeState.USED
    if expires_at <= now:
        return CodeState.EXPIRED
    return CodeState.USABLE


def refusal(state: CodeState) -> PermisError | None:
    return {
        CodeState.USED: PermisError(ErrorCode.PHOTO_CODE_USED),
        CodeState.EXPIRED: PermisError(ErrorCode.PHOTO_CODE_EXPIRED),
    }.get(state)

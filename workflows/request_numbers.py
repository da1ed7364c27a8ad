"""Request numbers, with no Temporal import: services that only check a number (the
document service) need not load the SDK's protos (~14 MiB of RSS) for it.
``workflows.ids`` re-exports both functions."""

from __future__ import annotations

import secrets
from datetime import datetime

# Crockford base32 without I, L, O, U: no letters that read like digits.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_request_number(now: datetime) -> str:
    """YYMM of the creation month, then 8 random characters: ``2611K7Q3ZP9A``."""
    suffix = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{now:%y%m}{suffix}"


def is_request_number(value: str) -> bool:
    return len(value) == 12 and value[:4].isdigit() and all(c in ALPHABET for c in value[4:])

"""Pure identity rules: account field validation, login identifiers and session tokens.

No I/O and no hidden clock: callers pass ``now``/``today``, so the rules are unit-testable
and the same answers come back in every test.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email

from services.common.errors import ErrorCode, PermisError
from workflows.models import NAME

CANDIDATE_ROLE = "candidate"
MIN_PASSWORD_LENGTH = 12
# Bounds the argon2 work an attacker can ask for with one request.
MAX_PASSWORD_LENGTH = 1024
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

# Crockford base32: no I, L, O, U, so an identifier read on paper is typed back right.
CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
IDENTIFIER_LENGTH = 10
_CROCKFORD_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def invalid(field: str, message: str) -> PermisError:
    return PermisError(ErrorCode.INVALID_FIELD, message, {"field": field})


# ---- account fields -----------------------------------------------------------------


def normalise_email(email: str) -> str:
    """The stored form of an email: validated syntax, all lower-case."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise invalid("email", "L'adresse électronique n'est pas valide.") from error
    return checked.normalized.lower()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid(
            "password",
            f"Le mot de passe doit contenir au moins {MIN_PASSWORD_LENGTH} caractères.",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise invalid(
            "password",
            f"Le mot de passe ne peut pas dépasser {MAX_PASSWORD_LENGTH} caractères.",
        )


def normalise_name(value: str, field: str, label: str, max_length: int) -> str:
    name = " ".join(value.split())
    if not name:
        raise invalid(field, f"Le champ « {label} » est obligatoire.")
    if len(name) > max_length or not NAME.match(name):
        raise invalid(
            field,
            f"Le champ « {label} » n'accepte que des lettres, espaces, apostrophes et tirets "
            f"({max_length} caractères au plus).",
        )
    return name


def parse_birth_date(value: str, today: date) -> date:
    try:
        born = date.fromisoformat(value.strip())
    except ValueError as error:
        raise invalid(
            "birth_date", "La date de naissance doit être au format AAAA-MM-JJ."
        ) from error
    if born >= today:
        raise invalid("birth_date", "La date de naissance doit être dans le passé.")
    if born < EARLIEST_BIRTH_DATE:
        raise invalid("birth_date", "La date de naissance n'est pas plausible.")
    return born


# ---- login identifiers ----------------------------------------------------------------


def new_identifier() -> str:
    return "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(IDENTIFIER_LENGTH))


def normalise_identifier(value: str) -> str:
    """Typed identifiers tolerate case, spaces, dashes and the O/0, I/L/1 confusions."""
    compact = re.sub(r"[\s-]", "", value).upper()
    return compact.translate(_CROCKFORD_ALIASES)


def is_email_login(login: str) -> bool:
    return "@" in login


# ---- session tokens -------------------------------------------------------------------
# token = base64url(payload JSON) "." base64url(HMAC-SHA256(secret, first part))
# payload = {"a": account_id, "r": role, "e": expiry as Unix seconds}


@dataclass(frozen=True)
class SessionClaims:
    account_id: str
    role: str
    expires_at: datetime
    session_id: str = ""  # "s" in the payload: the revocable session row


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, signed_part: str) -> bytes:
    return hmac.new(secret.encode(), signed_part.encode("ascii"), hashlib.sha256).digest()


def sign_session(
    account_id: str,
    role: str,
    *,
    secret: str,
    now: datetime,
    ttl: timedelta,
    session_id: str = "",
) -> tuple[str, SessionClaims]:
    expires = int((now + ttl).timestamp())
    fields: dict[str, object] = {"a": account_id, "r": role, "e": expires}
    if session_id:
        fields["s"] = session_id
    payload = json.dumps(fields, separators=(",", ":"))
    signed_part = _b64encode(payload.encode())
    token = f"{signed_part}.{_b64encode(_signature(secret, signed_part))}"
    expires_at = datetime.fromtimestamp(expires, UTC)
    return token, SessionClaims(account_id, role, expires_at, session_id)


def verify_session(token: str, *, secret: str, now: datetime) -> SessionClaims:
    """The claims of a genuine, unexpired token; NOT_AUTHENTICATED for anything else."""
    refused = PermisError(ErrorCode.NOT_AUTHENTICATED)
    parts = token.strip().split(".")
    if len(parts) != 2:
        raise refused
    signed_part, signature = parts
    try:
        given = _b64decode(signature)
        # Check the signature before reading anything the client wrote.
        if not hmac.compare_digest(given, _signature(secret, signed_part)):
            raise refused
        payload = json.loads(_b64decode(signed_part))
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise refused from error
    if not isinstance(payload, dict):
        raise refused
    account_id, role, expires = payload.get("a"), payload.get("r"), payload.get("e")
    if not (isinstance(account_id, str) and account_id and isinstance(role, str)):
        raise refused
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise refused
    if expires <= now.timestamp():
        raise refused
    session_id = payload.get("s", "")
    if not isinstance(session_id, str):
        raise refused
    return SessionClaims(account_id, role, datetime.fromtimestamp(expires, UTC), session_id)


# ---- emailed single-use links -----------------------------------------------------------

ACTIVATION = "activation"
PASSWORD_RESET = "reset"


def new_link_token() -> tuple[str, str]:
    """A random link token (256 bits, URL-safe) and the SHA-256 hex kept in the database."""
    token = secrets.token_urlsafe(32)
    return token, hash_link_token(token)


def hash_link_token(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


# ---- login lockout ----------------------------------------------------------------------


def lockout_delay(failures: int, *, threshold: int, base: int, cap: int) -> timedelta | None:
    """How long an account stays locked after ``failures`` consecutive failed logins.

    None below the threshold; then ``base`` seconds, doubling at each further failure,
    never more than ``cap``.
    """
    if failures < threshold:
        return None
    doublings = min(failures - threshold, 30)  # 2**30 s is far past any cap
    return timedelta(seconds=min(base * 2**doublings, cap))


# ---- retention ----------------------------------------------------------------------------

ANONYMISED = "anonymised"
DEFAULT_INACTIVE_PAGE = 100
MAX_INACTIVE_PAGE = 1000


def parse_inactive_since(value: str, now: datetime, retention: timedelta) -> datetime:
    """The instant of a retention call: an aware RFC 3339 instant at least ``retention``
    old. The service holds the policy too, so no caller erases an account sooner."""
    try:
        since = datetime.fromisoformat(value.strip())
    except ValueError:
        raise invalid("inactive_since", "Date d'inactivité invalide (RFC 3339).") from None
    if since.tzinfo is None:
        raise invalid("inactive_since", "Date d'inactivité sans fuseau horaire.")
    if since > now - retention:
        raise invalid(
            "inactive_since",
            f"Un compte n'est anonymisé qu'après {retention.days} jours sans connexion.",
        )
    return since


def anonymous_fields(account_id: str) -> dict[str, Any]:
    """What an anonymised account keeps in place of its personal data. The email stays
    unique (the column is) and undeliverable (RFC 2606 ``.invalid``)."""
    return {
        "email": f"anonyme-{account_id}@anonyme.invalid",
        "given_names": "",
        "family_name": "",
        "birth_date": EARLIEST_BIRTH_DATE,
        "password_hash": "",
        "status": ANONYMISED,
        "failed_logins": 0,
        "locked_until": None,
        "franceconnect_sub": None,
        "birth_place": None,
        "birth_country": None,
        "gender": None,
    }

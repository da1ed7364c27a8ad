"""Pure rules of DDT instruction: rejection reasons, departments, the NEPH, queue paging.

NEPH (Numéro d'Enregistrement Préfectoral Harmonisé), 12 digits::

    YY MM  DD  PP  NNNN
    26 03  69  01  0042

- ``YYMM``: year and month of the decision, taken from the stored decision time in
  UTC, so the number can always be re-derived from what is stored.
- ``DD``: the department on two digits. Decisions where two digits do not fit:
  Corsica (2A and 2B) uses ``20``, its pre-1976 number; the overseas departments
  971 to 976 use ``97``.
- ``PP``: the prefecture code. Metropolitan departments (and Corsica) use ``01``,
  their prefecture; overseas departments use ``0x`` where x is the last digit of
  971-976, which keeps their numbers apart within ``97``.
- ``NNNN``: the order number of the decision within the month for that
  (YYMM, DD, PP), from 0001 to 9999, allocated by a counter row incremented
  atomically in the deciding transaction. Beyond 9999 allocation is refused rather
  than producing a 13-digit or a duplicate number. 2A and 2B share the ``20 01``
  counter, so they never collide.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.errors import ErrorCode, PermisError
from workflows.models import Category

# (public) The reason given with a rejection; the label is what the candidate reads.
REJECTION_REASONS: dict[str, str] = {
    "missing_document": "Pièce justificative manquante",
    "non_compliant_document": "Pièce justificative non conforme",
    "inconsistent_data": "Informations incohérentes entre la demande et les pièces fournies",
    "medical_check_required": "Un contrôle médical est nécessaire",
    "photo_non_compliant": "Photo ou signature numérique non conforme",
    "other": "Autre motif",
}
OTHER_REASON = "other"
# Reasons whose label alone says nothing: the instructor must explain in their own words.
REASONS_REQUIRING_TEXT = frozenset({OTHER_REASON})
MAX_REASON_TEXT = 1000


@dataclass(frozen=True)
class RejectionReason:
    code: str
    label: str
    requires_text: bool


def rejection_reasons() -> tuple[RejectionReason, ...]:
    """The fixed list, in the order instructors see it (``other`` last)."""
    return tuple(
        RejectionReason(code, label, code in REASONS_REQUIRING_TEXT)
        for code, label in REJECTION_REASONS.items()
    )


METROPOLITAN_DEPARTMENTS = frozenset([f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"])
OVERSEAS_DEPARTMENTS = frozenset(str(n) for n in range(971, 977))
MAX_ORDER = 9999
NEPH_PATTERN = re.compile(r"^\d{12}$")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def check_rejection(reason_code: str, reason_text: str) -> tuple[str, str]:
    """The validated (code, text); ``other`` needs the instructor's own explanation."""
    text = reason_text.strip()
    if reason_code not in REJECTION_REASONS:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "Motif de rejet inconnu. Motifs possibles : " + ", ".join(REJECTION_REASONS) + ".",
            {"field": "reason_code"},
        )
    if reason_code in REASONS_REQUIRING_TEXT and not text:
        raise PermisError(
            ErrorCode.MISSING_FIELDS,
            "Précisez le motif du rejet.",
            {"field": "reason_text"},
        )
    if len(text) > MAX_REASON_TEXT:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            f"Le motif du rejet ne doit pas dépasser {MAX_REASON_TEXT} caractères.",
            {"field": "reason_text"},
        )
    return reason_code, text


# ---- withdrawals and reminders -------------------------------------------------------

REMINDER = 1
ESCALATION = 2
MAX_WITHDRAWAL_REASON = 1000


def check_withdrawal_reason(reason: str) -> str:
    """Why a case leaves the queue undecided: shown to the instructor who had it.

    A long reason (many CTN findings) is shortened rather than refused: the journey's
    withdrawal must go through, and the findings themselves stay in the journey.
    """
    text = reason.strip()
    if not text:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "reason"})
    if len(text) > MAX_WITHDRAWAL_REASON:
        text = text[: MAX_WITHDRAWAL_REASON - 1].rstrip() + "…"
    return text


def check_reminder_level(level: int) -> int:
    """1 is the reminder, 2 the escalation; nothing else exists."""
    if level not in (REMINDER, ESCALATION):
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "Niveau de relance invalide (1 : relance, 2 : escalade).",
            {"field": "level"},
        )
    return level


# ---- departments ---------------------------------------------------------------------


def is_known_department(department: str) -> bool:
    return department in METROPOLITAN_DEPARTMENTS or department in OVERSEAS_DEPARTMENTS


def check_department(department: str, field: str = "department") -> str:
    if not department:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": field})
    if not is_known_department(department):
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            f"Département inconnu ou hors du champ de l'ANTS : {department}.",
            {"field": field},
        )
    return department


@dataclass(frozen=True)
class NephSeries:
    """The (YYMM, department, prefecture) whose counter numbers a decision."""

    yymm: str
    department: str
    prefecture: str


def neph_series(decided_at: datetime, department: str) -> NephSeries:
    check_department(department)
    yymm = decided_at.astimezone(UTC).strftime("%y%m")
    if department in OVERSEAS_DEPARTMENTS:
        return NephSeries(yymm, "97", f"0{department[-1]}")
    if department in ("2A", "2B"):
        return NephSeries(yymm, "20", "01")
    return NephSeries(yymm, department, "01")


def format_neph(series: NephSeries, order: int) -> str:
    if not 1 <= order <= MAX_ORDER:
        raise PermisError(
            ErrorCode.NEPH_EXHAUSTED,
            details={"series": f"{series.yymm}{series.department}{series.prefecture}"},
        )
    return f"{series.yymm}{series.department}{series.prefecture}{order:04d}"


def is_well_formed_neph(neph: str) -> bool:
    """Twelve digits, a real month, a known department/prefecture pair, order >= 1."""
    if not NEPH_PATTERN.match(neph):
        return False
    month, department, prefecture, order = int(neph[2:4]), neph[4:6], neph[6:8], neph[8:]
    if not 1 <= month <= 12 or order == "0000":
        return False
    if department == "97":
        return prefecture in {f"0{n}" for n in range(1, 7)}
    return prefecture == "01" and (department == "20" or department in METROPOLITAN_DEPARTMENTS)


# ---- exam results --------------------------------------------------------------------

MAX_EXAMINER_ID = 100
ISO_DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Title requests name the journey "title"; their NEPH is the candidate's, never a new one.
TITLE_JOURNEY = "title"


def _paris() -> tzinfo:
    try:
        return ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:  # a machine without tz data: UTC is a day off at worst
        return UTC


# Exams take place in France: "not in the future" is counted in Paris's calendar.
PARIS = _paris()


def paris_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(PARIS).date()


@dataclass(frozen=True)
class ExamResultInput:
    neph: str
    category: Category
    exam_date: date
    examiner_id: str


def _invalid(message: str, field: str) -> PermisError:
    return PermisError(ErrorCode.INVALID_FIELD, message, {"field": field})


def check_neph(neph: str, field: str = "neph") -> str:
    """A well-formed NEPH (12 digits, see above), else ``invalid_field``."""
    value = neph.strip()
    if not is_well_formed_neph(value):
        raise _invalid("Numéro NEPH invalide : 12 chiffres attendus.", field)
    return value


def check_exam_result(
    neph: str, category: str, exam_date: str, examiner_id: str, today: date
) -> ExamResultInput:
    """What an examiner records: a NEPH, a licence category, the exam day (ISO, not after
    ``today``) and who they are. Every refusal is ``invalid_field`` naming the field."""
    checked_neph = check_neph(neph)
    try:
        checked_category = Category(category.strip())
    except ValueError:
        raise _invalid(
            "Catégorie de permis inconnue. Catégories possibles : "
            + ", ".join(c.value for c in Category)
            + ".",
            "category",
        ) from None
    raw_date = exam_date.strip()
    try:
        if not ISO_DATE_PATTERN.match(raw_date):
            raise ValueError(raw_date)
        day = date.fromisoformat(raw_date)
    except ValueError:
        raise _invalid("Date d'examen invalide : format AAAA-MM-JJ attendu.", "exam_date") from None
    if day > today:
        raise _invalid("La date d'examen ne peut pas être dans le futur.", "exam_date")
    examiner = examiner_id.strip()
    if not examiner:
        raise _invalid("L'identifiant de l'examinateur est obligatoire.", "examiner_id")
    if len(examiner) > MAX_EXAMINER_ID:
        raise _invalid(
            f"L'identifiant de l'examinateur ne doit pas dépasser {MAX_EXAMINER_ID} caractères.",
            "examiner_id",
        )
    return ExamResultInput(checked_neph, checked_category, day, examiner)


# ---- keyset paging of the queue ------------------------------------------------------


def page_size(requested: int) -> int:
    if requested <= 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def encode_page_token(enqueued_at: datetime, request_number: str) -> str:
    raw = json.dumps([enqueued_at.astimezone(UTC).isoformat(), request_number])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, str]:
    """The (enqueued_at, request_number) after which the next page starts."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        enqueued_at, request_number = json.loads(raw)
        moment = datetime.fromisoformat(enqueued_at)
        if moment.tzinfo is None or not isinstance(request_number, str):
            raise ValueError(token)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise PermisError(
            ErrorCode.INVALID_FIELD, "Jeton de pagination invalide.", {"field": "page_token"}
        ) from None
    return moment.astimezone(UTC), request_number

"""The CTN's form checks (contrôle de forme): pure functions of the dossier.

Each check returns findings with a stable ``code`` (for machines), a French ``message``
(shown to the candidate) and the ``field`` concerned. A dossier with no finding is
compliant. The reference date (submission day) is passed in, never read from a clock.

A CTN agent may also find a request non-compliant by hand: ``NON_COMPLIANCE_REASONS``
is the fixed list of reasons they choose from, checked by ``agent_findings``.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from permis.common.v1 import dossier_pb2
from services.common.errors import ErrorCode, PermisError
from services.common.requirements import (
    DOCUMENT_LABELS,
    JOURNEY_MOTIFS,
    Applicant,
    is_old_enough,
    minimum_age,
    required_documents,
)
from workflows.models import (
    MOBILE_PHONE,
    NAME,
    POSTAL_CODE,
    Category,
    DocumentKind,
    Journey,
    department_of,
)

PHOTO_CODE = re.compile(r"^[A-Z0-9]{22}$")
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
ACCEPTED_CONTENT_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
OLDEST_PLAUSIBLE_AGE = 120
# The proof of address must be less than 6 months old on the submission day (public rule).
PROOF_OF_ADDRESS_MAX_AGE_MONTHS = 6


def _paris() -> tzinfo:
    try:
        return ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:  # a machine without tz data: UTC is a day off at worst
        return UTC


# Ages and document needs are counted in the candidate's calendar, not in UTC.
PARIS = _paris()

CIVIL_STATUS_LABELS = {
    "family_name": "Nom",
    "given_names": "Prénom(s)",
    "birth_date": "Date de naissance",
    "birth_place": "Lieu de naissance",
    "birth_country": "Pays de naissance",
    "sex": "Sexe",
    "nationality": "Nationalité",
}
ADDRESS_LABELS = {
    "street": "Adresse",
    "postal_code": "Code postal",
    "city": "Commune",
    "department": "Département",
    "email": "Adresse électronique",
    "mobile_phone": "Téléphone portable",
}


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    field: str = ""


def missing(field: str, label: str) -> Finding:
    return Finding("missing_field", f"Le champ « {label} » n'est pas renseigné.", field)


def parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def local_date(moment: datetime) -> date:
    """The French calendar day of a timestamp (naive ones are taken as already local)."""
    return moment.astimezone(PARIS).date() if moment.tzinfo else moment.date()


def reference_date(dossier: dossier_pb2.Dossier, today: date) -> date:
    """The day the dossier is judged on: its submission day, or today if it carries none."""
    try:
        return local_date(datetime.fromisoformat(dossier.submitted_at.strip()))
    except ValueError:
        return today


# ---- civil status ---------------------------------------------------------------------


def check_civil_status(civil: dossier_pb2.CivilStatus, on: date) -> list[Finding]:
    findings: list[Finding] = []
    prefix = "civil_status."
    for name, label in CIVIL_STATUS_LABELS.items():
        if not getattr(civil, name).strip():
            findings.append(missing(prefix + name, label))
    for name in ("family_name", "given_names"):
        value = getattr(civil, name).strip()
        if value and not NAME.match(value):
            findings.append(
                Finding(
                    "invalid_name",
                    f"Le champ « {CIVIL_STATUS_LABELS[name]} » ne doit contenir que des "
                    "lettres, espaces, apostrophes et tirets.",
                    prefix + name,
                )
            )
    if civil.birth_date.strip():
        born = parse_date(civil.birth_date)
        if born is None:
            findings.append(
                Finding(
                    "invalid_birth_date",
                    "La date de naissance n'est pas une date valide (AAAA-MM-JJ).",
                    prefix + "birth_date",
                )
            )
        elif born > on:
            findings.append(
                Finding(
                    "birth_date_in_future",
                    "La date de naissance ne peut pas être dans le futur.",
                    prefix + "birth_date",
                )
            )
        elif on.year - born.year > OLDEST_PLAUSIBLE_AGE:
            findings.append(
                Finding(
                    "invalid_birth_date",
                    "La date de naissance n'est pas plausible.",
                    prefix + "birth_date",
                )
            )
    if civil.sex.strip() and civil.sex.strip() not in ("F", "M"):
        findings.append(Finding("invalid_sex", "Le sexe doit être « F » ou « M ».", prefix + "sex"))
    for name in ("birth_country", "nationality"):
        value = getattr(civil, name).strip()
        if value and not COUNTRY_CODE.match(value):
            findings.append(
                Finding(
                    "invalid_country_code",
                    f"Le champ « {CIVIL_STATUS_LABELS[name]} » doit être un code pays "
                    "à deux lettres (ex. FR).",
                    prefix + name,
                )
            )
    return findings


# ---- address and contact ----------------------------------------------------------------


def check_address(address: dossier_pb2.AddressContact) -> list[Finding]:
    findings: list[Finding] = []
    prefix = "address."
    for name in ("street", "postal_code", "city", "department"):
        if not getattr(address, name).strip():
            findings.append(missing(prefix + name, ADDRESS_LABELS[name]))
    postal_code = address.postal_code.strip()
    if postal_code and not POSTAL_CODE.match(postal_code):
        findings.append(
            Finding(
                "invalid_postal_code",
                "Le code postal doit être un code postal français (5 chiffres).",
                prefix + "postal_code",
            )
        )
    elif postal_code and address.department.strip():
        expected = department_of(postal_code)
        if address.department.strip().upper() != expected:
            findings.append(
                Finding(
                    "department_mismatch",
                    f"Le département ({address.department.strip()}) ne correspond pas au "
                    f"code postal {postal_code} (département {expected}).",
                    prefix + "department",
                )
            )
    return findings


def check_contact(address: dossier_pb2.AddressContact) -> list[Finding]:
    findings: list[Finding] = []
    prefix = "address."
    email = address.email.strip()
    if not email:
        findings.append(missing(prefix + "email", ADDRESS_LABELS["email"]))
    else:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            findings.append(
                Finding(
                    "invalid_email",
                    "L'adresse électronique n'est pas valide.",
                    prefix + "email",
                )
            )
    phone = re.sub(r"[ .-]", "", address.mobile_phone)
    if not phone:
        findings.append(missing(prefix + "mobile_phone", ADDRESS_LABELS["mobile_phone"]))
    elif not MOBILE_PHONE.match(phone):
        findings.append(
            Finding(
                "invalid_mobile_phone",
                "Le numéro de téléphone portable doit être un numéro français (06 ou 07).",
                prefix + "mobile_phone",
            )
        )
    return findings


# ---- photo code -----------------------------------------------------------------------


def check_photo_code(photo_code: str) -> list[Finding]:
    code = re.sub(r"[\s-]", "", photo_code).upper()
    if not code:
        return [
            Finding(
                "missing_photo_code",
                "Le code photo/signature numérique n'est pas renseigné.",
                "photo_code",
            )
        ]
    if not PHOTO_CODE.match(code):
        return [
            Finding(
                "invalid_photo_code",
                "Le code photo/signature numérique doit comporter 22 lettres ou chiffres.",
                "photo_code",
            )
        ]
    return []


# ---- request, documents and age ------------------------------------------------------------


def applicant_of(dossier: dossier_pb2.Dossier, on: date) -> Applicant | None:
    """The applicant the requirements engine reasons about, when the dossier allows it.

    None when motif, category or birth date are unusable: those already have findings,
    and guessing the documents from them would only add noise.
    """
    born = parse_date(dossier.civil_status.birth_date)
    if born is None or born > on:
        return None
    try:
        return Applicant(
            dossier.motif,  # type: ignore[arg-type] # the engine turns it into its enum
            Category(dossier.category),
            born,
            dossier.civil_status.nationality.strip() or "FR",
            journey=Journey(dossier.journey),
        )
    except ValueError:
        return None


NEPH_FORMAT = re.compile(r"\d{12}")


def check_request(dossier: dossier_pb2.Dossier) -> list[Finding]:
    findings: list[Finding] = []
    if dossier.journey not in set(Journey):
        findings.append(
            Finding("invalid_journey", "Le type de démarche n'est pas reconnu.", "journey")
        )
    journey = Journey(dossier.journey) if dossier.journey in set(Journey) else None
    if journey is not None and dossier.motif not in JOURNEY_MOTIFS[journey]:
        findings.append(
            Finding("invalid_motif", "Le motif de la demande n'est pas reconnu.", "motif")
        )
    if journey is Journey.TITLE and not NEPH_FORMAT.fullmatch(dossier.neph):
        findings.append(
            Finding(
                "invalid_neph",
                "Le numéro NEPH (12 chiffres, sur l'attestation d'inscription) est invalide.",
                "neph",
            )
        )
    if dossier.category not in set(Category):
        findings.append(
            Finding(
                "invalid_category",
                "La catégorie de permis demandée n'est pas reconnue.",
                "category",
            )
        )
    return findings


def check_documents(dossier: dossier_pb2.Dossier, on: date) -> list[Finding]:
    findings: list[Finding] = []
    provided: set[DocumentKind] = set()
    for index, document in enumerate(dossier.documents):
        field = f"documents[{index}]"
        try:
            provided.add(DocumentKind(document.kind))
        except ValueError:
            findings.append(
                Finding(
                    "unknown_document_kind",
                    "Une pièce justificative est d'un type non reconnu.",
                    field,
                )
            )
        if document.content_type not in ACCEPTED_CONTENT_TYPES:
            findings.append(
                Finding(
                    "unsupported_document_type",
                    "Une pièce justificative n'est pas au format PDF, JPEG ou PNG.",
                    field,
                )
            )
        if document.size <= 0:
            findings.append(Finding("empty_document", "Une pièce justificative est vide.", field))
    applicant = applicant_of(dossier, on)
    if applicant is not None:
        for kind in required_documents(applicant, on):
            if kind not in provided:
                findings.append(
                    Finding(
                        "missing_document",
                        f"Pièce justificative manquante : {DOCUMENT_LABELS[kind]}.",
                        f"documents.{kind.value}",
                    )
                )
    return findings


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has none (31 -> 30)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def check_proof_of_address_dates(dossier: dossier_pb2.Dossier, on: date) -> list[Finding]:
    """Each proof of address carries its issue date and is at most 6 months old on ``on``.

    A document issued on 2 December turns 6 months old on 2 June: still accepted that
    day, refused from 3 June. From 31 August, the 6 months end on 28 (29) February.
    """
    findings: list[Finding] = []
    for index, document in enumerate(dossier.documents):
        if document.kind != DocumentKind.PROOF_OF_ADDRESS.value:
            continue
        field = f"documents[{index}].issued_on"
        if not document.issued_on.strip():
            findings.append(
                Finding(
                    "proof_of_address_date_missing",
                    "La date d'émission du justificatif de domicile n'est pas renseignée.",
                    field,
                )
            )
            continue
        issued = parse_date(document.issued_on)
        if issued is None:
            findings.append(
                Finding(
                    "proof_of_address_date_invalid",
                    "La date d'émission du justificatif de domicile n'est pas une date "
                    "valide (AAAA-MM-JJ).",
                    field,
                )
            )
        elif issued > on:
            findings.append(
                Finding(
                    "proof_of_address_date_invalid",
                    "La date d'émission du justificatif de domicile ne peut pas être "
                    "postérieure à la date de la demande.",
                    field,
                )
            )
        elif add_months(issued, PROOF_OF_ADDRESS_MAX_AGE_MONTHS) < on:
            findings.append(
                Finding(
                    "proof_of_address_too_old",
                    f"Le justificatif de domicile date du {issued:%d/%m/%Y} : il doit avoir "
                    f"moins de {PROOF_OF_ADDRESS_MAX_AGE_MONTHS} mois à la date de la demande.",
                    field,
                )
            )
    return findings


def check_age(dossier: dossier_pb2.Dossier, on: date) -> list[Finding]:
    applicant = applicant_of(dossier, on)
    if applicant is None or is_old_enough(applicant, on):
        return []
    minimum = minimum_age(applicant)
    return [
        Finding(
            "too_young",
            f"L'âge minimum pour la catégorie {applicant.category.value} est de {minimum} ans.",
            "civil_status.birth_date",
        )
    ]


def check_dossier(dossier: dossier_pb2.Dossier, today: date) -> list[Finding]:
    """Every finding on the dossier, in the order of the online form's steps."""
    on = reference_date(dossier, today)
    return [
        *check_request(dossier),
        *check_civil_status(dossier.civil_status, on),
        *check_address(dossier.address),
        *check_contact(dossier.address),
        *check_photo_code(dossier.photo_code),
        *check_documents(dossier, on),
        *check_proof_of_address_dates(dossier, on),
        *check_age(dossier, on),
    ]


# ---- a CTN agent's verdict --------------------------------------------------------------

# Why a CTN agent finds a request non-compliant: code -> French label, which is also the
# message the candidate reads unless the agent writes one.
NON_COMPLIANCE_REASONS: dict[str, str] = {
    "photo_non_compliant": "La photo ou la signature numérisée n'est pas conforme.",
    "document_illegible": "Une pièce justificative est illisible.",
    "document_expired": "Une pièce justificative n'est plus valide.",
    "identity_inconsistent": (
        "Les informations d'état civil ne correspondent pas aux pièces justificatives."
    ),
    "address_proof_too_old": "Le justificatif de domicile date de plus de 6 mois.",
    "document_missing": "Une pièce justificative obligatoire est manquante.",
    "other": "Autre motif de non-conformité.",
}
# "other" says nothing by itself: the agent must explain.
REASONS_NEEDING_A_MESSAGE = frozenset({"other"})
MAX_AGENT_FINDINGS = 20
MAX_FINDING_MESSAGE = 1000
MAX_FINDING_FIELD = 200


def agent_findings(raw: Iterable[tuple[str, str, str]]) -> list[Finding]:
    """An agent's (code, message, field) triples, checked and completed.

    Raises PermisError MISSING_FIELDS (none at all, or "other" without a message) or
    INVALID_FIELD (unknown code, too many, too long), naming the offending field.
    """
    items = list(raw)
    if not items:
        raise PermisError(
            ErrorCode.MISSING_FIELDS,
            "Indiquez au moins un motif de non-conformité.",
            {"field": "findings"},
        )
    if len(items) > MAX_AGENT_FINDINGS:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            f"Au plus {MAX_AGENT_FINDINGS} motifs de non-conformité par décision.",
            {"field": "findings"},
        )
    findings: list[Finding] = []
    for index, (raw_code, raw_message, raw_field) in enumerate(items):
        code, message, field = raw_code.strip(), raw_message.strip(), raw_field.strip()
        where = f"findings[{index}]"
        if code not in NON_COMPLIANCE_REASONS:
            raise PermisError(
                ErrorCode.INVALID_FIELD,
                "Motif de non-conformité inconnu. Motifs possibles : "
                + ", ".join(NON_COMPLIANCE_REASONS)
                + ".",
                {"field": f"{where}.code", "value": code[:64]},
            )
        if not message and code in REASONS_NEEDING_A_MESSAGE:
            raise PermisError(
                ErrorCode.MISSING_FIELDS,
                "Le motif « autre » doit être précisé par un message.",
                {"field": f"{where}.message"},
            )
        if len(message) > MAX_FINDING_MESSAGE or len(field) > MAX_FINDING_FIELD:
            raise PermisError(
                ErrorCode.INVALID_FIELD,
                "Le message ou le champ d'un motif de non-conformité est trop long.",
                {"field": where},
            )
        findings.append(Finding(code, message or NON_COMPLIANCE_REASONS[code], field))
    return findings

"""The CTN's automatic form checks (contrôle de forme): pure functions of the dossier.

Each check returns findings with a stable ``code`` (for machines), a French ``message``
(shown to the candidate) and the ``field`` concerned. A dossier with no finding is
compliant. The reference date (submission day) is passed in, never read from a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from permis.common.v1 import dossier_pb2
from services.common.requirements import (
    DOCUMENT_LABELS,
    MINIMUM_AGE,
    Applicant,
    is_old_enough,
    required_documents,
)
from workflows.models import (
    MOBILE_PHONE,
    NAME,
    POSTAL_CODE,
    Category,
    DocumentKind,
    Journey,
    Motif,
    department_of,
)

PHOTO_CODE = re.compile(r"^[A-Z0-9]{22}$")
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
ACCEPTED_CONTENT_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
OLDEST_PLAUSIBLE_AGE = 120


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
        findings.append(
            Finding("invalid_sex", "Le sexe doit être « F » ou « M ».", prefix + "sex")
        )
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
    try:
        motif, category = Motif(dossier.motif), Category(dossier.category)
    except ValueError:
        return None
    if born is None or born > on:
        return None
    return Applicant(
        motif=motif,
        category=category,
        birth_date=born,
        nationality=dossier.civil_status.nationality.strip() or "FR",
    )


def check_request(dossier: dossier_pb2.Dossier) -> list[Finding]:
    findings: list[Finding] = []
    if dossier.journey not in set(Journey):
        findings.append(
            Finding("invalid_journey", "Le type de démarche n'est pas reconnu.", "journey")
        )
    if dossier.motif not in set(Motif):
        findings.append(
            Finding("invalid_motif", "Le motif de la demande n'est pas reconnu.", "motif")
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
            findings.append(
                Finding("empty_document", "Une pièce justificative est vide.", field)
            )
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


def check_age(dossier: dossier_pb2.Dossier, on: date) -> list[Finding]:
    applicant = applicant_of(dossier, on)
    if applicant is None or is_old_enough(applicant, on):
        return []
    minimum = MINIMUM_AGE[applicant.category]
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
        *check_age(dossier, on),
    ]

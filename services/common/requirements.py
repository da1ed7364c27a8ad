"""The requirements engine: which documents a request needs, and who may ask for it.

One place, data-driven: the gateway shows the list before any upload, the workflow
refuses a submission that lacks a document, and the CTN checks completeness against
it. Pure functions of their arguments (the date included), so workflows can call them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from workflows.models import Category, DocumentKind, Motif

# (public) Minimum age per category. A is 20 through progressive access from A2 (24 direct).
MINIMUM_AGE: dict[Category, int] = {
    Category.AM: 14,
    Category.A1: 16,
    Category.B1: 16,
    Category.B: 17,
    Category.A2: 18,
    Category.BE: 18,
    Category.C1: 18,
    Category.C1E: 18,
    Category.A: 20,
    Category.C: 21,
    Category.CE: 21,
    Category.D1: 21,
    Category.D1E: 21,
    Category.D: 24,
    Category.DE: 24,
}

# EU/EEA and Swiss nationals need no residence permit.
EEA_NATIONALITIES = frozenset(
    (
        "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK "
        "CH"
    ).split()
)

MOTIF_DOCUMENTS: dict[Motif, tuple[DocumentKind, ...]] = {
    Motif.FIRST_REGISTRATION: (),
    Motif.EXTENSION: (DocumentKind.CURRENT_LICENCE,),
    Motif.RETURN_AFTER_CANCELLATION: (
        DocumentKind.REFERENCE_44_07,
        DocumentKind.MEDICAL_OPINION,
        DocumentKind.PSYCHOTECHNICAL_TESTS,
    ),
}

# Heavy categories need a medical opinion from an approved doctor.
MEDICAL_CATEGORIES = frozenset(
    {
        Category.C1,
        Category.C1E,
        Category.C,
        Category.CE,
        Category.D1,
        Category.D1E,
        Category.D,
        Category.DE,
    }
)
TRAINING_CATEGORIES = frozenset({Category.AM})


@dataclass(frozen=True)
class Applicant:
    motif: Motif
    category: Category
    birth_date: date
    nationality: str = "FR"


def age_on(birth_date: date, day: date) -> int:
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


def is_old_enough(applicant: Applicant, on: date) -> bool:
    return age_on(applicant.birth_date, on) >= MINIMUM_AGE[applicant.category]


def required_documents(applicant: Applicant, on: date) -> list[DocumentKind]:
    """The supporting documents this applicant must upload, in a stable order."""
    age = age_on(applicant.birth_date, on)
    needed: list[DocumentKind] = [DocumentKind.IDENTITY_PROOF, DocumentKind.PROOF_OF_ADDRESS]
    if applicant.nationality == "FR":
        # Service national: census certificate at 16-17, JDC certificate from 18 to 24.
        if 16 <= age < 18:
            needed.append(DocumentKind.CENSUS_CERTIFICATE)
        elif 18 <= age < 25:
            needed.append(DocumentKind.JDC_CERTIFICATE)
    elif applicant.nationality not in EEA_NATIONALITIES:
        needed.append(DocumentKind.RESIDENCE_PERMIT)
    if age < 18:
        needed.append(DocumentKind.LEGAL_REPRESENTATIVE_ID)
    needed.extend(MOTIF_DOCUMENTS[applicant.motif])
    if applicant.category in MEDICAL_CATEGORIES and DocumentKind.MEDICAL_OPINION not in needed:
        needed.append(DocumentKind.MEDICAL_OPINION)
    if applicant.category in TRAINING_CATEGORIES:
        needed.append(DocumentKind.TRAINING_CERTIFICATE)
    return needed


def missing_documents(
    applicant: Applicant, on: date, provided: set[DocumentKind]
) -> list[DocumentKind]:
    return [kind for kind in required_documents(applicant, on) if kind not in provided]


DOCUMENT_LABELS: dict[DocumentKind, str] = {
    DocumentKind.IDENTITY_PROOF: "Justificatif d'identité",
    DocumentKind.PROOF_OF_ADDRESS: "Justificatif de domicile de moins de 6 mois",
    DocumentKind.JDC_CERTIFICATE: "Certificat de participation à la JDC",
    DocumentKind.CENSUS_CERTIFICATE: "Attestation de recensement",
    DocumentKind.RESIDENCE_PERMIT: "Justificatif de la régularité du séjour",
    DocumentKind.CURRENT_LICENCE: "Copie du permis de conduire actuel",
    DocumentKind.MEDICAL_OPINION: "Avis médical d'un médecin agréé",
    DocumentKind.REFERENCE_44_07: "Référence 44/07",
    DocumentKind.PSYCHOTECHNICAL_TESTS: "Résultat des tests psychotechniques",
    DocumentKind.TRAINING_CERTIFICATE: "Attestation de formation",
    DocumentKind.LEGAL_REPRESENTATIVE_ID: "Pièce d'identité du représentant légal",
    DocumentKind.OTHER: "Autre pièce",
}

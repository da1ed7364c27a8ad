"""The requirements engine, open to any client before an account or an upload."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.common.errors import ErrorCode, PermisError
from services.common.requirements import (
    JOURNEY_LABELS,
    MOTIF_LABELS,
    Applicant,
    age_on,
    explain,
    is_old_enough,
    minimum_age,
    needs_legal_representative,
)
from workflows.models import Category, DocumentKind, Journey, Motif, TitleMotif

router = APIRouter(prefix="/v1", tags=["pièces justificatives"])


def _paris() -> tzinfo:
    try:
        return ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:  # a machine without tz data: UTC is a day off at worst
        return UTC


# Ages are counted in the candidate's calendar, not in UTC.
PARIS = _paris()


class RequiredDocument(BaseModel):
    kind: DocumentKind
    label: str
    reason: str = Field(description="Pourquoi la pièce est demandée (toutes les raisons).")
    reasons: list[str]


class Requirements(BaseModel):
    journey: Journey
    journey_label: str
    motif: Motif | TitleMotif
    motif_label: str
    category: Category
    on: date = Field(description="Jour de référence du calcul (âge, pièces).")
    age: int
    minimum_age: int
    old_enough: bool
    legal_representative_required: bool
    documents: list[RequiredDocument]


def _journey_and_motif(
    journey: Journey | None, motif: Motif | None, title_motif: TitleMotif | None
) -> tuple[Journey, Motif | TitleMotif]:
    if journey is None:  # deduced from the motif given: a title motif alone means a title
        title_only = title_motif is not None and motif is None
        journey = Journey.TITLE if title_only else Journey.INSCRIPTION
    if journey is Journey.INSCRIPTION:
        if title_motif is not None:
            raise PermisError(
                ErrorCode.INVALID_FIELD,
                "Le motif de fabrication de titre ne s'applique pas à une inscription.",
                {"title_motif": "Réservé à la demande de fabrication de titre."},
            )
        if motif is None:
            raise PermisError(
                ErrorCode.MISSING_FIELDS,
                details={"motif": "Champ obligatoire pour une inscription."},
            )
        return journey, motif
    if motif is not None:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "Le motif d'inscription ne s'applique pas à une demande de fabrication de titre.",
            {"motif": "Réservé à l'inscription : utilisez title_motif."},
        )
    if title_motif is None:
        raise PermisError(
            ErrorCode.MISSING_FIELDS,
            details={"title_motif": "Champ obligatoire pour une demande de fabrication de titre."},
        )
    return journey, title_motif


@router.get("/requirements", response_model=Requirements)
async def requirements(
    category: Category,
    birth_date: date,
    motif: Annotated[Motif | None, Query(description="Motif d'une inscription.")] = None,
    nationality: Annotated[str, Query(pattern=r"^[A-Z]{2}$")] = "FR",
    journey: Annotated[
        Journey | None,
        Query(description="Démarche ; déduite du motif donné si absente."),
    ] = None,
    title_motif: Annotated[
        TitleMotif | None, Query(description="Motif d'une demande de fabrication de titre.")
    ] = None,
    under_guardianship: bool = False,
    supervised_learning: Annotated[
        bool, Query(description="Apprentissage anticipé de la conduite (AAC), catégorie B.")
    ] = False,
    medical_condition_declared: bool = False,
    a2_progression: Annotated[
        bool, Query(description="Catégorie A après deux ans de A2 (formation de 7 heures).")
    ] = False,
    b96_training: Annotated[bool, Query(description="Mention B96.")] = False,
    code78_removal: Annotated[bool, Query(description="Levée du code 78.")] = False,
    on: Annotated[
        date | None, Query(description="Jour de référence (aujourd'hui, heure de Paris).")
    ] = None,
) -> Requirements:
    """Les pièces à fournir pour une situation donnée, avec la raison de chacune, et l'âge
    minimum applicable."""
    day = on or datetime.now(PARIS).date()
    if birth_date > day:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "La date de naissance ne peut pas être dans le futur.",
            {"birth_date": "La date de naissance ne peut pas être dans le futur."},
        )
    journey, chosen = _journey_and_motif(journey, motif, title_motif)
    try:
        applicant = Applicant(
            chosen,
            category,
            birth_date,
            nationality,
            journey=journey,
            under_guardianship=under_guardianship,
            supervised_learning=supervised_learning,
            medical_condition_declared=medical_condition_declared,
            a2_progression=a2_progression,
            b96_training=b96_training,
            code78_removal=code78_removal,
        )
    except ValueError as error:
        raise PermisError(ErrorCode.INVALID_FIELD, str(error), {"category": str(error)}) from error
    return Requirements(
        journey=journey,
        journey_label=JOURNEY_LABELS[journey],
        motif=chosen,
        motif_label=MOTIF_LABELS[chosen],
        category=category,
        on=day,
        age=age_on(birth_date, day),
        minimum_age=minimum_age(applicant),
        old_enough=is_old_enough(applicant, day),
        legal_representative_required=needs_legal_representative(applicant, day),
        documents=[
            RequiredDocument(
                kind=item.kind,
                label=item.label,
                reason=item.reason,
                reasons=list(item.reasons),
            )
            for item in explain(applicant, day)
        ],
    )

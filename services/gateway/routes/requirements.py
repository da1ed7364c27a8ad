"""The requirements engine, open to any client before an account or an upload."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.common.requirements import (
    DOCUMENT_LABELS,
    MINIMUM_AGE,
    Applicant,
    is_old_enough,
    required_documents,
)
from workflows.models import Category, DocumentKind, Motif

router = APIRouter(prefix="/v1", tags=["pièces justificatives"])


class RequiredDocument(BaseModel):
    kind: DocumentKind
    label: str


class Requirements(BaseModel):
    motif: Motif
    category: Category
    minimum_age: int
    old_enough: bool
    documents: list[RequiredDocument]


@router.get("/requirements", response_model=Requirements)
async def requirements(
    motif: Motif,
    category: Category,
    birth_date: date,
    nationality: Annotated[str, Query(pattern=r"^[A-Z]{2}$")] = "FR",
) -> Requirements:
    """Les pièces à fournir pour une situation donnée, et l'âge minimum de la catégorie."""
    applicant = Applicant(motif, category, birth_date, nationality)
    today = datetime.now(UTC).date()
    return Requirements(
        motif=motif,
        category=category,
        minimum_age=MINIMUM_AGE[category],
        old_enough=is_old_enough(applicant, today),
        documents=[
            RequiredDocument(kind=kind, label=DOCUMENT_LABELS[kind])
            for kind in required_documents(applicant, today)
        ],
    )

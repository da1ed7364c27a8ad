"""« Où en est mon permis » : public tracking from a request number and a birth date.

No account needed, so it answers only what the tracking page shows (stages and their
dates, the postal tracking number) and nothing personal; an unknown number and a wrong
birth date get the same answer, and callers are rate-limited so numbers cannot be
guessed.
"""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.common.errors import ErrorCode, PermisError
from services.gateway.deps import JourneysDep
from services.gateway.rate_limit import RateLimiter
from workflows import ids
from workflows.models import Journey, Stage

router = APIRouter(prefix="/v1/tracking", tags=["suivi public"])

# Per caller address: a person checking their request, not a scanner.
PER_CLIENT = RateLimiter(capacity=10, per_minute=10)
# Per request number: wrong birth dates for one number are throttled whoever asks.
PER_REQUEST = RateLimiter(capacity=5, per_minute=2)


class TrackedStage(BaseModel):
    stage: Stage
    label: str
    at: datetime


class Tracking(BaseModel):
    request_number: str
    journey: Journey
    stage: Stage
    stage_label: str
    history: list[TrackedStage]
    tracking_number: str | None = None


@router.get("/{request_number}", response_model=Tracking)
async def track(
    request_number: str, birth_date: date, request: Request, journeys: JourneysDep
) -> Tracking:
    """L'état d'avancement d'une demande, sans connexion, avec la date de naissance."""
    PER_CLIENT.take(request.client.host if request.client else "unknown")
    PER_REQUEST.take(request_number)
    if not ids.is_request_number(request_number):
        raise PermisError(ErrorCode.TRACKING_NOT_FOUND)
    try:
        view = await journeys.view(request_number)
    except PermisError as error:
        if error.code is ErrorCode.REQUEST_NOT_FOUND:
            raise PermisError(ErrorCode.TRACKING_NOT_FOUND) from error
        raise
    if view.civil_status is None or view.civil_status.birth_date != birth_date:
        raise PermisError(ErrorCode.TRACKING_NOT_FOUND)
    return Tracking(
        request_number=view.request_number,
        journey=view.journey,
        stage=view.stage,
        stage_label=view.stage_label,
        history=[TrackedStage(stage=h.stage, label=h.label, at=h.at) for h in view.history],
        tracking_number=getattr(view, "tracking_number", None),
    )

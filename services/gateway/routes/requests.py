"""The candidate's requests: start, fill each step, upload documents, submit, follow.

Each step is an update of the request's workflow, which refuses steps out of order;
the gateway first reads the request to check that it belongs to the caller (someone
else's request is answered 404, so numbers cannot be probed).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, File, Form, Header, Response, UploadFile, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from permis.documents.v1 import documents_pb2
from permis.photocode.v1 import photocode_pb2
from services.common.errors import ErrorCode, PermisError
from services.gateway.deps import AccountDep, ClientsDep, JourneysDep, SettingsDep
from services.gateway.grpc_calls import call
from services.gateway.journeys import Journeys, RequestStatus
from workflows.models import (
    DEPARTMENTS,
    AddressStep,
    CivilStatusStep,
    DocumentAdded,
    DocumentKind,
    Journey,
    MotifStep,
    PhotoStep,
    RemoveDocument,
    RequestView,
    Stage,
    TitleMotifStep,
)

router = APIRouter(prefix="/v1/requests", tags=["demandes"])
PARIS = ZoneInfo("Europe/Paris")


class Summary(BaseModel):
    """Le récapitulatif : tout ce que le candidat s'apprête à envoyer."""

    request: RequestView
    missing_documents: list[DocumentKind]
    ready_to_submit: bool


async def own_request(journeys: Journeys, request_number: str, account_id: str) -> RequestView:
    view = await journeys.view(request_number)
    if view.account_id != account_id:
        raise PermisError(ErrorCode.REQUEST_NOT_FOUND)
    return view


async def own_draft(journeys: Journeys, request_number: str, account_id: str) -> RequestView:
    view = await own_request(journeys, request_number, account_id)
    if view.stage != Stage.DRAFT:
        raise PermisError(ErrorCode.REQUEST_ALREADY_SUBMITTED)
    return view


class NewRequest(BaseModel):
    journey: Journey = Field(
        description="Démarche : « inscription » pour s'inscrire aux examens, « title » pour "
        "demander la fabrication du permis (après la réussite à l'examen, perte, vol…)"
    )


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Clé choisie par le client (UUID par exemple) : renvoyer la même requête "
        "avec la même clé rend la même demande, jamais une seconde.",
    ),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RequestView,
    responses={200: {"model": RequestView, "description": "Reprise : demande déjà créée"}},
)
async def start_request(
    body: NewRequest,
    account: AccountDep,
    journeys: JourneysDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RequestView:
    """Commence une nouvelle demande (« commencer la demande »).

    Avec un en-tête `Idempotency-Key`, une nouvelle tentative avec la même clé rend la
    demande déjà créée (200) au lieu d'en créer une seconde (201)."""
    if idempotency_key is None:
        return await journeys.start(body.journey, account.account_id, account.email)
    view, created = await journeys.start_once(
        body.journey, account.account_id, account.email, idempotency_key
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return view


@router.get("/{request_number}", response_model=RequestView)
async def read_request(
    request_number: str, account: AccountDep, journeys: JourneysDep
) -> RequestView:
    """L'état d'avancement de la demande."""
    return await own_request(journeys, request_number, account.account_id)


@router.get("/{request_number}/status", response_model=RequestStatus)
async def read_status(
    request_number: str, account: AccountDep, journeys: JourneysDep
) -> RequestStatus:
    """Où en est la demande : l'étape seulement, la lecture la plus légère (le dossier
    complet et l'historique daté sont dans `GET /v1/requests/{n}`)."""
    return await journeys.status(request_number, account.account_id)


MOTIF_MODELS: dict[Journey, type[MotifStep] | type[TitleMotifStep]] = {
    Journey.INSCRIPTION: MotifStep,
    Journey.TITLE: TitleMotifStep,
}


@router.put("/{request_number}/motif", response_model=RequestView)
async def set_motif(
    request_number: str,
    body: Annotated[
        dict[str, Any],
        Body(
            description="Inscription : `motif` et `category`. Titre : `motif`, `category` et "
            "`neph` (numéro figurant sur l'attestation d'inscription).",
            openapi_examples={
                "inscription": {"value": {"motif": "first_registration", "category": "B"}},
                "titre": {
                    "value": {
                        "motif": "exam_success_first_title",
                        "category": "B",
                        "neph": "261169010001",
                    }
                },
            },
        ),
    ],
    account: AccountDep,
    journeys: JourneysDep,
) -> RequestView:
    """Étape 1 : motif de la demande et catégorie (non modifiable une fois validé)."""
    view = await own_draft(journeys, request_number, account.account_id)
    try:
        step = MOTIF_MODELS[view.journey].model_validate(body)
    except ValidationError as error:
        # The journey decides the shape: report it as any other invalid body.
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from error
    return await journeys.update(view, "set_motif", step)


@router.put("/{request_number}/civil-status", response_model=RequestView)
async def set_civil_status(
    request_number: str, body: CivilStatusStep, account: AccountDep, journeys: JourneysDep
) -> RequestView:
    """Étape 2 : état civil du candidat."""
    view = await own_draft(journeys, request_number, account.account_id)
    check_birth_date(body.birth_date)
    return await journeys.update(view, "set_civil_status", body)


@router.put("/{request_number}/address", response_model=RequestView)
async def set_address(
    request_number: str, body: AddressStep, account: AccountDep, journeys: JourneysDep
) -> RequestView:
    """Étape 3 : adresse et contact (courriel et téléphone portable)."""
    view = await own_draft(journeys, request_number, account.account_id)
    if body.department not in DEPARTMENTS:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "Ce code postal ne correspond à aucun département desservi.",
            {"postal_code": "Département inconnu."},
        )
    return await journeys.update(view, "set_address", body)


@router.put("/{request_number}/photo-code", response_model=RequestView)
async def set_photo_code(
    request_number: str,
    body: PhotoStep,
    account: AccountDep,
    journeys: JourneysDep,
    clients: ClientsDep,
) -> RequestView:
    """Étape 4 : code photo/signature numérique remis par une cabine agréée."""
    view = await own_draft(journeys, request_number, account.account_id)
    await call(clients.photocode.CheckCode, photocode_pb2.CheckCodeRequest(code=body.photo_code))
    return await journeys.update(view, "set_photo_code", body)


@router.post(
    "/{request_number}/documents",
    status_code=status.HTTP_201_CREATED,
    response_model=RequestView,
    responses={200: {"model": RequestView, "description": "Reprise : pièce déjà déposée"}},
)
async def upload_document(
    request_number: str,
    kind: Annotated[DocumentKind, Form(description="Nature de la pièce justificative")],
    file: Annotated[UploadFile, File(description="PDF, JPEG ou PNG")],
    account: AccountDep,
    journeys: JourneysDep,
    clients: ClientsDep,
    settings: SettingsDep,
    response: Response,
    issued_on: Annotated[
        date | None,
        Form(description="Date d'émission (obligatoire pour le justificatif de domicile)"),
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> RequestView:
    """Étape 5 : dépôt d'une pièce justificative (PDF, JPEG ou PNG).

    Avec un en-tête `Idempotency-Key`, renvoyer le même dépôt avec la même clé rend la
    demande (200) sans enregistrer la pièce une seconde fois."""
    view = await own_request(journeys, request_number, account.account_id)
    document_id = ""
    if idempotency_key is not None:
        document_id = journeys.keyed_document_id(
            account.account_id, request_number, idempotency_key
        )
        if any(d.document_id == document_id for d in view.documents):
            response.status_code = status.HTTP_200_OK
            return view
    if view.stage != Stage.DRAFT:
        raise PermisError(ErrorCode.REQUEST_ALREADY_SUBMITTED)
    check_issue_date(kind, issued_on)
    content = await file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        raise PermisError(ErrorCode.FILE_TOO_LARGE)
    document = await call(
        clients.documents.UploadDocument,
        documents_pb2.UploadDocumentRequest(
            request_number=request_number,
            kind=kind.value,
            filename=file.filename or "piece",
            content=content,
            owner_account_id=account.account_id,
            document_id=document_id,
        ),
    )
    added = DocumentAdded(
        document_id=document.document_id,
        kind=kind,
        content_type=document.content_type,
        sha256=document.sha256,
        size=document.size,
        issued_on=issued_on,
    )
    try:
        return await journeys.update(view, "add_document", added)
    except PermisError as error:
        # Refused for good: take the stored bytes back so nothing is left orphaned. Not
        # when Temporal did not answer: the update may have been recorded, and deleting
        # would lose a document the request lists (a keyed retry completes it).
        if error.code is not ErrorCode.SERVICE_UNAVAILABLE:
            await call(
                clients.documents.DeleteDocument,
                documents_pb2.GetDocumentRequest(document_id=document.document_id),
            )
        raise


def check_birth_date(birth_date: date) -> None:
    """Checks that need today's date, which the shared step models cannot use."""
    today = datetime.now(PARIS).date()
    if birth_date >= today or today.year - birth_date.year > 120:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "La date de naissance n'est pas plausible.",
            {"birth_date": "Date de naissance invalide."},
        )


def check_issue_date(kind: DocumentKind, issued_on: date | None) -> None:
    """The CTN wants a proof of address less than 6 months old: ask for its date upfront."""
    if kind is DocumentKind.PROOF_OF_ADDRESS and issued_on is None:
        raise PermisError(
            ErrorCode.MISSING_FIELDS,
            "Indiquez la date d'émission du justificatif de domicile.",
            {"issued_on": "Champ obligatoire."},
        )
    if issued_on is not None and issued_on > datetime.now(PARIS).date():
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "La date d'émission ne peut pas être dans le futur.",
            {"issued_on": "Date dans le futur."},
        )


@router.delete("/{request_number}/documents/{document_id}", response_model=RequestView)
async def remove_document(
    request_number: str,
    document_id: str,
    account: AccountDep,
    journeys: JourneysDep,
    clients: ClientsDep,
) -> RequestView:
    """Retire une pièce justificative d'une demande non envoyée."""
    view = await own_draft(journeys, request_number, account.account_id)
    if all(d.document_id != document_id for d in view.documents):
        raise PermisError(ErrorCode.DOCUMENT_NOT_FOUND)
    updated = await journeys.update(
        view, "remove_document", RemoveDocument(document_id=document_id)
    )
    await call(
        clients.documents.DeleteDocument, documents_pb2.GetDocumentRequest(document_id=document_id)
    )
    return updated


@router.get("/{request_number}/documents/{document_id}")
async def download_document(
    request_number: str,
    document_id: str,
    account: AccountDep,
    journeys: JourneysDep,
    clients: ClientsDep,
) -> Response:
    """Télécharge une pièce de la demande, ou l'attestation d'inscription."""
    view = await own_request(journeys, request_number, account.account_id)
    generated = (view.attestation_document_id, view.receipt_document_id)
    known = {d.document_id for d in view.documents} | {g for g in generated if g}
    if document_id not in known:
        raise PermisError(ErrorCode.DOCUMENT_NOT_FOUND)
    return await _document_response(clients, document_id)


@router.get("/{request_number}/attestation")
async def download_attestation(
    request_number: str, account: AccountDep, journeys: JourneysDep, clients: ClientsDep
) -> Response:
    """L'attestation d'inscription (PDF recto/verso, avec le NEPH) d'une demande acceptée."""
    view = await own_request(journeys, request_number, account.account_id)
    if not view.attestation_document_id:
        raise PermisError(
            ErrorCode.DOCUMENT_NOT_FOUND,
            "L'attestation d'inscription sera disponible une fois la demande acceptée.",
        )
    return await _document_response(clients, view.attestation_document_id)


@router.get("/{request_number}/receipt")
async def download_receipt(
    request_number: str, account: AccountDep, journeys: JourneysDep, clients: ClientsDep
) -> Response:
    """Le récépissé de dépôt (catégorie B) : il permet de commencer l'apprentissage."""
    view = await own_request(journeys, request_number, account.account_id)
    if not view.receipt_document_id:
        raise PermisError(
            ErrorCode.DOCUMENT_NOT_FOUND,
            "Le récépissé de dépôt est délivré à l'envoi d'une demande d'inscription "
            "en catégorie B.",
        )
    return await _document_response(clients, view.receipt_document_id)


async def _document_response(clients: ClientsDep, document_id: str) -> Response:
    content = await call(
        clients.documents.DownloadDocument,
        documents_pb2.GetDocumentRequest(document_id=document_id),
    )
    filename = content.document.filename or f"{document_id}"
    # Headers are Latin-1: an ASCII fallback, and the real name as RFC 6266 filename*.
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    return Response(
        content=content.content,
        media_type=content.document.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{fallback}"; '
            f"filename*=UTF-8''{quote(filename, safe='')}"
        },
    )


@router.get("/{request_number}/summary", response_model=Summary)
async def summary(request_number: str, account: AccountDep, journeys: JourneysDep) -> Summary:
    """Étape 6 : récapitulatif de la demande avant confirmation."""
    view = await own_request(journeys, request_number, account.account_id)
    provided = {d.kind for d in view.documents}
    missing = [kind for kind in view.required_documents if kind not in provided]
    ready = view.stage == Stage.DRAFT and view.next_step is None and not missing
    return Summary(request=view, missing_documents=missing, ready_to_submit=ready)


@router.post("/{request_number}/submit", response_model=RequestView)
async def submit(
    request_number: str,
    account: AccountDep,
    journeys: JourneysDep,
    idempotency_key: IdempotencyKey = None,
) -> RequestView:
    """Étape 7 : confirmation et envoi. Le code photo est alors consommé.

    Avec un en-tête `Idempotency-Key`, renvoyer une demande déjà envoyée rend son état
    (200) au lieu de l'erreur `request_already_submitted`."""
    view = await own_request(journeys, request_number, account.account_id)
    if view.stage != Stage.DRAFT:
        if idempotency_key is not None:
            return view
        raise PermisError(ErrorCode.REQUEST_ALREADY_SUBMITTED)
    try:
        return await journeys.update(view, "submit")
    except PermisError as error:
        # Two retries raced: the other one submitted it.
        if idempotency_key is None or error.code is not ErrorCode.REQUEST_ALREADY_SUBMITTED:
            raise
        return await own_request(journeys, request_number, account.account_id)

"""Stable error codes, French messages, and their gRPC and HTTP forms.

A service raises ``PermisError``; gRPC carries it as a status whose details hold a
``google.rpc.ErrorInfo`` (reason = the stable code); the gateway turns it back into
an RFC 9457 problem with the same code. Workflows raise ``ApplicationError`` whose
type is the same code, so one catalogue serves every layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "permis.gouv.fr"


class ErrorCode(StrEnum):
    REQUEST_NOT_FOUND = "request_not_found"
    STEP_OUT_OF_ORDER = "step_out_of_order"
    MISSING_FIELDS = "missing_fields"
    MISSING_DOCUMENTS = "missing_documents"
    TOO_YOUNG = "too_young"
    INVALID_FIELD = "invalid_field"
    REQUEST_ALREADY_SUBMITTED = "request_already_submitted"
    MOTIF_LOCKED = "motif_locked"
    PHOTO_CODE_UNKNOWN = "photo_code_unknown"
    PHOTO_CODE_USED = "photo_code_used"
    PHOTO_CODE_EXPIRED = "photo_code_expired"
    BOOTH_NOT_APPROVED = "booth_not_approved"
    UNSUPPORTED_FILE_TYPE = "unsupported_file_type"
    FILE_TOO_LARGE = "file_too_large"
    EMPTY_FILE = "empty_file"
    CORRUPTED_FILE = "corrupted_file"
    IMAGE_TOO_LARGE = "image_too_large"
    DOCUMENT_NOT_FOUND = "document_not_found"
    ACCOUNT_EXISTS = "account_exists"
    ACCOUNT_NOT_FOUND = "account_not_found"
    INVALID_CREDENTIALS = "invalid_credentials"
    NOT_AUTHENTICATED = "not_authenticated"
    FORBIDDEN = "forbidden"
    CASE_NOT_FOUND = "case_not_found"
    CASE_ALREADY_DECIDED = "case_already_decided"
    JOURNEY_NOT_WAITING = "journey_not_waiting"
    SERVICE_UNAVAILABLE = "service_unavailable"
    NEPH_EXHAUSTED = "neph_exhausted"
    CASE_CLAIMED = "case_claimed"
    RATE_LIMITED = "rate_limited"
    TRACKING_NOT_FOUND = "tracking_not_found"
    WRONG_DEPARTMENT = "wrong_department"
    NOT_YOUR_IDENTIFIER = "not_your_identifier"
    PRE_CHECK_NOT_OPEN = "pre_check_not_open"
    EXAM_NOT_PASSED = "exam_not_passed"
    TITLE_NOT_FOUND = "title_not_found"
    TITLE_EVENT_OUT_OF_ORDER = "title_event_out_of_order"
    TITLE_NOT_RETURNED = "title_not_returned"
    TITLE_DESTROYED = "title_destroyed"
    NEPH_NOT_FOUND = "neph_not_found"
    EXAM_RESULT_CONFLICT = "exam_result_conflict"
    REQUEST_NOT_CANCELLABLE = "request_not_cancellable"
    ACCOUNT_LOCKED = "account_locked"
    LINK_UNKNOWN = "link_unknown"
    LINK_USED = "link_used"
    LINK_EXPIRED = "link_expired"
    FRANCECONNECT_FAILED = "franceconnect_failed"
    FRANCECONNECT_DISABLED = "franceconnect_disabled"


# The default French message and the gRPC status of each code.
CATALOGUE: dict[ErrorCode, tuple[str, grpc.StatusCode]] = {
    ErrorCode.REQUEST_NOT_FOUND: ("Demande introuvable.", grpc.StatusCode.NOT_FOUND),
    ErrorCode.STEP_OUT_OF_ORDER: (
        "Cette étape ne peut pas encore être remplie : complétez d'abord les étapes précédentes.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.MISSING_FIELDS: (
        "Des champs obligatoires sont manquants.",
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    ErrorCode.MISSING_DOCUMENTS: (
        "Des pièces justificatives obligatoires manquent à la demande.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.TOO_YOUNG: (
        "L'âge minimum requis pour cette catégorie n'est pas atteint.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.INVALID_FIELD: ("Un champ est invalide.", grpc.StatusCode.INVALID_ARGUMENT),
    ErrorCode.REQUEST_ALREADY_SUBMITTED: (
        "Cette demande a déjà été envoyée et ne peut plus être modifiée.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.MOTIF_LOCKED: (
        "Le motif de la demande est validé et ne peut plus être modifié.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.PHOTO_CODE_UNKNOWN: (
        "Ce code photo/signature numérique est inconnu. Vérifiez sa saisie.",
        grpc.StatusCode.NOT_FOUND,
    ),
    ErrorCode.PHOTO_CODE_USED: (
        "Ce code photo/signature numérique a déjà été utilisé. "
        "Un nouveau code est nécessaire pour chaque demande.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.PHOTO_CODE_EXPIRED: (
        "Ce code photo/signature numérique a expiré (validité de 6 mois).",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.BOOTH_NOT_APPROVED: (
        "Cette cabine n'est pas agréée « service en ligne ANTS ».",
        grpc.StatusCode.PERMISSION_DENIED,
    ),
    ErrorCode.UNSUPPORTED_FILE_TYPE: (
        "Format de fichier non accepté : seuls les fichiers PDF, JPEG et PNG sont acceptés.",
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    ErrorCode.FILE_TOO_LARGE: ("Le fichier est trop volumineux.", grpc.StatusCode.INVALID_ARGUMENT),
    ErrorCode.EMPTY_FILE: ("Le fichier est vide.", grpc.StatusCode.INVALID_ARGUMENT),
    ErrorCode.CORRUPTED_FILE: (
        "Le fichier est incomplet ou endommagé : enregistrez-le de nouveau puis déposez-le.",
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    ErrorCode.IMAGE_TOO_LARGE: (
        "L'image est trop grande : réduisez sa définition (40 mégapixels au plus).",
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    ErrorCode.DOCUMENT_NOT_FOUND: ("Pièce justificative introuvable.", grpc.StatusCode.NOT_FOUND),
    ErrorCode.ACCOUNT_EXISTS: (
        "Un compte existe déjà avec cette adresse électronique.",
        grpc.StatusCode.ALREADY_EXISTS,
    ),
    ErrorCode.ACCOUNT_NOT_FOUND: ("Compte introuvable.", grpc.StatusCode.NOT_FOUND),
    ErrorCode.INVALID_CREDENTIALS: (
        "Identifiant ou mot de passe incorrect.",
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    ErrorCode.NOT_AUTHENTICATED: (
        "Vous devez être connecté pour effectuer cette démarche.",
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    ErrorCode.FORBIDDEN: (
        "Vous n'avez pas accès à cette ressource.",
        grpc.StatusCode.PERMISSION_DENIED,
    ),
    ErrorCode.CASE_NOT_FOUND: ("Dossier d'instruction introuvable.", grpc.StatusCode.NOT_FOUND),
    ErrorCode.CASE_ALREADY_DECIDED: (
        "Ce dossier a déjà fait l'objet d'une décision.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.JOURNEY_NOT_WAITING: (
        "La démarche n'attend pas de décision d'instruction.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.SERVICE_UNAVAILABLE: (
        "Le service est momentanément indisponible. Réessayez dans quelques instants.",
        grpc.StatusCode.UNAVAILABLE,
    ),
    ErrorCode.NEPH_EXHAUSTED: (
        "Plus aucun numéro NEPH n'est disponible ce mois-ci pour ce département.",
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    ErrorCode.RATE_LIMITED: (
        "Trop de demandes en peu de temps. Réessayez dans quelques minutes.",
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    ErrorCode.TRACKING_NOT_FOUND: (
        "Aucune demande ne correspond à ce numéro et à cette date de naissance.",
        grpc.StatusCode.NOT_FOUND,
    ),
    ErrorCode.CASE_CLAIMED: (
        "Ce dossier est déjà pris en charge par un autre instructeur.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.WRONG_DEPARTMENT: (
        "Ce dossier relève d'un autre département.",
        grpc.StatusCode.PERMISSION_DENIED,
    ),
    ErrorCode.NOT_YOUR_IDENTIFIER: (
        "Vous ne pouvez agir qu'en votre propre nom : l'identifiant indiqué n'est pas "
        "celui de votre connexion.",
        grpc.StatusCode.PERMISSION_DENIED,
    ),
    ErrorCode.PRE_CHECK_NOT_OPEN: (
        "Le contrôle de forme de cette demande ne peut plus être modifié : "
        "la décision d'instruction est déjà prise.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.EXAM_NOT_PASSED: (
        "Aucune réussite à l'examen n'est enregistrée pour ce NEPH et cette catégorie.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.TITLE_NOT_FOUND: ("Titre de conduite introuvable.", grpc.StatusCode.NOT_FOUND),
    ErrorCode.TITLE_EVENT_OUT_OF_ORDER: (
        "Cet événement ne correspond pas à l'état du titre de conduite.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.TITLE_NOT_RETURNED: (
        "Ce titre de conduite n'est pas revenu chez le producteur : "
        "son renvoi ne peut pas être demandé.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.TITLE_DESTROYED: (
        "Ce titre de conduite a été détruit faute d'avoir été réclamé dans les 6 mois : "
        "une nouvelle demande doit être réalisée en ligne.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.NEPH_NOT_FOUND: (
        "Ce numéro NEPH n'est attribué à aucune inscription acceptée.",
        grpc.StatusCode.NOT_FOUND,
    ),
    ErrorCode.EXAM_RESULT_CONFLICT: (
        "Un résultat différent est déjà enregistré pour ce NEPH, cette catégorie et cette "
        "date d'examen.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.REQUEST_NOT_CANCELLABLE: (
        "Cette demande ne peut plus être annulée : elle est terminée ou déjà décidée.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.ACCOUNT_LOCKED: (
        "Trop de tentatives de connexion infructueuses : votre compte est bloqué "
        "temporairement. Réessayez plus tard ou réinitialisez votre mot de passe.",
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    ErrorCode.LINK_UNKNOWN: (
        "Ce lien n'est pas valide. Vérifiez que vous avez copié le lien complet du courriel.",
        grpc.StatusCode.NOT_FOUND,
    ),
    ErrorCode.LINK_USED: (
        "Ce lien a déjà été utilisé. Connectez-vous ou demandez un nouveau lien.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.LINK_EXPIRED: (
        "Ce lien a expiré. Demandez un nouveau lien.",
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    ErrorCode.FRANCECONNECT_FAILED: (
        "La connexion avec FranceConnect n'a pas abouti. Recommencez depuis le début.",
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    ErrorCode.FRANCECONNECT_DISABLED: (
        "La connexion avec FranceConnect n'est pas disponible.",
        grpc.StatusCode.NOT_FOUND,
    ),
}

GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


@dataclass
class PermisError(Exception):
    """A refusal the caller can act on: stable code, French message, optional field details."""

    code: ErrorCode
    message: str = ""
    details: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.message:
            self.message = CATALOGUE[self.code][0]
        super().__init__(self.message)

    @property
    def grpc_status(self) -> grpc.StatusCode:
        return CATALOGUE[self.code][1]

    @property
    def http_status(self) -> int:
        return GRPC_TO_HTTP.get(self.grpc_status, 500)

    def to_rpc_status(self) -> status_pb2.Status:
        info = error_details_pb2.ErrorInfo(
            reason=self.code.value, domain=ERROR_DOMAIN, metadata=self.details
        )
        detail = any_pb2.Any()
        detail.Pack(info)
        return status_pb2.Status(
            code=self.grpc_status.value[0], message=self.message, details=[detail]
        )

    @classmethod
    def from_rpc_error(cls, error: grpc.aio.AioRpcError | grpc.RpcError) -> PermisError | None:
        """The PermisError a service raised, or None for a transport/unexpected failure."""
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        if status is None:
            return None
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                if info.domain == ERROR_DOMAIN:
                    try:
                        code = ErrorCode(info.reason)
                    except ValueError:
                        return None
                    return cls(code, status.message, dict(info.metadata))
        return None


async def abort_with(context: grpc.aio.ServicerContext, error: PermisError) -> None:
    """End a gRPC call with the error as a rich status (code + ErrorInfo + French message)."""
    await context.abort_with_status(rpc_status.to_status(error.to_rpc_status()))

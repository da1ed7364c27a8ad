"""RFC 9457 problem details: every refusal the gateway gives has the same shape.

``{"type", "title", "status", "detail", "code", "errors"?}`` with ``code`` the stable
code of services/common/errors.py and ``detail`` a French sentence for the candidate.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.errors import ErrorCode, PermisError

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://permis.example.fr/problemes/"
PROBLEM_JSON = "application/problem+json"

# French wording of pydantic's error types, so field errors read well to a candidate.
FIELD_MESSAGES: dict[str, str] = {
    "missing": "Champ obligatoire.",
    "extra_forbidden": "Champ non prévu pour cette étape.",
    "string_too_short": "Valeur trop courte.",
    "string_too_long": "Valeur trop longue.",
    "string_pattern_mismatch": "Format invalide.",
    "string_type": "Texte attendu.",
    "enum": "Valeur non reconnue.",
    "literal_error": "Valeur non reconnue.",
    "date_parsing": "Date invalide (format AAAA-MM-JJ attendu).",
    "date_from_datetime_parsing": "Date invalide (format AAAA-MM-JJ attendu).",
    "date_type": "Date invalide (format AAAA-MM-JJ attendu).",
    "int_parsing": "Nombre entier attendu.",
    "json_invalid": "Le corps de la requête n'est pas un JSON valide.",
    "model_attributes_type": "Objet JSON attendu.",
    "dict_type": "Objet JSON attendu.",
}
STATUS_CODES: dict[int, ErrorCode] = {
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.REQUEST_NOT_FOUND,
}


def problem(
    status: int, code: str, detail: str, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": code.replace("_", " "),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def from_permis_error(error: PermisError) -> JSONResponse:
    details = dict(error.details)
    retry_after = details.pop("retry_after", None)
    errors = [{"field": k, "message": v} for k, v in details.items()] or None
    response = problem(error.http_status, error.code.value, error.message, errors)
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


def _field_message(error: dict[str, Any]) -> str:
    if error["type"] == "value_error":
        # Our own validators speak French already; pydantic prefixes "Value error, ".
        message = str(error.get("msg", ""))
        if ("email" in message.lower() and "@" in message) or "email address" in message:
            return "Adresse électronique invalide."
        return message.removeprefix("Value error, ")
    return FIELD_MESSAGES.get(error["type"], "Valeur invalide.")


def install(app: FastAPI) -> None:
    @app.exception_handler(PermisError)
    async def _permis(_: Request, error: PermisError) -> JSONResponse:
        return from_permis_error(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        raw = list(error.errors())
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")),
                "message": _field_message(e),
            }
            for e in raw
        ]
        if any(e["type"] == "missing" for e in raw):
            code = ErrorCode.MISSING_FIELDS
        else:
            code = ErrorCode.INVALID_FIELD
        detail = (
            PermisError(code).message
            + " "
            + "; ".join(f"{e['field'] or 'corps'} : {e['message']}" for e in errors)
        )
        return problem(422, code.value, detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(error.status_code)
        if code is not None:
            return problem(error.status_code, code.value, PermisError(code).message)
        return problem(error.status_code, "http_error", str(error.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected gateway failure", exc_info=error)
        return problem(500, "internal_error", "Erreur interne. Réessayez plus tard.")

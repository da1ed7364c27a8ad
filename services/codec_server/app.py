"""The codec-server protocol of the Temporal UI and CLI, over ``EncryptionCodec``.

``POST /encode`` and ``POST /decode`` take and answer ``{"payloads": [...]}`` (the JSON
form of ``temporal.api.common.v1.Payloads``, bytes in base64). Every call must carry
``Authorization: Bearer <codec_server_token>``: without it, 401, so the key only serves
operators who hold the token. CORS admits the Temporal UI's origin (the browser calls
the codec server directly, with ``X-Namespace`` and ``Authorization`` headers).
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from services.common.payload_codec import EncryptionCodec
from services.common.settings import Settings

log = logging.getLogger("permis.codec_server")

_bearer = HTTPBearer(auto_error=False)


def create_app(settings: Settings) -> FastAPI:
    codec = EncryptionCodec.from_settings(settings)
    app = FastAPI(title="permis codec server", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[settings.temporal_ui_url.rstrip("/")],
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
    )

    def operator(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        token = credentials.credentials if credentials else ""
        if not token or not hmac.compare_digest(
            token.encode(), settings.codec_server_token.encode()
        ):
            raise HTTPException(
                status_code=401,
                detail="jeton d'opérateur manquant ou invalide",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def payloads_of(request: Request) -> Payloads:
        try:
            body = await request.json()
            return json_format.ParseDict(body, Payloads())
        except Exception as error:
            raise HTTPException(400, detail='corps {"payloads": [...]} attendu') from error

    def answer(payloads: list[Any]) -> dict[str, Any]:
        return json_format.MessageToDict(Payloads(payloads=payloads))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/encode", dependencies=[Depends(operator)])
    async def encode(request: Request) -> dict[str, Any]:
        payloads = await payloads_of(request)
        return answer(await codec.encode(payloads.payloads))

    @app.post("/decode", dependencies=[Depends(operator)])
    async def decode(request: Request) -> dict[str, Any]:
        payloads = await payloads_of(request)
        try:
            decoded = await codec.decode(payloads.payloads)
        except Exception as error:  # unknown key id, tampered or truncated data
            namespace = request.headers.get("X-Namespace")
            log.warning("could not decode payloads (%s): %s", namespace, error)
            raise HTTPException(status_code=422, detail="charge utile indéchiffrable") from error
        return answer(decoded)

    return app

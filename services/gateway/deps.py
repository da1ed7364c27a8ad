"""Typed dependencies of the gateway's routes: settings, service clients, the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from permis.identity.v1 import identity_pb2
from services.common.clients import ServiceClients
from services.common.errors import ErrorCode, PermisError
from services.common.settings import Settings
from services.gateway.grpc_calls import call
from services.gateway.journeys import Journeys

bearer = HTTPBearer(auto_error=False, description="Jeton de session obtenu par POST /v1/sessions")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_clients(request: Request) -> ServiceClients:
    return request.app.state.clients  # type: ignore[no-any-return]


def get_journeys(request: Request) -> Journeys:
    return request.app.state.journeys  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientsDep = Annotated[ServiceClients, Depends(get_clients)]
JourneysDep = Annotated[Journeys, Depends(get_journeys)]


async def current_account(
    clients: ClientsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> identity_pb2.Account:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise PermisError(ErrorCode.NOT_AUTHENTICATED)
    return await call(
        clients.identity.VerifySession,
        identity_pb2.VerifySessionRequest(token=credentials.credentials),
    )


AccountDep = Annotated[identity_pb2.Account, Depends(current_account)]

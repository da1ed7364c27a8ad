"""Typed dependencies of the gateway's routes: settings, service clients, the caller.

All ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
hop per dependency per request for what is an attribute read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from permis.identity.v1 import identity_pb2
from services.common.clients import ServiceClients
from services.common.errors import ErrorCode, PermisError
from services.common.settings import Settings
from services.gateway.grpc_calls import call
from services.gateway.journeys import Journeys
from services.gateway.sessions import SessionCache

bearer = HTTPBearer(auto_error=False, description="Jeton de session obtenu par POST /v1/sessions")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_clients(request: Request) -> ServiceClients:
    return request.app.state.clients  # type: ignore[no-any-return]


async def get_journeys(request: Request) -> Journeys:
    return request.app.state.journeys  # type: ignore[no-any-return]


async def get_sessions(request: Request) -> SessionCache:
    return request.app.state.sessions  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientsDep = Annotated[ServiceClients, Depends(get_clients)]
JourneysDep = Annotated[Journeys, Depends(get_journeys)]
SessionsDep = Annotated[SessionCache, Depends(get_sessions)]


def verify_with(clients: ServiceClients) -> Callable[[str], Awaitable[identity_pb2.Account]]:
    """Identity's check of a session token (what ``SessionCache`` remembers)."""

    async def verify(token: str) -> identity_pb2.Account:
        return await call(
            clients.identity.VerifySession, identity_pb2.VerifySessionRequest(token=token)
        )

    return verify


async def current_account(
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> identity_pb2.Account:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise PermisError(ErrorCode.NOT_AUTHENTICATED)
    return await sessions.account(credentials.credentials)


AccountDep = Annotated[identity_pb2.Account, Depends(current_account)]

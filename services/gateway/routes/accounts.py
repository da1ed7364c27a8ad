"""Accounts and sessions (étape préalable: création du compte usager).

As the notice describes: the sign-up form (no password) → an activation email → the
last form chooses the password and logs in → a second email gives the identifier.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, EmailStr, Field

from permis.identity.v1 import identity_pb2
from services.common.errors import ErrorCode, PermisError
from services.gateway.deps import AccountDep, ClientsDep, SessionsDep, bearer
from services.gateway.grpc_calls import call
from services.gateway.routes import franceconnect

router = APIRouter(prefix="/v1", tags=["compte"])


class NewAccount(BaseModel):
    email: EmailStr
    given_names: str = Field(min_length=1, max_length=120)
    family_name: str = Field(min_length=1, max_length=80)
    birth_date: date


class Activation(BaseModel):
    token: str = Field(min_length=1, max_length=200, description="Jeton du lien d'activation")
    password: str = Field(min_length=12, max_length=1024)


class Credentials(BaseModel):
    login: str = Field(min_length=1, description="Identifiant attribué ou adresse électronique")
    password: str = Field(min_length=1)


class ResetRequest(BaseModel):
    email: EmailStr


class ResetConfirmation(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=12, max_length=1024)


class CivilStatusOut(BaseModel):
    """FranceConnect's claims (names and birth date from the sign-up form otherwise), to
    prefill the request's civil-status step."""

    given_name: str
    family_name: str
    birthdate: str
    birthplace: str
    birthcountry: str
    gender: str


class AccountOut(BaseModel):
    account_id: str
    identifier: str
    email: str
    given_names: str
    family_name: str
    birth_date: str
    role: str
    franceconnect: bool = False
    civil_status: CivilStatusOut | None = None


class SessionOut(BaseModel):
    token: str
    expires_at: str
    account: AccountOut


class Accepted(BaseModel):
    message: str


def account_out(account: identity_pb2.Account) -> AccountOut:
    return AccountOut(
        account_id=account.account_id,
        identifier=account.identifier,
        email=account.email,
        given_names=account.given_names,
        family_name=account.family_name,
        birth_date=account.birth_date,
        role=account.role,
        franceconnect=account.franceconnect,
        civil_status=CivilStatusOut(
            given_name=account.given_names,
            family_name=account.family_name,
            birthdate=account.birth_date,
            birthplace=account.birth_place,
            birthcountry=account.birth_country,
            gender=account.gender,
        ),
    )


def session_out(session: identity_pb2.Session) -> SessionOut:
    return SessionOut(
        token=session.token, expires_at=session.expires_at, account=account_out(session.account)
    )


@router.post("/accounts", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def create_account(body: NewAccount, clients: ClientsDep) -> Accepted:
    """Demande de création de compte : un courriel d'activation est envoyé à l'adresse.

    La réponse est la même que l'adresse soit déjà connue ou non."""
    await call(
        clients.identity.RegisterAccount,
        identity_pb2.CreateAccountRequest(
            email=str(body.email),
            given_names=body.given_names,
            family_name=body.family_name,
            birth_date=body.birth_date.isoformat(),
        ),
    )
    return Accepted(
        message="Un courriel vous a été envoyé : cliquez sur le lien qu'il contient pour "
        "activer votre compte."
    )


@router.post("/accounts/activation", response_model=SessionOut)
async def activate_account(body: Activation, clients: ClientsDep) -> SessionOut:
    """Dernier formulaire : choix du mot de passe ; le compte est activé et connecté, et un
    second courriel donne l'identifiant attribué."""
    session = await call(
        clients.identity.ActivateAccount,
        identity_pb2.ActivateAccountRequest(token=body.token, password=body.password),
    )
    return session_out(session)


@router.post("/sessions", response_model=SessionOut)
async def log_in(body: Credentials, clients: ClientsDep) -> SessionOut:
    """Connexion par identifiant (ou adresse électronique) et mot de passe."""
    session = await call(
        clients.identity.Authenticate,
        identity_pb2.AuthenticateRequest(login=body.login, password=body.password),
    )
    return session_out(session)


@router.post("/sessions/logout", status_code=status.HTTP_204_NO_CONTENT)
async def log_out(
    clients: ClientsDep,
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Déconnexion : le jeton de session est révoqué."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise PermisError(ErrorCode.NOT_AUTHENTICATED)
    try:
        await call(
            clients.identity.LogOut, identity_pb2.LogOutRequest(token=credentials.credentials)
        )
    finally:
        sessions.forget(credentials.credentials)


@router.post("/password-reset", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def request_password_reset(body: ResetRequest, clients: ClientsDep) -> Accepted:
    """Mot de passe oublié : un lien est envoyé si un compte existe à cette adresse (la
    réponse ne dit pas s'il existe)."""
    await call(
        clients.identity.RequestPasswordReset,
        identity_pb2.RequestPasswordResetRequest(email=str(body.email)),
    )
    return Accepted(
        message="Si un compte existe à cette adresse, un courriel vous a été envoyé pour "
        "choisir un nouveau mot de passe."
    )


@router.post("/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_password_reset(
    body: ResetConfirmation, clients: ClientsDep, sessions: SessionsDep
) -> None:
    """Nouveau mot de passe ; les sessions ouvertes sont fermées."""
    await call(
        clients.identity.ResetPassword,
        identity_pb2.ResetPasswordRequest(token=body.token, password=body.password),
    )
    # Identity closed the account's sessions; which tokens they were, only it knows.
    # Resets are rare: forgetting every remembered session here costs one check each.
    sessions.clear()


@router.get("/me", response_model=AccountOut)
async def who_am_i(account: AccountDep) -> AccountOut:
    return account_out(account)


router.include_router(franceconnect.router)

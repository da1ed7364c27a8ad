"""Accounts and sessions (étape préalable: création du compte usager)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, status
from pydantic import BaseModel, EmailStr, Field

from permis.identity.v1 import identity_pb2
from services.gateway.deps import AccountDep, ClientsDep
from services.gateway.grpc_calls import call

router = APIRouter(prefix="/v1", tags=["compte"])


class NewAccount(BaseModel):
    email: EmailStr
    password: str = Field(min_length=12, max_length=128)
    given_names: str = Field(min_length=1, max_length=120)
    family_name: str = Field(min_length=1, max_length=80)
    birth_date: date


class Credentials(BaseModel):
    login: str = Field(min_length=1, description="Identifiant attribué ou adresse électronique")
    password: str = Field(min_length=1)


class AccountOut(BaseModel):
    account_id: str
    identifier: str
    email: str
    given_names: str
    family_name: str
    birth_date: str
    role: str


class SessionOut(BaseModel):
    token: str
    expires_at: str
    account: AccountOut


def account_out(account: identity_pb2.Account) -> AccountOut:
    return AccountOut(
        account_id=account.account_id,
        identifier=account.identifier,
        email=account.email,
        given_names=account.given_names,
        family_name=account.family_name,
        birth_date=account.birth_date,
        role=account.role,
    )


@router.post("/accounts", status_code=status.HTTP_201_CREATED, response_model=AccountOut)
async def create_account(body: NewAccount, clients: ClientsDep) -> AccountOut:
    """Crée un compte usager ; l'identifiant de connexion attribué est renvoyé."""
    account = await call(
        clients.identity.CreateAccount,
        identity_pb2.CreateAccountRequest(
            email=str(body.email),
            password=body.password,
            given_names=body.given_names,
            family_name=body.family_name,
            birth_date=body.birth_date.isoformat(),
        ),
    )
    return account_out(account)


@router.post("/sessions", response_model=SessionOut)
async def log_in(body: Credentials, clients: ClientsDep) -> SessionOut:
    """Connexion par identifiant (ou adresse électronique) et mot de passe."""
    session = await call(
        clients.identity.Authenticate,
        identity_pb2.AuthenticateRequest(login=body.login, password=body.password),
    )
    return SessionOut(
        token=session.token, expires_at=session.expires_at, account=account_out(session.account)
    )


@router.get("/me", response_model=AccountOut)
async def who_am_i(account: AccountDep) -> AccountOut:
    return account_out(account)

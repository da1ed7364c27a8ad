"""IdentityService: candidate accounts (argon2 password hashes) and signed sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from permis.identity.v1 import identity_pb2, identity_pb2_grpc
from services.common import migrations
from services.common.db import make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition
from services.common.settings import Settings
from services.identity import rules
from services.identity.storage import AccountRow, AccountStore

FULL_NAME = "permis.identity.v1.IdentityService"
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_account(row: AccountRow) -> identity_pb2.Account:
    return identity_pb2.Account(
        account_id=row.account_id,
        identifier=row.identifier,
        email=row.email,
        given_names=row.given_names,
        family_name=row.family_name,
        birth_date=row.birth_date.isoformat(),
        role=row.role,
        created_at=row.created_at.isoformat(),
    )


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(
        self,
        store: AccountStore,
        *,
        session_secret: str,
        session_ttl: timedelta,
        hasher: PasswordHasher | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._secret = session_secret
        self._ttl = session_ttl
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        # Verified against when the login is unknown, so a miss costs as long as a hit.
        self._decoy_hash = self._hasher.hash("decoy password, never assigned")

    async def CreateAccount(
        self, request: identity_pb2.CreateAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Account:
        now = self._clock()
        email = rules.normalise_email(request.email)
        rules.check_password(request.password)
        given_names = rules.normalise_name(request.given_names, "given_names", "Prénom(s)", 120)
        family_name = rules.normalise_name(request.family_name, "family_name", "Nom", 80)
        birth_date = rules.parse_birth_date(request.birth_date, now.date())
        # argon2 is deliberately slow: keep it off the event loop.
        password_hash = await asyncio.to_thread(self._hasher.hash, request.password)
        for _ in range(5):
            row = await self._store.create(
                identifier=rules.new_identifier(),
                email=email,
                password_hash=password_hash,
                given_names=given_names,
                family_name=family_name,
                birth_date=birth_date,
                role=rules.CANDIDATE_ROLE,
                now=now,
            )
            if row is not None:
                return to_account(row)
        raise RuntimeError("no free login identifier after 5 draws")

    async def Authenticate(
        self, request: identity_pb2.AuthenticateRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Session:
        login = request.login.strip()
        row: AccountRow | None = None
        if rules.is_email_login(login):
            row = await self._store.by_email(login.lower())
        elif login:
            row = await self._store.by_identifier(rules.normalise_identifier(login))
        matched = await self._password_matches(row, request.password)
        if row is None or not matched:
            # One answer for an unknown login and a wrong password: no account probing.
            raise PermisError(ErrorCode.INVALID_CREDENTIALS)
        token, claims = rules.sign_session(
            row.account_id, row.role, secret=self._secret, now=self._clock(), ttl=self._ttl
        )
        return identity_pb2.Session(
            token=token, expires_at=claims.expires_at.isoformat(), account=to_account(row)
        )

    async def _password_matches(self, row: AccountRow | None, password: str) -> bool:
        stored = row.password_hash if row is not None else self._decoy_hash
        try:
            await asyncio.to_thread(self._hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return False
        if row is None:
            return False
        if self._hasher.check_needs_rehash(stored):
            new_hash = await asyncio.to_thread(self._hasher.hash, password)
            await self._store.update_password_hash(row.account_id, new_hash)
        return True

    async def VerifySession(
        self, request: identity_pb2.VerifySessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Account:
        claims = rules.verify_session(request.token, secret=self._secret, now=self._clock())
        row = await self._store.by_id(claims.account_id)
        if row is None:
            # A genuine token for an account that no longer exists is no session.
            raise PermisError(ErrorCode.NOT_AUTHENTICATED)
        return to_account(row)

    async def GetAccount(
        self, request: identity_pb2.GetAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Account:
        row = await self._store.by_id(request.account_id.strip())
        if row is None:
            raise PermisError(ErrorCode.ACCOUNT_NOT_FOUND)
        return to_account(row)


def definition(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    hasher: PasswordHasher | None = None,
    clock: Clock = utc_now,
) -> ServiceDefinition:
    servicer = IdentityServicer(
        AccountStore(sessions),
        session_secret=settings.session_secret,
        session_ttl=timedelta(minutes=settings.session_ttl_minutes),
        hasher=hasher,
        clock=clock,
    )
    return ServiceDefinition(
        FULL_NAME,
        lambda server: identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server),
    )


async def build(settings: Settings) -> tuple[ServiceDefinition, AsyncEngine]:
    """The service on the configured database (schema migrated to head); dispose the engine
    on stop."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
    engine = make_engine(settings.database_url_for("identity"))
    await migrations.upgrade(engine, "identity")
    return definition(make_sessionmaker(engine), settings), engine

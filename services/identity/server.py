"""IdentityService: candidate accounts (argon2 password hashes), emailed activation and
password-reset links, revocable signed sessions, login lockout, FranceConnect accounts."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from permis.identity.v1 import identity_pb2, identity_pb2_grpc
from services.common import migrations
from services.common.auth import (
    GATEWAY,
    OPERATOR,
    OPERATOR_SERVICE,
    WORKER,
    AccessTable,
    roles,
)
from services.common.db import make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition
from services.common.settings import Settings
from services.identity import mail, rules
from services.identity.passwords import PasswordHashing, hasher_from
from services.identity.storage import AccountRow, AccountStore

FULL_NAME = "permis.identity.v1.IdentityService"
Clock = Callable[[], datetime]
PENDING, ACTIVE = "pending", "active"
log = logging.getLogger(__name__)


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
        status=row.status,
        birth_place=row.birth_place or "",
        birth_country=row.birth_country or "",
        gender=row.gender or "",
        franceconnect=bool(row.franceconnect_sub),
    )


def locked(wait: timedelta) -> PermisError:
    seconds = max(1, math.ceil(wait.total_seconds()))
    return PermisError(ErrorCode.ACCOUNT_LOCKED, details={"retry_after": str(seconds)})


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(
        self,
        store: AccountStore,
        *,
        session_secret: str,
        session_ttl: timedelta,
        hasher: PasswordHasher | None = None,
        clock: Clock = utc_now,
        settings: Settings | None = None,
        send: mail.Send | None = None,
    ) -> None:
        self._store = store
        self._secret = session_secret
        self._ttl = session_ttl
        self._clock = clock
        self._settings = settings or Settings(session_secret=session_secret)
        self._passwords = PasswordHashing(
            hasher or hasher_from(self._settings), self._settings.password_hash_concurrency
        )
        self._send = send or mail.smtp_sender(self._settings)
        self._background: set[asyncio.Task[None]] = set()
        # Verified against when the login is unknown, so a miss costs as long as a hit.
        self._decoy_hash = self._passwords.hash_now("decoy password, never assigned")

    # ---- helpers ------------------------------------------------------------------------

    def _link(self, path: str, token: str) -> str:
        return f"{self._settings.public_url()}/{path}?token={token}"

    async def _email(self, to: str, message: tuple[str, str]) -> None:
        try:
            await self._send(to, *message)
        except Exception:
            log.exception("email to %s could not be sent: %s", to, message[0])

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run after answering: a known and an unknown email take the same time to answer."""

        async def logged() -> None:
            try:
                await work
            except Exception:
                log.exception("background account work failed")

        task = asyncio.get_running_loop().create_task(logged())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _open_session(self, row: AccountRow) -> identity_pb2.Session:
        now = self._clock()
        session_id = str(uuid.uuid4())
        token, claims = rules.sign_session(
            row.account_id,
            row.role,
            secret=self._secret,
            now=now,
            ttl=self._ttl,
            session_id=session_id,
        )
        await self._store.add_session(session_id, row.account_id, now, claims.expires_at)
        return identity_pb2.Session(
            token=token, expires_at=claims.expires_at.isoformat(), account=to_account(row)
        )

    async def _new_link(self, row: AccountRow, purpose: str, ttl: timedelta) -> str:
        now = self._clock()
        token, token_hash = rules.new_link_token()
        await self._store.add_link(token_hash, row.account_id, purpose, now, now + ttl)
        return token

    async def _insert(self, **fields: Any) -> AccountRow:
        for _ in range(5):
            row = await self._store.create(identifier=rules.new_identifier(), **fields)
            if row is not None:
                return row
        raise RuntimeError("no free login identifier after 5 draws")

    def _fields(self, request: identity_pb2.CreateAccountRequest) -> dict[str, Any]:
        now = self._clock()
        return {
            "email": rules.normalise_email(request.email),
            "given_names": rules.normalise_name(
                request.given_names, "given_names", "Prénom(s)", 120
            ),
            "family_name": rules.normalise_name(request.family_name, "family_name", "Nom", 80),
            "birth_date": rules.parse_birth_date(request.birth_date, now.date()),
            "role": rules.CANDIDATE_ROLE,
            "now": now,
        }

    # ---- accounts -----------------------------------------------------------------------

    async def CreateAccount(
        self, request: identity_pb2.CreateAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Account:
        """An active account with its password at once (operators and tests; the public
        sign-up is RegisterAccount)."""
        fields = self._fields(request)
        rules.check_password(request.password)
        password_hash = await self._passwords.hash(request.password)
        return to_account(await self._insert(password_hash=password_hash, **fields))

    async def RegisterAccount(
        self, request: identity_pb2.CreateAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Accepted:
        fields = self._fields(request)
        self._later(self._register(fields))
        return identity_pb2.Accepted()

    async def _register(self, fields: dict[str, Any]) -> None:
        settings = self._settings
        ttl = timedelta(hours=settings.activation_link_ttl_hours)
        try:
            row = await self._insert(password_hash="", status=PENDING, **fields)
        except PermisError as error:
            if error.code is not ErrorCode.ACCOUNT_EXISTS:
                raise
            existing = await self._store.by_email(fields["email"])
            if existing is None:
                return
            if existing.status == PENDING:  # asked again: a fresh link
                token = await self._new_link(existing, rules.ACTIVATION, ttl)
                link = self._link("compte/activation", token)
                await self._email(
                    existing.email,
                    mail.activation(existing.given_names, link, settings.activation_link_ttl_hours),
                )
            else:
                reset = f"{settings.public_url()}/compte/mot-de-passe-oublie"
                await self._email(
                    existing.email, mail.already_registered(existing.given_names, reset)
                )
            return
        token = await self._new_link(row, rules.ACTIVATION, ttl)
        link = self._link("compte/activation", token)
        await self._email(
            row.email, mail.activation(row.given_names, link, settings.activation_link_ttl_hours)
        )

    async def ActivateAccount(
        self, request: identity_pb2.ActivateAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Session:
        # Check the password before spending the link: a refused password keeps it usable.
        rules.check_password(request.password)
        password_hash = await self._passwords.hash(request.password)
        account_id = await self._store.spend_link(
            rules.hash_link_token(request.token),
            rules.ACTIVATION,
            self._clock(),
            {
                "password_hash": password_hash,
                "status": ACTIVE,
                "failed_logins": 0,
                "locked_until": None,
            },
        )
        row = await self._store.by_id(account_id)
        if row is None:
            raise PermisError(ErrorCode.ACCOUNT_NOT_FOUND)
        session = await self._open_session(row)
        login_url = f"{self._settings.public_url()}/compte/connexion"
        await self._email(row.email, mail.identifier(row.given_names, row.identifier, login_url))
        return session

    # ---- sessions -----------------------------------------------------------------------

    async def Authenticate(
        self, request: identity_pb2.AuthenticateRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Session:
        now = self._clock()
        login = request.login.strip()
        row: AccountRow | None = None
        if rules.is_email_login(login):
            row = await self._store.by_email(login.lower())
        elif login:
            row = await self._store.by_identifier(rules.normalise_identifier(login))
        if row is not None and row.locked_until is not None and row.locked_until > now:
            raise locked(row.locked_until - now)
        matched = await self._password_matches(row, request.password)
        if row is None or not matched or row.status != ACTIVE:
            if row is not None:
                await self._failed(row, now)
            # One answer for an unknown login and a wrong password: no account probing.
            raise PermisError(ErrorCode.INVALID_CREDENTIALS)
        if row.failed_logins or row.locked_until is not None:
            await self._store.clear_failures(row.account_id)
        return await self._open_session(row)

    async def _failed(self, row: AccountRow, now: datetime) -> None:
        settings = self._settings
        failures = await self._store.record_failure(row.account_id)
        delay = rules.lockout_delay(
            failures,
            threshold=settings.login_failures_before_lockout,
            base=settings.lockout_base_seconds,
            cap=settings.lockout_max_seconds,
        )
        if delay is not None:
            await self._store.lock(row.account_id, now + delay)
            raise locked(delay)

    async def _password_matches(self, row: AccountRow | None, password: str) -> bool:
        usable = row is not None and bool(row.password_hash)
        stored = row.password_hash if row is not None and usable else self._decoy_hash
        if not await self._passwords.verify(stored, password):
            return False
        if row is None or not usable:
            return False
        if self._passwords.needs_rehash(stored):
            new_hash = await self._passwords.hash(password)
            await self._store.update_password_hash(row.account_id, new_hash)
        return True

    async def VerifySession(
        self, request: identity_pb2.VerifySessionRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Account:
        claims = rules.verify_session(request.token, secret=self._secret, now=self._clock())
        if not claims.session_id or not await self._store.session_live(
            claims.session_id, claims.account_id
        ):
            raise PermisError(ErrorCode.NOT_AUTHENTICATED)  # logged out (or pre-revocation)
        row = await self._store.by_id(claims.account_id)
        if row is None or row.status != ACTIVE:
            # A genuine token for an account that no longer exists is no session.
            raise PermisError(ErrorCode.NOT_AUTHENTICATED)
        return to_account(row)

    async def LogOut(
        self, request: identity_pb2.LogOutRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Accepted:
        try:
            claims = rules.verify_session(request.token, secret=self._secret, now=self._clock())
        except PermisError:
            return identity_pb2.Accepted()  # nothing to revoke: logging out twice is fine
        if claims.session_id:
            await self._store.revoke_session(claims.session_id, self._clock())
        return identity_pb2.Accepted()

    async def GetAccount(
        self, request: identity_pb2.GetAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Account:
        row = await self._store.by_id(request.account_id.strip())
        if row is None:
            raise PermisError(ErrorCode.ACCOUNT_NOT_FOUND)
        return to_account(row)

    async def FindAccount(
        self, request: identity_pb2.FindAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Account:
        """The account of an email, for operators (support service); NOT_FOUND if none."""
        row = await self._store.by_email(rules.normalise_email(request.email))
        if row is None:
            raise PermisError(ErrorCode.ACCOUNT_NOT_FOUND)
        return to_account(row)

    # ---- password reset -----------------------------------------------------------------

    async def RequestPasswordReset(
        self, request: identity_pb2.RequestPasswordResetRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Accepted:
        email = rules.normalise_email(request.email)
        self._later(self._send_reset(email))
        return identity_pb2.Accepted()

    async def _send_reset(self, email: str) -> None:
        row = await self._store.by_email(email)
        if row is None or row.status != ACTIVE:
            return
        minutes = self._settings.password_reset_link_ttl_minutes
        token = await self._new_link(row, rules.PASSWORD_RESET, timedelta(minutes=minutes))
        link = self._link("compte/mot-de-passe", token)
        await self._email(row.email, mail.password_reset(row.given_names, link, minutes))

    async def ResetPassword(
        self, request: identity_pb2.ResetPasswordRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Accepted:
        rules.check_password(request.password)
        password_hash = await self._passwords.hash(request.password)
        now = self._clock()
        account_id = await self._store.spend_link(
            rules.hash_link_token(request.token),
            rules.PASSWORD_RESET,
            now,
            {"password_hash": password_hash, "failed_logins": 0, "locked_until": None},
        )
        # Whoever knew the old password is logged out everywhere.
        await self._store.revoke_all_sessions(account_id, now)
        return identity_pb2.Accepted()

    # ---- FranceConnect ------------------------------------------------------------------

    async def SignInWithFranceConnect(
        self, request: identity_pb2.FranceConnectIdentity, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Session:
        """The gateway validated the id_token; link the identity to an account or create one.

        FranceConnect's civil status is certified: it replaces what the account held.
        """
        sub = request.sub.strip()
        if not sub or len(sub) > 255:
            raise rules.invalid("sub", "Identité FranceConnect invalide.")
        now = self._clock()
        civil: dict[str, Any] = {
            "given_names": rules.normalise_name(
                request.given_name, "given_names", "Prénom(s)", 120
            ),
            "family_name": rules.normalise_name(request.family_name, "family_name", "Nom", 80),
            "birth_date": rules.parse_birth_date(request.birthdate, now.date()),
            "birth_place": request.birthplace.strip()[:80] or None,
            "birth_country": request.birthcountry.strip()[:80] or None,
            "gender": request.gender.strip()[:16] or None,
        }
        email = rules.normalise_email(request.email)
        row = await self._store.by_franceconnect_sub(sub)
        if row is None:
            # An account opened with the same email (possibly not activated yet) is the
            # candidate's: FranceConnect vouches for the address.
            row = await self._store.by_email(email)
        if row is None:
            try:
                row = await self._insert(
                    email=email,
                    password_hash="",
                    role=rules.CANDIDATE_ROLE,
                    now=now,
                    status=ACTIVE,
                    franceconnect={
                        "franceconnect_sub": sub,
                        "birth_place": civil.pop("birth_place"),
                        "birth_country": civil.pop("birth_country"),
                        "gender": civil.pop("gender"),
                    },
                    **civil,
                )
            except RuntimeError:
                row = await self._store.by_franceconnect_sub(sub)  # a concurrent first login
                if row is None:
                    raise
            return await self._open_session(row)
        await self._store.update_account(
            row.account_id, franceconnect_sub=sub, status=ACTIVE, **civil
        )
        fresh = await self._store.by_id(row.account_id)
        assert fresh is not None
        return await self._open_session(fresh)

    # ---- retention ----------------------------------------------------------------------

    def _inactive_since(self, value: str) -> datetime:
        retention = timedelta(days=self._settings.retention_days)
        return rules.parse_inactive_since(value, self._clock(), retention)

    async def ListInactiveAccounts(
        self, request: identity_pb2.ListInactiveAccountsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.InactiveAccounts:
        since = self._inactive_since(request.inactive_since)
        size = request.page_size or rules.DEFAULT_INACTIVE_PAGE
        if not 1 <= size <= rules.MAX_INACTIVE_PAGE:
            raise rules.invalid(
                "page_size", f"Taille de page entre 1 et {rules.MAX_INACTIVE_PAGE}."
            )
        ids = await self._store.inactive_accounts(since, size, request.after_account_id.strip())
        return identity_pb2.InactiveAccounts(account_ids=ids)

    async def AnonymiseAccount(
        self, request: identity_pb2.AnonymiseAccountRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.AnonymiseAccountResult:
        since = self._inactive_since(request.inactive_since)
        account_id = request.account_id.strip()
        anonymised = await self._store.anonymise(account_id, since)
        if anonymised:
            log.info("account %s anonymised: no login since %s", account_id, since.isoformat())
        return identity_pb2.AnonymiseAccountResult(anonymised=anonymised)


# Who may call each method (services.common.auth enforces it; absent = nobody).
ACCESS: AccessTable = {
    # The candidate-facing flows all go through the gateway (it holds the session).
    "CreateAccount": roles(GATEWAY, OPERATOR),
    "Authenticate": roles(GATEWAY),
    "VerifySession": roles(GATEWAY),
    "GetAccount": roles(GATEWAY, OPERATOR_SERVICE, OPERATOR),
    "FindAccount": roles(OPERATOR_SERVICE, OPERATOR),
    "RegisterAccount": roles(GATEWAY),
    "ActivateAccount": roles(GATEWAY),
    "LogOut": roles(GATEWAY),
    "RequestPasswordReset": roles(GATEWAY),
    "ResetPassword": roles(GATEWAY),
    "SignInWithFranceConnect": roles(GATEWAY),
    # Retention: the worker's daily purge only.
    "ListInactiveAccounts": roles(WORKER),
    "AnonymiseAccount": roles(WORKER),
}


def definition(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    hasher: PasswordHasher | None = None,
    clock: Clock = utc_now,
    send: mail.Send | None = None,
) -> ServiceDefinition:
    servicer = IdentityServicer(
        AccountStore(sessions),
        session_secret=settings.session_secret,
        session_ttl=timedelta(minutes=settings.session_ttl_minutes),
        hasher=hasher,
        clock=clock,
        settings=settings,
        send=send,
    )
    return ServiceDefinition(
        FULL_NAME,
        lambda server: identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server),
        access=ACCESS,
    )


async def build(settings: Settings) -> tuple[ServiceDefinition, AsyncEngine]:
    """The service on the configured database (schema migrated to head); dispose the engine
    on stop."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
    engine = make_engine(settings.database_url_for("identity"))
    await migrations.upgrade(engine, "identity")
    return definition(make_sessionmaker(engine), settings), engine

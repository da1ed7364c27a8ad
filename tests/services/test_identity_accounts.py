"""Identity: activation by emailed link, identifier email, lockout, logout, password reset.

The real service on SQLite and PostgreSQL, sending its emails to the real SMTP sink.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from argon2 import PasswordHasher

from deploy.local import processes
from deploy.local.demo import IDENTIFIER_LINE, link_token, wait_for_mail
from permis.identity.v1 import identity_pb2, identity_pb2_grpc
from services.common import migrations
from services.common.db import make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import start_server
from services.common.settings import Settings
from services.identity import rules
from services.identity.server import definition

SECRET = "a-test-secret-of-more-than-32-characters"
T0 = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Identity:
    stub: identity_pb2_grpc.IdentityServiceStub
    clock: Clock
    mail_dir: Path


@pytest.fixture
async def identity(
    database_url: str, mail_sink: processes.ChildProcess, mail_dir: Path
) -> AsyncIterator[Identity]:
    engine = make_engine(database_url)
    await migrations.upgrade(engine, "identity")
    clock = Clock(T0)
    settings = Settings(
        session_secret=SECRET,
        session_ttl_minutes=30,
        smtp_host="127.0.0.1",
        smtp_port=mail_sink.ports["smtp"],
        public_base_url="https://permis.example.fr",
    )
    hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    server, port = await start_server(
        [definition(make_sessionmaker(engine), settings, hasher=hasher, clock=clock)],
        "127.0.0.1:0",
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Identity(identity_pb2_grpc.IdentityServiceStub(channel), clock, mail_dir)
    finally:
        await channel.close()
        await server.stop(None)
        await engine.dispose()


def refusal(caught: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> PermisError:
    error = PermisError.from_rpc_error(caught.value)
    assert error is not None, caught.value
    return error


def fresh_email() -> str:
    return f"jeanne.{secrets.token_hex(4)}@exemple.fr"


async def register(identity: Identity, email: str) -> None:
    await identity.stub.RegisterAccount(
        identity_pb2.CreateAccountRequest(
            email=email, given_names="Jeanne", family_name="Martin", birth_date="2001-04-17"
        )
    )


async def activation_token(identity: Identity, email: str, seen: int = 0) -> str:
    body = await wait_for_mail(identity.mail_dir, email, "Activez votre compte", seen=seen)
    assert "https://permis.example.fr/compte/activation?token=" in body
    assert "24 heures" in body
    return link_token(body)


async def activated(identity: Identity, email: str) -> identity_pb2.Session:
    await register(identity, email)
    token = await activation_token(identity, email)
    return await identity.stub.ActivateAccount(
        identity_pb2.ActivateAccountRequest(token=token, password=PASSWORD)
    )


async def login(identity: Identity, login: str, password: str = PASSWORD) -> identity_pb2.Session:
    return await identity.stub.Authenticate(
        identity_pb2.AuthenticateRequest(login=login, password=password)
    )


async def test_activation_sets_the_password_logs_in_and_mails_the_identifier(
    identity: Identity,
) -> None:
    email = fresh_email()
    await register(identity, email)
    token = await activation_token(identity, email)
    # Not activated yet: no password works, and the account is pending.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await login(identity, email)
    assert refusal(caught).code is ErrorCode.INVALID_CREDENTIALS

    # A refused password does not spend the link.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.ActivateAccount(
            identity_pb2.ActivateAccountRequest(token=token, password="court")
        )
    assert refusal(caught).details == {"field": "password"}

    session = await identity.stub.ActivateAccount(
        identity_pb2.ActivateAccountRequest(token=token, password=PASSWORD)
    )
    assert session.account.status == "active"
    verified = await identity.stub.VerifySession(
        identity_pb2.VerifySessionRequest(token=session.token)
    )
    assert verified.identifier == session.account.identifier

    second = await wait_for_mail(identity.mail_dir, email, "Votre identifiant")
    found = IDENTIFIER_LINE.search(second)
    assert found is not None and found.group(1) == session.account.identifier
    assert (await login(identity, session.account.identifier)).account.email == email

    # Single use.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.ActivateAccount(
            identity_pb2.ActivateAccountRequest(token=token, password=PASSWORD)
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refusal(caught).code is ErrorCode.LINK_USED


async def test_activation_links_expire_after_24_hours_and_can_be_asked_again(
    identity: Identity,
) -> None:
    email = fresh_email()
    await register(identity, email)
    old = await activation_token(identity, email)
    identity.clock.now = T0 + timedelta(hours=24, seconds=1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.ActivateAccount(
            identity_pb2.ActivateAccountRequest(token=old, password=PASSWORD)
        )
    assert refusal(caught).code is ErrorCode.LINK_EXPIRED

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.ActivateAccount(
            identity_pb2.ActivateAccountRequest(token="n-importe-quoi", password=PASSWORD)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert refusal(caught).code is ErrorCode.LINK_UNKNOWN

    await register(identity, email.upper())  # signing up again sends a fresh link
    new = await activation_token(identity, email, seen=1)
    assert new != old
    session = await identity.stub.ActivateAccount(
        identity_pb2.ActivateAccountRequest(token=new, password=PASSWORD)
    )
    assert session.account.email == email


async def test_signing_up_with_a_known_email_reveals_nothing(identity: Identity) -> None:
    email = fresh_email()
    await activated(identity, email)
    # Same answer; the owner is told by email instead.
    assert (
        await identity.stub.RegisterAccount(
            identity_pb2.CreateAccountRequest(
                email=email, given_names="Autre", family_name="Personne", birth_date="1990-01-01"
            )
        )
        == identity_pb2.Accepted()
    )
    body = await wait_for_mail(identity.mail_dir, email, "existe déjà")
    assert "mot-de-passe-oublie" in body


async def test_logout_revokes_the_session_only(identity: Identity) -> None:
    email = fresh_email()
    first = await activated(identity, email)
    second = await login(identity, email)
    await identity.stub.LogOut(identity_pb2.LogOutRequest(token=first.token))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.VerifySession(identity_pb2.VerifySessionRequest(token=first.token))
    assert refusal(caught).code is ErrorCode.NOT_AUTHENTICATED
    await identity.stub.VerifySession(identity_pb2.VerifySessionRequest(token=second.token))
    await identity.stub.LogOut(identity_pb2.LogOutRequest(token=first.token))  # idempotent
    # A signed token without a session row (made before revocable sessions) is refused.
    legacy, _ = rules.sign_session(
        first.account.account_id, "candidate", secret=SECRET, now=T0, ttl=timedelta(hours=1)
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await identity.stub.VerifySession(identity_pb2.VerifySessionRequest(token=legacy))


def test_lockout_backoff_doubles_and_is_capped() -> None:
    delays = [rules.lockout_delay(n, threshold=5, base=60, cap=3600) for n in range(1, 13)]
    assert delays[:4] == [None] * 4
    assert [d.total_seconds() for d in delays[4:] if d] == [
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


async def test_repeated_failures_lock_the_account_with_backoff(identity: Identity) -> None:
    email = fresh_email()
    session = await activated(identity, email)
    identifier = session.account.identifier
    for _ in range(4):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await login(identity, identifier, "mauvais mot de passe")
        assert refusal(caught).code is ErrorCode.INVALID_CREDENTIALS
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await login(identity, email, "mauvais mot de passe")
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    error = refusal(caught)
    assert error.code is ErrorCode.ACCOUNT_LOCKED
    assert error.details == {"retry_after": "60"}
    # Locked: even the right password waits.
    identity.clock.now = T0 + timedelta(seconds=30)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await login(identity, identifier)
    assert refusal(caught).details == {"retry_after": "30"}
    # After the wait, one more failure locks for twice as long.
    identity.clock.now = T0 + timedelta(seconds=61)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await login(identity, identifier, "encore faux")
    assert refusal(caught).details == {"retry_after": "120"}
    # A success after the wait resets the count.
    identity.clock.now = T0 + timedelta(seconds=200)
    await login(identity, identifier)
    for _ in range(4):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await login(identity, identifier, "faux")
        assert refusal(caught).code is ErrorCode.INVALID_CREDENTIALS


async def test_password_reset_by_email(identity: Identity) -> None:
    email = fresh_email()
    session = await activated(identity, email)
    # Unknown email: the same answer, and no mail.
    unknown = fresh_email()
    assert (
        await identity.stub.RequestPasswordReset(
            identity_pb2.RequestPasswordResetRequest(email=unknown)
        )
        == identity_pb2.Accepted()
    )
    await identity.stub.RequestPasswordReset(identity_pb2.RequestPasswordResetRequest(email=email))
    body = await wait_for_mail(identity.mail_dir, email, "Réinitialisation")
    assert "https://permis.example.fr/compte/mot-de-passe?token=" in body
    token = link_token(body)
    new_password = "un tout nouveau mot de passe"
    await identity.stub.ResetPassword(
        identity_pb2.ResetPasswordRequest(token=token, password=new_password)
    )
    # Old sessions are closed, the old password no longer works, the new one does.
    with pytest.raises(grpc.aio.AioRpcError):
        await identity.stub.VerifySession(identity_pb2.VerifySessionRequest(token=session.token))
    with pytest.raises(grpc.aio.AioRpcError):
        await login(identity, email)
    await login(identity, email, new_password)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.ResetPassword(
            identity_pb2.ResetPasswordRequest(token=token, password=new_password)
        )
    assert refusal(caught).code is ErrorCode.LINK_USED
    # An activation link is no reset link.
    await identity.stub.RequestPasswordReset(identity_pb2.RequestPasswordResetRequest(email=email))
    reset2 = link_token(await wait_for_mail(identity.mail_dir, email, "Réinitialisation", seen=1))
    identity.clock.now = T0 + timedelta(minutes=61)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.ResetPassword(
            identity_pb2.ResetPasswordRequest(token=reset2, password=new_password)
        )
    assert refusal(caught).code is ErrorCode.LINK_EXPIRED
    await asyncio.sleep(0.2)
    index = (identity.mail_dir / "index.jsonl").read_text()
    assert unknown not in index


async def test_franceconnect_identity_links_or_creates(identity: Identity) -> None:
    email = fresh_email()
    fc = identity_pb2.FranceConnectIdentity(
        sub="fc-sub-" + secrets.token_hex(4),
        email=email,
        given_name="Angela Claire",
        family_name="Dubois",
        birthdate="1962-08-24",
        birthplace="75107",
        birthcountry="99100",
        gender="female",
    )
    created = await identity.stub.SignInWithFranceConnect(fc)
    account = created.account
    assert (account.franceconnect, account.status, account.birth_place, account.gender) == (
        True,
        "active",
        "75107",
        "female",
    )
    again = await identity.stub.SignInWithFranceConnect(fc)
    assert again.account.account_id == account.account_id
    # A password account with the same email is linked, its civil status certified.
    other = fresh_email()
    password_account = await activated(identity, other)
    linked = await identity.stub.SignInWithFranceConnect(
        identity_pb2.FranceConnectIdentity(
            sub="fc-sub-" + secrets.token_hex(4),
            email=other,
            given_name="Jeanne Marie",
            family_name="Martin",
            birthdate="2001-04-17",
            birthplace="69123",
            birthcountry="99100",
            gender="female",
        )
    )
    assert linked.account.account_id == password_account.account.account_id
    assert linked.account.given_names == "Jeanne Marie"
    await login(identity, other)  # the password still works


# ---- retention: accounts without a login for retention_days are anonymised ----------------


def since(identity: Identity) -> str:
    """The instant the retention purge would pass: 730 days before identity's now."""
    return (identity.clock.now - timedelta(days=730)).isoformat()


async def inactive_ids(identity: Identity, page_size: int = 1000, after: str = "") -> list[str]:
    page = await identity.stub.ListInactiveAccounts(
        identity_pb2.ListInactiveAccountsRequest(
            inactive_since=since(identity), page_size=page_size, after_account_id=after
        )
    )
    return list(page.account_ids)


async def test_an_account_without_login_for_the_retention_period_is_anonymised_once(
    identity: Identity,
) -> None:
    quiet_email, active_email = fresh_email(), fresh_email()
    quiet = await activated(identity, quiet_email)  # logged in at T0, never again
    active = await activated(identity, active_email)
    identity.clock.now = T0 + timedelta(days=800)
    await login(identity, active_email)  # 800 days later: still in use

    listed = await inactive_ids(identity)
    assert quiet.account.account_id in listed
    assert active.account.account_id not in listed

    request = identity_pb2.AnonymiseAccountRequest(
        account_id=quiet.account.account_id, inactive_since=since(identity)
    )
    assert (await identity.stub.AnonymiseAccount(request)).anonymised is True
    assert (await identity.stub.AnonymiseAccount(request)).anonymised is False  # done once
    assert quiet.account.account_id not in await inactive_ids(identity)

    erased = await identity.stub.GetAccount(
        identity_pb2.GetAccountRequest(account_id=quiet.account.account_id)
    )
    assert erased.status == "anonymised"
    assert erased.identifier == quiet.account.identifier  # journeys still name it
    assert erased.email.endswith(".invalid") and quiet_email not in erased.email
    assert (erased.given_names, erased.family_name) == ("", "")
    assert erased.birth_date == rules.EARLIEST_BIRTH_DATE.isoformat()
    # No way back in: the password and the sessions are gone.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await login(identity, quiet.account.identifier)
    assert refusal(caught).code is ErrorCode.INVALID_CREDENTIALS
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.VerifySession(identity_pb2.VerifySessionRequest(token=quiet.token))
    assert refusal(caught).code is ErrorCode.NOT_AUTHENTICATED
    # The address is free again: signing up with it starts a new account.
    await register(identity, quiet_email)
    await activation_token(identity, quiet_email, seen=1)

    # An account used since the cutoff is left alone, even when asked by id.
    kept = identity_pb2.AnonymiseAccountRequest(
        account_id=active.account.account_id, inactive_since=since(identity)
    )
    assert (await identity.stub.AnonymiseAccount(kept)).anonymised is False
    assert (await login(identity, active_email)).account.family_name == "Martin"


async def test_inactive_accounts_come_in_pages_by_account_id(identity: Identity) -> None:
    ids = sorted([(await activated(identity, fresh_email())).account.account_id for _ in range(3)])
    identity.clock.now = T0 + timedelta(days=731)
    everyone = await inactive_ids(identity)
    assert set(ids) <= set(everyone) and everyone == sorted(everyone)
    first = await inactive_ids(identity, page_size=2)
    rest = await inactive_ids(identity, page_size=1000, after=first[-1])
    assert first + rest == everyone


@pytest.mark.parametrize(
    "inactive_since",
    [
        "hier",
        "2023-06-01T00:00:00",  # no time zone
        (T0 - timedelta(days=10)).isoformat(),  # sooner than the 730 days of retention
    ],
)
async def test_retention_calls_name_an_instant_at_least_the_retention_period_old(
    identity: Identity, inactive_since: str
) -> None:
    calls = (
        identity.stub.ListInactiveAccounts(
            identity_pb2.ListInactiveAccountsRequest(inactive_since=inactive_since)
        ),
        identity.stub.AnonymiseAccount(
            identity_pb2.AnonymiseAccountRequest(account_id="x", inactive_since=inactive_since)
        ),
    )
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refusal(caught).details == {"field": "inactive_since"}


async def test_inactive_account_pages_are_bounded(identity: Identity) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.ListInactiveAccounts(
            identity_pb2.ListInactiveAccountsRequest(inactive_since=since(identity), page_size=5000)
        )
    assert refusal(caught).details == {"field": "page_size"}

"""Identity: pure rules (tokens, fields) and the real gRPC service on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from argon2 import PasswordHasher

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


def refusal(call: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> PermisError:
    error = PermisError.from_rpc_error(call.value)
    assert error is not None, call.value
    return error


# ---- pure rules -----------------------------------------------------------------------


def test_token_round_trip_carries_account_role_and_expiry() -> None:
    token, claims = rules.sign_session(
        "acc-1", "candidate", secret=SECRET, now=T0, ttl=timedelta(minutes=60)
    )
    assert claims.expires_at == T0 + timedelta(minutes=60)
    verified = rules.verify_session(token, secret=SECRET, now=T0 + timedelta(minutes=59))
    assert (verified.account_id, verified.role, verified.expires_at) == (
        "acc-1",
        "candidate",
        T0 + timedelta(minutes=60),
    )


def _forge(token: str, **changes: object) -> str:
    """Change the payload and keep the original signature."""
    payload_part, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_part + "=" * (-len(payload_part) % 4)))
    payload.update(changes)
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + signature


GOOD_TOKEN, _ = rules.sign_session(
    "acc-1", "candidate", secret=SECRET, now=T0, ttl=timedelta(hours=1)
)


@pytest.mark.parametrize(
    ("token", "now"),
    [
        pytest.param(GOOD_TOKEN, T0 + timedelta(hours=1), id="expired-at-the-second"),
        pytest.param(GOOD_TOKEN, T0 + timedelta(days=2), id="long-expired"),
        pytest.param(_forge(GOOD_TOKEN, r="instructor"), T0, id="role-changed"),
        pytest.param(_forge(GOOD_TOKEN, a="acc-2"), T0, id="account-changed"),
        pytest.param(_forge(GOOD_TOKEN, e=2_000_000_000), T0, id="expiry-extended"),
        pytest.param(GOOD_TOKEN[:-2], T0, id="signature-truncated"),
        pytest.param(GOOD_TOKEN + ".x", T0, id="three-parts"),
        pytest.param("", T0, id="empty"),
        pytest.param("not a token", T0, id="garbage"),
        pytest.param("%%%.###", T0, id="not-base64"),
        pytest.param(
            rules.sign_session(
                "acc-1", "candidate", secret="other" * 8, now=T0, ttl=timedelta(hours=1)
            )[0],
            T0,
            id="other-secret",
        ),
    ],
)
def test_verify_refuses_bad_tokens(token: str, now: datetime) -> None:
    with pytest.raises(PermisError) as caught:
        rules.verify_session(token, secret=SECRET, now=now)
    assert caught.value.code is ErrorCode.NOT_AUTHENTICATED


def test_verify_refuses_a_validly_signed_payload_of_the_wrong_shape() -> None:
    # Signed with the right secret but not our payload: still no session.
    part = base64.urlsafe_b64encode(b'["acc-1"]').rstrip(b"=").decode()
    signature = base64.urlsafe_b64encode(rules._signature(SECRET, part)).rstrip(b"=").decode()
    with pytest.raises(PermisError):
        rules.verify_session(f"{part}.{signature}", secret=SECRET, now=T0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ab12-cd34ef", "AB12CD34EF"), (" o1il 23456 ", "011123456")],
)
def test_identifier_normalisation(raw: str, expected: str) -> None:
    assert rules.normalise_identifier(raw) == expected


def test_new_identifiers_are_crockford_base32() -> None:
    identifiers = {rules.new_identifier() for _ in range(200)}
    assert len(identifiers) == 200
    assert all(len(i) == 10 and set(i) <= set(rules.CROCKFORD_ALPHABET) for i in identifiers)


@pytest.mark.parametrize(
    ("check", "field"),
    [
        (lambda: rules.normalise_email("pas-une-adresse"), "email"),
        (lambda: rules.normalise_email("a@b@example.fr"), "email"),
        (lambda: rules.check_password("onze carac."), "password"),
        (lambda: rules.normalise_name("  ", "family_name", "Nom", 80), "family_name"),
        (lambda: rules.normalise_name("R2D2", "family_name", "Nom", 80), "family_name"),
        (lambda: rules.parse_birth_date("02/06/2000", date(2025, 6, 2)), "birth_date"),
        (lambda: rules.parse_birth_date("2025-06-02", date(2025, 6, 2)), "birth_date"),
        (lambda: rules.parse_birth_date("1850-01-01", date(2025, 6, 2)), "birth_date"),
    ],
)
def test_field_rules_refuse_with_the_field(check: object, field: str) -> None:
    with pytest.raises(PermisError) as caught:
        check()  # type: ignore[operator]
    assert caught.value.code is ErrorCode.INVALID_FIELD
    assert caught.value.details == {"field": field}


def test_field_rules_accept_and_normalise() -> None:
    assert rules.normalise_email(" Jeanne.Martin@Exemple.FR ") == "jeanne.martin@exemple.fr"
    rules.check_password("x" * 12)
    assert rules.normalise_name(" Marie   Claire ", "given_names", "Prénom(s)", 120) == (
        "Marie Claire"
    )
    assert rules.parse_birth_date("2025-06-01", date(2025, 6, 2)) == date(2025, 6, 1)


# ---- the gRPC service -----------------------------------------------------------------


@dataclass
class Identity:
    stub: identity_pb2_grpc.IdentityServiceStub
    clock: Clock


@pytest.fixture
async def identity(database_url: str) -> AsyncIterator[Identity]:
    engine = make_engine(database_url)
    await migrations.upgrade(engine, "identity")
    clock = Clock(T0)
    settings = Settings(session_secret=SECRET, session_ttl_minutes=30)
    # Real argon2, lighter parameters: the suite hashes dozens of passwords.
    hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    server, port = await start_server(
        [definition(make_sessionmaker(engine), settings, hasher=hasher, clock=clock)],
        "127.0.0.1:0",
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Identity(identity_pb2_grpc.IdentityServiceStub(channel), clock)
    finally:
        await channel.close()
        await server.stop(None)
        await engine.dispose()


def new_account(
    email: str = "Jeanne.Martin@Exemple.fr", **changes: str
) -> identity_pb2.CreateAccountRequest:
    fields = {
        "email": email,
        "password": PASSWORD,
        "given_names": "Jeanne",
        "family_name": "Martin",
        "birth_date": "2001-04-17",
    }
    fields.update(changes)
    return identity_pb2.CreateAccountRequest(**fields)


async def test_create_account_then_get_it(identity: Identity) -> None:
    account = await identity.stub.CreateAccount(new_account())
    assert account.email == "jeanne.martin@exemple.fr"
    assert len(account.identifier) == 10
    assert set(account.identifier) <= set(rules.CROCKFORD_ALPHABET)
    assert account.role == "candidate"
    assert account.birth_date == "2001-04-17"
    assert datetime.fromisoformat(account.created_at) == T0
    assert (
        await identity.stub.GetAccount(
            identity_pb2.GetAccountRequest(account_id=account.account_id)
        )
        == account
    )


async def test_email_is_unique_whatever_its_case(identity: Identity) -> None:
    await identity.stub.CreateAccount(new_account("jeanne.martin@exemple.fr"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.CreateAccount(new_account("JEANNE.MARTIN@EXEMPLE.FR"))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert refusal(caught).code is ErrorCode.ACCOUNT_EXISTS


async def test_concurrent_sign_ups_with_one_email_create_one_account(identity: Identity) -> None:
    results = await asyncio.gather(
        *(identity.stub.CreateAccount(new_account("meme@exemple.fr")) for _ in range(5)),
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, identity_pb2.Account)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(created) == 1 and len(refused) == 4
    assert {PermisError.from_rpc_error(r).code for r in refused} == {  # type: ignore[union-attr]
        ErrorCode.ACCOUNT_EXISTS
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"password": "trop court"}, "password"),
        ({"email": "jeanne.martin"}, "email"),
        ({"given_names": ""}, "given_names"),
        ({"family_name": "Martin<script>"}, "family_name"),
        ({"birth_date": "2030-01-01"}, "birth_date"),
        ({"birth_date": "17/04/2001"}, "birth_date"),
    ],
)
async def test_create_account_refuses_invalid_fields(
    identity: Identity, changes: dict[str, str], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.CreateAccount(new_account(**changes))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = refusal(caught)
    assert error.code is ErrorCode.INVALID_FIELD
    assert error.details == {"field": field}
    if field == "password":
        assert "12 caractères" in caught.value.details()


async def test_login_by_identifier_or_email_then_verify_the_session(identity: Identity) -> None:
    account = await identity.stub.CreateAccount(new_account())
    typed = account.identifier.lower()[:5] + "-" + account.identifier.lower()[5:]
    for login in (typed, "JEANNE.MARTIN@exemple.fr"):
        session = await identity.stub.Authenticate(
            identity_pb2.AuthenticateRequest(login=login, password=PASSWORD)
        )
        assert session.account == account
        assert datetime.fromisoformat(session.expires_at) == T0 + timedelta(minutes=30)
        verified = await identity.stub.VerifySession(
            identity_pb2.VerifySessionRequest(token=session.token)
        )
        assert verified == account


async def test_wrong_credentials_get_one_answer(identity: Identity) -> None:
    account = await identity.stub.CreateAccount(new_account())
    answers = []
    for login, password in [
        (account.identifier, "not the password"),
        ("jeanne.martin@exemple.fr", PASSWORD + " "),
        ("ZZZZZZZZZZ", PASSWORD),
        ("personne@exemple.fr", PASSWORD),
        ("", ""),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await identity.stub.Authenticate(
                identity_pb2.AuthenticateRequest(login=login, password=password)
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert refusal(caught).code is ErrorCode.INVALID_CREDENTIALS
        answers.append(caught.value.details())
    assert len(set(answers)) == 1


async def test_sessions_expire_and_tampering_is_refused(identity: Identity) -> None:
    await identity.stub.CreateAccount(new_account())
    session = await identity.stub.Authenticate(
        identity_pb2.AuthenticateRequest(login="jeanne.martin@exemple.fr", password=PASSWORD)
    )
    for token in (_forge(session.token, r="instructor"), session.token + "x", "n'importe quoi"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await identity.stub.VerifySession(identity_pb2.VerifySessionRequest(token=token))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert refusal(caught).code is ErrorCode.NOT_AUTHENTICATED

    identity.clock.now = T0 + timedelta(minutes=29)
    await identity.stub.VerifySession(identity_pb2.VerifySessionRequest(token=session.token))
    identity.clock.now = T0 + timedelta(minutes=31)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.VerifySession(identity_pb2.VerifySessionRequest(token=session.token))
    assert refusal(caught).code is ErrorCode.NOT_AUTHENTICATED


async def test_unknown_account(identity: Identity) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.GetAccount(identity_pb2.GetAccountRequest(account_id="inconnu"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert refusal(caught).code is ErrorCode.ACCOUNT_NOT_FOUND

"""Service tokens and their enforcement, without the stack: minting and verifying
(tampering, expiry, wrong secret), the interceptor on an in-process server (missing,
forged, expired credentials; wrong role; health and reflection stay open), the
instructor's department scoping, the production refusal of the development secret, and
that every service declares an entry for each of its rpcs."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from permis.ctn.v1 import ctn_pb2, ctn_pb2_grpc
from services.common import auth
from services.common.auth import (
    AuthInterceptor,
    Principal,
    TokenSource,
    acting_person,
    current_principal,
    mint_token,
    require_department,
    verify_token,
)
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition, start_server
from services.common.settings import DEV_SERVICE_SECRET, Settings
from tests.grpc_auth import channel_as

SECRET = "a-test-secret-of-at-least-32-characters!"
NOW = 1_800_000_000.0
INSTRUCTOR = Principal("claire.dupont@ddt-69", auth.DDT_INSTRUCTOR, "69")


def at(moment: float) -> auth.Clock:
    return lambda: moment


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _with_claims(token: str, **changes: Any) -> str:
    claims = {**_claims(token), **changes}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{payload}.{token.split('.')[1]}"


def _refused(call: Any, code: ErrorCode) -> None:
    with pytest.raises(PermisError) as raised:
        call()
    assert raised.value.code is code


# --- tokens ------------------------------------------------------------------------------


def test_a_token_gives_back_its_principal_until_it_expires() -> None:
    token = mint_token(INSTRUCTOR, SECRET, ttl_seconds=300, clock=at(NOW))
    assert verify_token(token, SECRET, clock=at(NOW + 299)) == INSTRUCTOR
    assert _claims(token) == {
        "sub": INSTRUCTOR.subject,
        "role": "ddt_instructor",
        "dept": "69",
        "exp": int(NOW) + 300,
    }
    _refused(lambda: verify_token(token, SECRET, clock=at(NOW + 300)), ErrorCode.NOT_AUTHENTICATED)


def test_a_principal_without_department_has_none() -> None:
    worker = Principal("worker", auth.WORKER)
    token = mint_token(worker, SECRET, clock=at(NOW))
    assert "dept" not in _claims(token)
    assert verify_token(token, SECRET, clock=at(NOW)) == worker


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), id="signature"),
        pytest.param(lambda t: _with_claims(t, role=auth.OPERATOR), id="role"),
        pytest.param(lambda t: _with_claims(t, dept="75"), id="department"),
        pytest.param(lambda t: _with_claims(t, exp=int(NOW) + 10**6), id="expiry"),
        pytest.param(lambda t: t.split(".")[0], id="no-signature"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "pas.un-jeton", id="garbage"),
    ],
)
def test_a_tampered_token_is_refused(tamper: Any) -> None:
    token = mint_token(INSTRUCTOR, SECRET, clock=at(NOW))
    _refused(
        lambda: verify_token(tamper(token), SECRET, clock=at(NOW)), ErrorCode.NOT_AUTHENTICATED
    )


def test_a_token_of_another_secret_is_refused() -> None:
    token = mint_token(INSTRUCTOR, "another-secret-of-32-characters-long!!", clock=at(NOW))
    _refused(lambda: verify_token(token, SECRET, clock=at(NOW)), ErrorCode.NOT_AUTHENTICATED)


def test_the_token_source_reuses_a_token_until_half_its_life() -> None:
    moment = [NOW]
    source = TokenSource(INSTRUCTOR, SECRET, ttl_seconds=100, clock=lambda: moment[0])
    first = source.token()
    moment[0] = NOW + 49
    assert source.token() == first
    moment[0] = NOW + 51
    renewed = source.token()
    assert renewed != first
    assert verify_token(renewed, SECRET, clock=at(NOW + 140)) == INSTRUCTOR


def test_unknown_roles_cannot_be_put_in_a_table() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        auth.roles("candidate", "superuser")


def test_the_development_service_secret_is_refused_in_production() -> None:
    production = {
        "environment": "production",
        "session_secret": "s" * 40,
        "s3_secret_key": "real-secret",
    }
    with pytest.raises(ValueError, match="PERMIS_SERVICE_SECRET"):
        Settings(**production)
    with pytest.raises(ValueError, match="PERMIS_SERVICE_SECRET"):
        Settings(**production, service_secret="too-short")
    assert Settings(**production, service_secret="t" * 40).service_secret == "t" * 40
    assert Settings().service_secret == DEV_SERVICE_SECRET  # development keeps its default


# --- department scoping ------------------------------------------------------------------


def test_an_instructor_acts_only_on_their_department() -> None:
    token = auth._current.set(INSTRUCTOR)
    try:
        require_department("69")
        _refused(lambda: require_department("75"), ErrorCode.WRONG_DEPARTMENT)
    finally:
        auth._current.reset(token)
    # Other roles (and calls outside an enforced server) are not department-scoped.
    require_department("75")
    token = auth._current.set(Principal("op", auth.OPERATOR))
    try:
        require_department("75")
    finally:
        auth._current.reset(token)


def test_a_person_acts_only_in_their_own_name() -> None:
    token = auth._current.set(INSTRUCTOR)
    try:
        assert acting_person("", "instructor_id") == "claire.dupont@ddt-69"
        assert acting_person(" claire.dupont@ddt-69 ", "instructor_id") == "claire.dupont@ddt-69"
        with pytest.raises(PermisError) as raised:
            acting_person("paul.martin@ddt-69", "instructor_id")
        assert raised.value.code is ErrorCode.NOT_YOUR_IDENTIFIER
        assert raised.value.details == {"field": "instructor_id"}
        assert raised.value.grpc_status is grpc.StatusCode.PERMISSION_DENIED
    finally:
        auth._current.reset(token)
    # Outside an enforced call (a servicer's own unit tests) the field is kept as given.
    assert acting_person(" paul.martin@ddt-69 ", "instructor_id") == "paul.martin@ddt-69"
    assert acting_person("", "instructor_id") == ""


# --- the interceptor on a server ---------------------------------------------------------


class EchoPreCheck(ctn_pb2_grpc.PreCheckServiceServicer):
    """Answers GetResult with the caller's subject, to show the principal reaches it."""

    async def GetResult(self, request: Any, context: Any) -> ctn_pb2.PreCheckResult:
        principal = current_principal()
        assert principal is not None
        return ctn_pb2.PreCheckResult(request_number=f"{principal.subject}/{principal.role}")


ACCESS = {"GetResult": auth.roles(auth.CTN_AGENT, auth.OPERATOR)}  # CheckDossier: nobody


@pytest.fixture
async def address() -> AsyncIterator[str]:
    servicer = EchoPreCheck()
    definition = ServiceDefinition(
        "permis.ctn.v1.PreCheckService",
        lambda server: ctn_pb2_grpc.add_PreCheckServiceServicer_to_server(servicer, server),
        access=ACCESS,
    )
    server, port = await start_server(
        [definition], "127.0.0.1:0", service_secret=Settings().service_secret
    )
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def _result(channel: grpc.aio.Channel, **kwargs: Any) -> ctn_pb2.PreCheckResult:
    stub = ctn_pb2_grpc.PreCheckServiceStub(channel)
    return await stub.GetResult(ctn_pb2.GetResultRequest(request_number="X"), timeout=5, **kwargs)


async def _refusal(call: Any) -> tuple[grpc.StatusCode, PermisError]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    refusal = PermisError.from_rpc_error(raised.value)
    assert refusal is not None
    assert refusal.details["check"] == auth.CHECK
    return raised.value.code(), refusal


async def test_an_allowed_role_reaches_the_handler_as_itself(address: str) -> None:
    async with channel_as(address, auth.CTN_AGENT, subject="agent-7") as channel:
        assert (await _result(channel)).request_number == "agent-7/ctn_agent"


async def test_calls_without_credentials_are_refused(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        code, refusal = await _refusal(_result(channel))
        assert code is grpc.StatusCode.UNAUTHENTICATED
        assert refusal.code is ErrorCode.NOT_AUTHENTICATED
        for value in ("Basic dXNlcjpwYXNz", "Bearer ", "jeton"):
            code, refusal = await _refusal(_result(channel, metadata=(("authorization", value),)))
            assert refusal.code is ErrorCode.NOT_AUTHENTICATED
        # Health and reflection stay open to probes.
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_forged_and_expired_tokens_are_refused(address: str) -> None:
    secret = Settings().service_secret
    agent = Principal("agent-7", auth.CTN_AGENT)
    good = mint_token(agent, secret)
    forged = [
        _with_claims(good, role=auth.OPERATOR, sub="someone-else"),
        mint_token(agent, "not-the-deployment-secret-at-all-!!"),
        mint_token(agent, secret, ttl_seconds=-1),
    ]
    async with grpc.aio.insecure_channel(address) as channel:
        assert (
            await _result(channel, metadata=(("authorization", f"Bearer {good}"),))
        ).ListFields()
        for token in forged:
            code, refusal = await _refusal(
                _result(channel, metadata=(("authorization", f"Bearer {token}"),))
            )
            assert code is grpc.StatusCode.UNAUTHENTICATED
            assert refusal.code is ErrorCode.NOT_AUTHENTICATED


async def test_a_valid_token_of_another_role_is_forbidden(address: str) -> None:
    async with channel_as(address, auth.CANDIDATE) as channel:
        code, refusal = await _refusal(_result(channel))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert refusal.code is ErrorCode.FORBIDDEN and refusal.details["role"] == "candidate"
    # A method missing from the table is refused to every role.
    async with channel_as(address, auth.OPERATOR) as channel:
        stub = ctn_pb2_grpc.PreCheckServiceStub(channel)
        code, refusal = await _refusal(stub.CheckDossier(ctn_pb2.CheckDossierRequest(), timeout=5))
        assert refusal.code is ErrorCode.FORBIDDEN


def test_an_interceptor_without_tables_guards_nothing() -> None:
    assert AuthInterceptor({}, SECRET)._guarded == set()


# --- every service declares every rpc ----------------------------------------------------


def test_every_rpc_of_every_service_has_an_access_entry() -> None:
    from tests.e2e.test_authz_matrix import SERVICES, declared_tables

    for full_name, table in declared_tables().items():
        methods = {m.name for m in SERVICES[full_name].methods}
        assert set(table) == methods, full_name
        for allowed in table.values():
            assert allowed <= set(auth.ROLES)

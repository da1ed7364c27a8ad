"""Who is calling a gRPC service, and what they may do there.

Every gRPC call carries ``authorization: Bearer <service token>``: an HMAC-SHA256 signed
set of claims (subject, role, department?, exp) minted with ``Settings.service_secret``
by the caller (``services.common.clients`` attaches it in one place). Each service
declares an access table (method name → roles allowed); ``AuthInterceptor`` enforces it:

- no token, a tampered one or an expired one → UNAUTHENTICATED ``not_authenticated``;
- a valid token whose role is not in the method's entry → PERMISSION_DENIED ``forbidden``
  (a method missing from the table is denied to everyone);
- health and reflection stay open (probes and grpcurl).

The principal of the call is put in a contextvar (``current_principal``) for the checks a
table cannot express: an instructor acting only on their own department's cases
(``require_department``), a person acting only in their own name (``acting_person``).
Minting and verifying are pure functions of the secret and an injected clock.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from services.common.errors import ErrorCode, PermisError

Clock = Callable[[], float]

# People (the gateway acts for candidates; the others use the console, demo or booths).
CANDIDATE = "candidate"
LEGAL_REPRESENTATIVE = "legal_representative"
APPROVED_BOOTH = "approved_booth"
CTN_AGENT = "ctn_agent"
DDT_INSTRUCTOR = "ddt_instructor"  # scoped to a department
EXAMINER = "examiner"
CONTACT_CENTRE = "contact_centre"
OPERATOR = "operator"
# Service principals.
GATEWAY = "gateway"
WORKER = "worker"
OPERATOR_SERVICE = "operator-service"  # the support service, acting for an operator
INSTRUCTION_SERVICE = "instruction-service"  # asks documents for download links
PRINTER = "printer"
POST = "post"

ROLES: tuple[str, ...] = (
    CANDIDATE,
    LEGAL_REPRESENTATIVE,
    APPROVED_BOOTH,
    CTN_AGENT,
    DDT_INSTRUCTOR,
    EXAMINER,
    CONTACT_CENTRE,
    OPERATOR,
    GATEWAY,
    WORKER,
    OPERATOR_SERVICE,
    INSTRUCTION_SERVICE,
    PRINTER,
    POST,
)

METADATA_KEY = "authorization"
# In the ErrorInfo metadata of this layer's refusals (``check``), so a caller or a test
# tells "your credentials" from a handler's own not_authenticated (e.g. VerifySession).
CHECK = "service_token"
DEFAULT_TTL_SECONDS = 300
OPEN_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")

AccessTable = Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class Principal:
    """Who a process or person acts as: a subject, a role, a department for instructors."""

    subject: str
    role: str
    department: str | None = None


def service_principal(service: str) -> Principal:
    """The principal a gRPC service acts as when it calls another one."""
    role = {"support": OPERATOR_SERVICE, "instruction": INSTRUCTION_SERVICE}.get(
        service, f"{service}-service"
    )
    return Principal(f"{service}-service", role)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def mint_token(
    principal: Principal,
    secret: str,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    clock: Clock = time.time,
) -> str:
    claims: dict[str, Any] = {
        "sub": principal.subject,
        "role": principal.role,
        "exp": int(clock()) + ttl_seconds,
    }
    if principal.department:
        claims["dept"] = principal.department
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_signature(secret, payload)}"


def verify_token(token: str, secret: str, *, clock: Clock = time.time) -> Principal:
    """The token's principal; ``PermisError(not_authenticated)`` if forged or expired."""
    refused = PermisError(ErrorCode.NOT_AUTHENTICATED, details={"check": CHECK})
    payload, dot, signature = token.partition(".")
    if not dot or not hmac.compare_digest(signature, _signature(secret, payload)):
        raise refused
    try:
        claims = json.loads(_unb64(payload))
        subject, role, expiry = str(claims["sub"]), str(claims["role"]), int(claims["exp"])
        department = claims.get("dept")
    except (ValueError, KeyError, TypeError) as error:
        raise refused from error
    if expiry <= clock():
        raise refused
    return Principal(subject, role, str(department) if department else None)


class TokenSource:
    """Tokens of one principal, minted on demand and reused until near their expiry."""

    def __init__(
        self,
        principal: Principal,
        secret: str,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        self.principal = principal
        self._secret = secret
        self._ttl = ttl_seconds
        self._clock = clock
        self._token = ""
        self._renew_at = 0.0

    def token(self) -> str:
        now = self._clock()
        if not self._token or now >= self._renew_at:
            self._token = mint_token(
                self.principal, self._secret, ttl_seconds=self._ttl, clock=self._clock
            )
            self._renew_at = now + self._ttl / 2
        return self._token


class CredentialsInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds ``authorization: Bearer <token>`` to every call of a channel."""

    def __init__(self, tokens: TokenSource) -> None:
        self._tokens = tokens

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        metadata = grpc.aio.Metadata(*(tuple(client_call_details.metadata or ())))
        metadata.add(METADATA_KEY, f"Bearer {self._tokens.token()}")
        return await continuation(client_call_details._replace(metadata=metadata), request)


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "permis_principal", default=None
)


def current_principal() -> Principal | None:
    """The principal of the gRPC call being handled (None outside an enforced call)."""
    return _current.get()


def require_department(department: str) -> None:
    """An instructor acts only on their department (other roles are not scoped)."""
    principal = _current.get()
    if principal is None or principal.role != DDT_INSTRUCTOR:
        return
    if principal.department != department:
        raise PermisError(ErrorCode.WRONG_DEPARTMENT, details={"department": department})


def acting_person(claimed: str, field: str) -> str:
    """The identifier a person's action is recorded under: their token's subject.

    An instructor's decision, an examiner's result, an agent's verdict or an operator's
    cancellation names who acted (``instructor_id``…). Under an enforced call an empty
    field takes the caller's subject and any other value is refused
    (``not_your_identifier``): nobody records an act in a colleague's name. Outside an
    enforced call (a servicer's unit tests) the field is kept as given, stripped.
    """
    claimed = claimed.strip()
    principal = _current.get()
    if principal is None:
        return claimed
    if claimed and claimed != principal.subject:
        raise PermisError(ErrorCode.NOT_YOUR_IDENTIFIER, details={"field": field})
    return principal.subject


def roles(*names: str) -> frozenset[str]:
    unknown = set(names) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    return frozenset(names)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a valid token, or whose role the method's table excludes."""

    def __init__(
        self,
        tables: Mapping[str, AccessTable],
        secret: str,
        *,
        clock: Clock = time.time,
    ) -> None:
        # "/permis.x.v1.XService/Method" → roles; services without a table are open.
        self._methods: dict[str, frozenset[str]] = {}
        self._guarded: set[str] = set()
        for service, table in tables.items():
            self._guarded.add(service)
            for method, allowed in table.items():
                self._methods[f"/{service}/{method}"] = allowed
        self._secret = secret
        self._clock = clock

    def _principal(self, metadata: Iterable[tuple[str, Any]] | None) -> Principal:
        for key, value in metadata or ():
            if key == METADATA_KEY and isinstance(value, str):
                scheme, _, token = value.partition(" ")
                if scheme.lower() == "bearer" and token:
                    return verify_token(token.strip(), self._secret, clock=self._clock)
        raise PermisError(ErrorCode.NOT_AUTHENTICATED, details={"check": CHECK})

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        service = method.lstrip("/").split("/", 1)[0]
        if handler is None or handler.unary_unary is None or service not in self._guarded:
            return handler
        inner = handler.unary_unary
        allowed = self._methods.get(method, frozenset())
        metadata = handler_call_details.invocation_metadata

        async def authorized(request: Any, context: grpc.aio.ServicerContext) -> Any:
            principal = self._principal(metadata)
            if principal.role not in allowed:
                raise PermisError(
                    ErrorCode.FORBIDDEN, details={"check": CHECK, "role": principal.role}
                )
            token = _current.set(principal)
            try:
                return await inner(request, context)
            finally:
                _current.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            authorized,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

"""End to end: who may call what, against the real processes of the local stack.

- every role × every rpc of every gRPC service, against an expected table written here
  (not read from the services): allowed calls reach the handler (whatever it then says
  about an empty request), denied ones get PERMISSION_DENIED ``forbidden``;
- calls without credentials, or with a forged or expired token, are refused by every
  service (UNAUTHENTICATED ``not_authenticated``);
- an instructor acts only on their department (``wrong_department``);
- the gateway: each candidate endpoint × anonymous (401), another candidate (404, the
  request or document is not theirs: numbers and ids cannot be probed) and the owner.
  (test_inscription_journey keeps the receipt case; this extends it to every endpoint.)
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import descriptor, message_factory

from deploy.local.demo import new_candidate, submitted_request
from deploy.local.stack import LocalStack, StackPorts
from permis.ctn.v1 import ctn_pb2
from permis.documents.v1 import documents_pb2
from permis.identity.v1 import identity_pb2
from permis.instruction.v1 import instruction_pb2, instruction_pb2_grpc
from permis.photocode.v1 import photocode_pb2
from permis.production.v1 import production_pb2
from permis.support.v1 import support_pb2
from services.common import auth
from services.common.auth import Principal, mint_token
from services.common.errors import ErrorCode, PermisError
from services.common.settings import SERVICE_NAMES
from tests.grpc_auth import channel_as

pytestmark = pytest.mark.timeout(600)

SERVICES: dict[str, descriptor.ServiceDescriptor] = {
    service.full_name: service
    for module in (
        identity_pb2,
        photocode_pb2,
        documents_pb2,
        ctn_pb2,
        instruction_pb2,
        production_pb2,
        support_pb2,
    )
    for service in module.DESCRIPTOR.services_by_name.values()
}

G, W = auth.GATEWAY, auth.WORKER
# The expected access, written independently of the services' tables.
EXPECTED: dict[str, dict[str, set[str]]] = {
    "permis.identity.v1.IdentityService": {
        "CreateAccount": {G, auth.OPERATOR},
        "Authenticate": {G},
        "VerifySession": {G},
        "GetAccount": {G, auth.OPERATOR_SERVICE, auth.OPERATOR},
        "FindAccount": {auth.OPERATOR_SERVICE, auth.OPERATOR},
        "RegisterAccount": {G},
        "ActivateAccount": {G},
        "LogOut": {G},
        "RequestPasswordReset": {G},
        "ResetPassword": {G},
        "SignInWithFranceConnect": {G},
        "ListInactiveAccounts": {W},
        "AnonymiseAccount": {W},
    },
    "permis.photocode.v1.PhotoCodeService": {
        "IssueCode": {auth.APPROVED_BOOTH},
        "CheckCode": {G, W},
        "ConsumeCode": {W},
        "GetPortrait": {W, auth.CTN_AGENT, auth.DDT_INSTRUCTOR, auth.OPERATOR},
    },
    "permis.documents.v1.DocumentService": {
        "UploadDocument": {G},
        "GetDocument": {G, W},
        "DownloadDocument": {G},
        "ListDocuments": {G, W},
        "DeleteDocument": {G},
        "GetDownloadUrl": {auth.INSTRUCTION_SERVICE, auth.CTN_AGENT},
        "RenderAttestation": {W},
        "RenderReceipt": {W},
        "PurgeRequestDocuments": {W},
    },
    "permis.ctn.v1.PreCheckService": {
        "CheckDossier": {W},
        "GetResult": {W, auth.CTN_AGENT, auth.OPERATOR},
        "MarkNonCompliant": {auth.CTN_AGENT},
    },
    "permis.instruction.v1.InstructionService": {
        "EnqueueCase": {W},
        "WithdrawCase": {W},
        "RemindCase": {W},
        "ListPendingCases": {auth.DDT_INSTRUCTOR},
        "GetCase": {auth.DDT_INSTRUCTOR, auth.OPERATOR},
        "ClaimCase": {auth.DDT_INSTRUCTOR},
        "AcceptCase": {auth.DDT_INSTRUCTOR},
        "RejectCase": {auth.DDT_INSTRUCTOR},
        "ListRejectionReasons": {auth.DDT_INSTRUCTOR, auth.OPERATOR, auth.CONTACT_CENTRE},
        "RecordExamResult": {auth.EXAMINER},
        "ListExamResults": {W, auth.EXAMINER, auth.DDT_INSTRUCTOR},
    },
    "permis.production.v1.ProductionService": {
        "OrderTitle": {W},
        "ShipAgain": {W},
        "DestroyTitle": {W},
        "RecordPartnerEvent": {auth.PRINTER, auth.POST},
        "GetTitle": {W, auth.PRINTER, auth.POST, auth.CONTACT_CENTRE, auth.OPERATOR},
        "ListTitles": {auth.PRINTER, auth.POST, auth.CONTACT_CENTRE, auth.OPERATOR},
        "RequestResend": {auth.CONTACT_CENTRE, auth.OPERATOR},
    },
    "permis.support.v1.SupportService": {
        "FindRequests": {auth.OPERATOR},
        "CancelRequest": {auth.OPERATOR},
        "ListActions": {auth.OPERATOR},
    },
}


def declared_tables() -> dict[str, Any]:
    """The access table each service declares beside its servicer."""
    tables = {}
    for name in SERVICE_NAMES:
        server = importlib.import_module(f"services.{name}.server")
        full_name = getattr(server, "FULL_NAME", None) or server.SERVICE_NAME
        tables[full_name] = server.ACCESS
    return tables


def service_of(full_name: str) -> str:
    return full_name.split(".")[1]  # permis.<service>.v1.X


def test_the_expected_table_is_what_the_services_declare() -> None:
    assert set(EXPECTED) == set(SERVICES)
    for full_name, service in SERVICES.items():
        assert set(EXPECTED[full_name]) == {m.name for m in service.methods}, full_name
    declared = {s: {m: set(roles) for m, roles in t.items()} for s, t in declared_tables().items()}
    assert declared == EXPECTED


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(tmp_path_factory.mktemp("stack"), StackPorts.free()) as running:
        yield running


async def call(
    channel: grpc.aio.Channel, method: descriptor.MethodDescriptor, request: Any = None, **kw: Any
) -> Any:
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    rpc = channel.unary_unary(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    return await rpc(request if request is not None else request_class(), timeout=20, **kw)


def rpc_of(service: str, name: str) -> descriptor.MethodDescriptor:
    """The descriptor of ``service``'s rpc ``name`` (full service name)."""
    return SERVICES[service].methods_by_name[name]


async def refusal_of(awaitable: Any) -> PermisError | None:
    """The access layer's refusal of a call, or None if the call reached its handler."""
    try:
        await awaitable
    except grpc.aio.AioRpcError as error:
        refusal = PermisError.from_rpc_error(error)
        if refusal is not None and refusal.details.get("check") == auth.CHECK:
            return refusal
    return None


async def test_every_role_on_every_rpc(stack: LocalStack) -> None:
    surprises = []
    for full_name, service in SERVICES.items():
        address = stack.settings.address_of(service_of(full_name))  # type: ignore[arg-type]
        for role in auth.ROLES:
            department = "69" if role == auth.DDT_INSTRUCTOR else None
            async with channel_as(
                address, role, department=department, settings=stack.settings
            ) as channel:
                for method in service.methods:
                    refusal = await refusal_of(call(channel, method))
                    allowed = role in EXPECTED[full_name][method.name]
                    if allowed and refusal is not None:
                        surprises.append(f"{role} refused {method.full_name}: {refusal.code}")
                    elif not allowed and (
                        refusal is None or refusal.code is not ErrorCode.FORBIDDEN
                    ):
                        surprises.append(f"{role} not forbidden {method.full_name}: {refusal}")
    assert surprises == []


async def test_every_service_refuses_missing_forged_and_expired_credentials(
    stack: LocalStack,
) -> None:
    secret = stack.settings.service_secret
    worker = Principal("worker", auth.WORKER)
    good = mint_token(worker, secret)
    payload, signature = good.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    as_operator = (
        base64.urlsafe_b64encode(json.dumps({**claims, "role": auth.OPERATOR}).encode())
        .rstrip(b"=")
        .decode()
    )
    bad_tokens = {
        "missing": None,
        "flipped signature": f"{payload}.{flipped}",
        "changed role": f"{as_operator}.{signature}",
        "expired": mint_token(worker, secret, ttl_seconds=-5),
        "other secret": mint_token(worker, "someone-else's-secret-32-characters!"),
    }
    for full_name, service in SERVICES.items():
        address = stack.settings.address_of(service_of(full_name))  # type: ignore[arg-type]
        async with grpc.aio.insecure_channel(address) as channel:
            for method in service.methods:
                for what, token in bad_tokens.items():
                    metadata = () if token is None else (("authorization", f"Bearer {token}"),)
                    with pytest.raises(grpc.aio.AioRpcError) as raised:
                        await call(channel, method, metadata=metadata)
                    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED, (
                        method.full_name,
                        what,
                    )
                    refusal = PermisError.from_rpc_error(raised.value)
                    assert refusal is not None and refusal.code is ErrorCode.NOT_AUTHENTICATED


async def _wrong_department(awaitable: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await awaitable
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    refusal = PermisError.from_rpc_error(raised.value)
    assert refusal is not None and refusal.code is ErrorCode.WRONG_DEPARTMENT


@pytest.fixture(scope="module")
async def owner(stack: LocalStack) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    """A candidate whose category-B request (Lyon, department 69) waits at the DDT."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        view = await submitted_request(await new_candidate(http), stack.settings)
        yield http, view


async def test_an_instructor_acts_only_on_their_department(
    stack: LocalStack, owner: tuple[httpx.AsyncClient, dict[str, Any]]
) -> None:
    number = owner[1]["request_number"]
    address = stack.settings.instruction_address
    async with channel_as(
        address,
        auth.DDT_INSTRUCTOR,
        subject="paul@ddt-75",
        department="75",
        settings=stack.settings,
    ) as channel:
        ddt = instruction_pb2_grpc.InstructionServiceStub(channel)
        queue = await ddt.ListPendingCases(instruction_pb2.ListPendingCasesRequest(department="75"))
        assert number not in {c.request_number for c in queue.cases}
        await _wrong_department(
            ddt.ListPendingCases(instruction_pb2.ListPendingCasesRequest(department="69"))
        )
        await _wrong_department(ddt.GetCase(instruction_pb2.GetCaseRequest(request_number=number)))
        for department in ("69", "75"):
            await _wrong_department(
                ddt.ClaimCase(
                    instruction_pb2.ClaimCaseRequest(
                        request_number=number, instructor_id="paul@ddt-75", department=department
                    )
                )
            )
        await _wrong_department(
            ddt.AcceptCase(
                instruction_pb2.AcceptCaseRequest(
                    request_number=number, instructor_id="paul@ddt-75"
                )
            )
        )
        await _wrong_department(
            ddt.RejectCase(
                instruction_pb2.RejectCaseRequest(
                    request_number=number,
                    instructor_id="paul@ddt-75",
                    reason_code="non_compliant_document",
                    reason_text="Pièce illisible.",
                )
            )
        )
    async with channel_as(
        address,
        auth.DDT_INSTRUCTOR,
        subject="claire@ddt-69",
        department="69",
        settings=stack.settings,
    ) as channel:
        ddt = instruction_pb2_grpc.InstructionServiceStub(channel)
        queue = await ddt.ListPendingCases(instruction_pb2.ListPendingCasesRequest(department="69"))
        assert number in {c.request_number for c in queue.cases}
        case = await ddt.GetCase(instruction_pb2.GetCaseRequest(request_number=number))
        assert case.department == "69" and case.state == "pending"


# Valid bodies: an invalid one is answered 422 before ownership is looked at.
CIVIL_STATUS = {
    "family_name": "Intrus",
    "given_names": "Eve",
    "birth_date": "2000-01-01",
    "birth_place": "Paris",
    "birth_country": "FR",
    "sex": "F",
    "nationality": "FR",
}
ADDRESS = {
    "street": "1 rue de Rivoli",
    "postal_code": "75001",
    "city": "Paris",
    "email": "eve@example.fr",
    "mobile_phone": "06 00 00 00 00",
}


async def test_gateway_endpoints_for_anonymous_another_candidate_and_the_owner(
    stack: LocalStack, owner: tuple[httpx.AsyncClient, dict[str, Any]]
) -> None:
    http, view = owner
    number = view["request_number"]
    document_id = view["documents"][0]["document_id"]
    requests = f"/v1/requests/{number}"
    pdf = {"file": ("x.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}
    endpoints: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", requests, {}),
        ("GET", f"{requests}/summary", {}),
        ("PUT", f"{requests}/motif", {"json": {"motif": "first_registration", "category": "B"}}),
        ("PUT", f"{requests}/civil-status", {"json": CIVIL_STATUS}),
        ("PUT", f"{requests}/address", {"json": ADDRESS}),
        ("PUT", f"{requests}/photo-code", {"json": {"photo_code": "ABCD1234EFGH5678IJKL90"}}),
        ("POST", f"{requests}/documents", {"data": {"kind": "identity_proof"}, "files": pdf}),
        ("GET", f"{requests}/documents/{document_id}", {}),
        ("DELETE", f"{requests}/documents/{document_id}", {}),
        ("GET", f"{requests}/receipt", {}),
        ("GET", f"{requests}/attestation", {}),
        ("POST", f"{requests}/submit", {}),
    ]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as anonymous:
        for method, path, kwargs in endpoints:
            answer = await anonymous.request(method, path, **kwargs)
            assert answer.status_code == 401, (method, path, answer.text)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as other_http:
        await new_candidate(other_http)
        for method, path, kwargs in endpoints:
            answer = await other_http.request(method, path, **kwargs)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.json()["code"] in ("request_not_found", "document_not_found")
        # The other candidate's own request, with the owner's document id: still 404.
        own = await other_http.post("/v1/requests", json={"journey": "inscription"})
        assert own.status_code == 201
        own_number = own.json()["request_number"]
        for method in ("GET", "DELETE"):
            answer = await other_http.request(
                method, f"/v1/requests/{own_number}/documents/{document_id}"
            )
            assert answer.status_code == 404, (method, answer.text)
    # The owner still has everything, untouched.
    assert (await http.get(requests)).json()["documents"] == view["documents"]
    document = await http.get(f"{requests}/documents/{document_id}")
    assert document.status_code == 200 and document.content.startswith(b"%PDF")


async def test_a_person_acts_only_in_their_own_name(
    stack: LocalStack, owner: tuple[httpx.AsyncClient, dict[str, Any]]
) -> None:
    """Who decided, checked, cancelled or asked a resend is the token's subject: naming a
    colleague is refused before anything is read or written; leaving the field empty
    records the caller. (Last in the module: it claims the owner's case.)"""
    number = owner[1]["request_number"]
    settings = stack.settings
    someone_else = "collegue@ailleurs"
    # (address, role, department, method, a request naming someone else)
    attempts: list[tuple[str, str, str | None, descriptor.MethodDescriptor, Any]] = [
        (
            settings.instruction_address,
            auth.DDT_INSTRUCTOR,
            "69",
            rpc_of("permis.instruction.v1.InstructionService", "ClaimCase"),
            instruction_pb2.ClaimCaseRequest(
                request_number=number, instructor_id=someone_else, department="69"
            ),
        ),
        (
            settings.instruction_address,
            auth.DDT_INSTRUCTOR,
            "69",
            rpc_of("permis.instruction.v1.InstructionService", "AcceptCase"),
            instruction_pb2.AcceptCaseRequest(request_number=number, instructor_id=someone_else),
        ),
        (
            settings.instruction_address,
            auth.DDT_INSTRUCTOR,
            "69",
            rpc_of("permis.instruction.v1.InstructionService", "RejectCase"),
            instruction_pb2.RejectCaseRequest(
                request_number=number,
                instructor_id=someone_else,
                reason_code="non_compliant_document",
                reason_text="Pièce illisible.",
            ),
        ),
        (
            settings.instruction_address,
            auth.EXAMINER,
            None,
            rpc_of("permis.instruction.v1.InstructionService", "RecordExamResult"),
            instruction_pb2.RecordExamResultRequest(
                neph="690000000001",
                category="B",
                exam_date="2026-01-05",
                passed=True,
                examiner_id=someone_else,
            ),
        ),
        (
            settings.ctn_address,
            auth.CTN_AGENT,
            None,
            rpc_of("permis.ctn.v1.PreCheckService", "MarkNonCompliant"),
            ctn_pb2.MarkNonCompliantRequest(request_number=number, agent_id=someone_else),
        ),
        (
            settings.support_address,
            auth.OPERATOR,
            None,
            rpc_of("permis.support.v1.SupportService", "CancelRequest"),
            support_pb2.CancelRequestRequest(
                request_number=number, operator_id=someone_else, reason="Demande du candidat."
            ),
        ),
        (
            settings.production_address,
            auth.CONTACT_CENTRE,
            None,
            rpc_of("permis.production.v1.ProductionService", "RequestResend"),
            production_pb2.RequestResendRequest(request_number=number, agent_id=someone_else),
        ),
    ]
    for address, role, department, rpc, request in attempts:
        async with channel_as(
            address, role, subject="claire@ddt-69", department=department, settings=settings
        ) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call(channel, rpc, request)
            assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED, rpc.full_name
            refusal = PermisError.from_rpc_error(raised.value)
            assert refusal is not None, rpc.full_name
            assert refusal.code is ErrorCode.NOT_YOUR_IDENTIFIER, (rpc.full_name, refusal)
            named = next(f.name for f, v in request.ListFields() if v == someone_else)
            assert refusal.details == {"field": named}, rpc.full_name
            assert "propre nom" in refusal.message

    async with channel_as(
        settings.instruction_address,
        auth.DDT_INSTRUCTOR,
        subject="claire@ddt-69",
        department="69",
        settings=settings,
    ) as channel:
        ddt = instruction_pb2_grpc.InstructionServiceStub(channel)
        # Nothing was written by the refusals: the case is neither claimed nor decided.
        case = await ddt.GetCase(instruction_pb2.GetCaseRequest(request_number=number))
        assert (case.state, case.claimed_by) == ("pending", "")
        # An empty identifier records the caller; their own one is accepted as well.
        claimed = await ddt.ClaimCase(
            instruction_pb2.ClaimCaseRequest(request_number=number, department="69")
        )
        assert claimed.claimed_by == "claire@ddt-69"
        again = await ddt.ClaimCase(
            instruction_pb2.ClaimCaseRequest(
                request_number=number, instructor_id="claire@ddt-69", department="69"
            )
        )
        assert again.claimed_by == "claire@ddt-69"

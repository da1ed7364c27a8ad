"""End to end: the gateway over HTTP against the whole real stack.

Temporal dev server, SeaweedFS S3, the SMTP sink, the five gRPC services, the worker
and the gateway all run as child processes, started by the same launcher as `make run`.
"""

from __future__ import annotations

import email
import hashlib
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path

import grpc
import httpx
import pytest
from minio import Minio
from pypdf import PdfReader
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from deploy.local import samples
from deploy.local.demo import (
    DEMO_PASSWORD,
    Candidate,
    inscription_journey,
    instructor_decides,
    issue_photo_code,
    log_in,
    new_candidate,
    sample_document,
    submitted_request,
    wait_for_stage,
)
from deploy.local.stack import LocalStack, StackPorts
from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from services.common import auth
from services.common.payload_codec import data_converter
from services.common.settings import SERVICE_NAMES
from tests.grpc_auth import channel_as
from workflows import ids
from workflows.models import DocumentKind, RequestView

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(tmp_path_factory.mktemp("stack"), StackPorts.free()) as running:
        yield running


@pytest.fixture(scope="module")
async def temporal(stack: LocalStack) -> Client:
    return await Client.connect(
        stack.settings.temporal_address, data_converter=data_converter(stack.settings)
    )


@pytest.fixture(scope="module")
async def accepted_request(stack: LocalStack) -> str:
    """One complete category-B inscription, driven exactly as the demo does."""
    number, _, _ = await inscription_journey(stack.gateway_url, stack.settings)
    return number


@pytest.fixture
async def candidate(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in candidate with a fresh account."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        await new_candidate(http)
        yield http


def mails_for(mail_dir: Path, request_number: str) -> list[email.message.Message]:
    found = []
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        if request_number in body_of(message):
            found.append(message)
    return found


def body_of(message: email.message.Message) -> str:
    part = message.get_payload(decode=True) if not message.is_multipart() else None
    if part is None:
        part = next(
            p.get_payload(decode=True)
            for p in message.walk()
            if p.get_content_type() == "text/plain"
        )
    return bytes(part).decode(message.get_content_charset() or "utf-8")


def subject_of(message: email.message.Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


async def test_journey_reaches_attestation_with_neph(
    stack: LocalStack, accepted_request: str, candidate: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        response = await anonymous.get(f"/v1/requests/{accepted_request}")
    assert response.status_code == 401
    # Another candidate cannot see it: answered as if it did not exist.
    response = await candidate.get(f"/v1/requests/{accepted_request}")
    assert response.status_code == 404
    assert response.json()["code"] == "request_not_found"


async def test_workflow_history_shows_every_service(
    temporal: Client, accepted_request: str
) -> None:
    handle = temporal.get_workflow_handle(
        ids.inscription_workflow_id(accepted_request), result_type=RequestView
    )
    description = await handle.describe()
    assert description.status is not None and description.status.name == "COMPLETED"
    history = await handle.fetch_history()
    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    for name in (
        "consume_photo_code",
        "send_email",
        "pre_check",
        "enqueue_for_instruction",
        "render_attestation",
    ):
        assert name in activities, activities
    updates = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert updates[:4] == ["set_motif", "set_civil_status", "set_address", "set_photo_code"]
    assert "submit" in updates and updates[-1] == "record_decision"
    result = await handle.result()
    neph = result.neph
    now = datetime.now(UTC)
    # 12 digits: YY MM of the decision, department 69, prefecture code, order in the month.
    assert re.fullmatch(rf"{now:%y%m}69\d{{2}}\d{{4}}", neph), neph
    assert result.stage == "accepted"


async def test_emails_reach_the_candidate(stack: LocalStack, accepted_request: str) -> None:
    messages = mails_for(stack.mail_dir, accepted_request)
    subjects = [subject_of(m) for m in messages]
    assert any("Confirmation de l'enregistrement" in s for s in subjects), subjects
    decision = [m for m in messages if "NEPH" in body_of(m)]
    assert decision, subjects
    neph = re.search(r"\b\d{12}\b", body_of(decision[0]))
    assert neph is not None
    assert all(m["Message-ID"] for m in messages)
    assert len({m["Message-ID"] for m in messages}) == len(messages)


async def test_documents_are_stored_with_their_bytes(
    stack: LocalStack, accepted_request: str
) -> None:
    settings = stack.settings
    async with channel_as(settings.documents_address, auth.GATEWAY, settings=settings) as channel:
        documents = documents_pb2_grpc.DocumentServiceStub(channel)
        listed = await documents.ListDocuments(
            documents_pb2.ListDocumentsRequest(request_number=accepted_request)
        )
    s3 = Minio(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, secure=False)
    uploaded_kinds = {kind.value for kind in DocumentKind}
    uploads = [d for d in listed.documents if d.kind in uploaded_kinds]
    assert {d.kind for d in uploads} >= {"identity_proof", "proof_of_address"}
    for document in listed.documents:
        stored = s3.get_object(settings.s3_bucket, document.object_key).read()
        assert hashlib.sha256(stored).hexdigest() == document.sha256
        assert document.object_key.startswith(f"requests/{accepted_request}/")
    for document in uploads:
        expected = sample_document(document.kind)
        assert hashlib.sha256(expected).hexdigest() == document.sha256
        assert document.content_type == "application/pdf"


async def test_steps_out_of_order_and_missing_fields(candidate: httpx.AsyncClient) -> None:
    view = (await candidate.post("/v1/requests", json={"journey": "inscription"})).json()
    number = view["request_number"]

    response = await candidate.put(
        f"/v1/requests/{number}/address",
        json={
            "street": "1 place Bellecour",
            "postal_code": "69002",
            "city": "Lyon",
            "email": "a@example.fr",
            "mobile_phone": "0612345678",
        },
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "step_out_of_order"
    assert "étape" in response.json()["detail"]

    response = await candidate.put(f"/v1/requests/{number}/motif", json={"category": "B"})
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "missing_fields"
    assert problem["errors"] == [{"field": "motif", "message": "Champ obligatoire."}]

    response = await candidate.get("/v1/requests/2611ZZZZZZZZ")
    assert response.status_code == 404 and response.json()["code"] == "request_not_found"
    response = await candidate.get("/v1/requests/n'importe-quoi")
    assert response.status_code == 404 and response.json()["code"] == "request_not_found"

    # Nothing was half-written: the request is still at its first step.
    view = (await candidate.get(f"/v1/requests/{number}")).json()
    assert view["completed_steps"] == [] and view["next_step"] == "motif"


async def _draft_up_to_photo(candidate: httpx.AsyncClient) -> str:
    number = (await candidate.post("/v1/requests", json={"journey": "inscription"})).json()[
        "request_number"
    ]
    steps = [
        ("motif", {"motif": "first_registration", "category": "B"}),
        (
            "civil-status",
            {
                "family_name": "Durand",
                "given_names": "Alex",
                "birth_date": "2004-01-15",
                "birth_place": "Lyon",
                "sex": "M",
            },
        ),
        (
            "address",
            {
                "street": "1 place Bellecour",
                "postal_code": "69002",
                "city": "Lyon",
                "email": "alex.durand@example.fr",
                "mobile_phone": "0712345678",
            },
        ),
    ]
    for path, body in steps:
        response = await candidate.put(f"/v1/requests/{number}/{path}", json=body)
        assert response.status_code == 200, response.text
    return number


async def test_photo_codes_unknown_or_used(
    temporal: Client, candidate: httpx.AsyncClient, accepted_request: str
) -> None:
    number = await _draft_up_to_photo(candidate)
    response = await candidate.put(
        f"/v1/requests/{number}/photo-code", json={"photo_code": "A" * 22}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "photo_code_unknown"

    # The code the accepted request spent at submission cannot serve again.
    handle = temporal.get_workflow_handle(ids.inscription_workflow_id(accepted_request))
    spent = (await handle.query("view", result_type=RequestView)).photo_code
    assert spent
    response = await candidate.put(f"/v1/requests/{number}/photo-code", json={"photo_code": spent})
    assert response.status_code == 409
    assert response.json()["code"] == "photo_code_used"
    assert "nouveau code" in response.json()["detail"]


async def test_upload_of_another_type_is_refused_and_nothing_stored(
    stack: LocalStack, candidate: httpx.AsyncClient
) -> None:
    number = await _draft_up_to_photo(candidate)
    code = await issue_photo_code(stack.settings)
    response = await candidate.put(f"/v1/requests/{number}/photo-code", json={"photo_code": code})
    assert response.status_code == 200, response.text

    files = {"file": ("cni.pdf", b"GIF89a not really a pdf", "application/pdf")}
    response = await candidate.post(
        f"/v1/requests/{number}/documents", data={"kind": "identity_proof"}, files=files
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unsupported_file_type"
    assert "PDF, JPEG et PNG" in response.json()["detail"]

    view = (await candidate.get(f"/v1/requests/{number}")).json()
    assert view["documents"] == []
    settings = stack.settings
    s3 = Minio(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, secure=False)
    assert list(s3.list_objects(settings.s3_bucket, prefix=f"requests/{number}/")) == []

    # A real PNG is taken, and its bytes come back identical.
    image = samples.png()
    response = await candidate.post(
        f"/v1/requests/{number}/documents",
        data={"kind": "identity_proof"},
        files={"file": ("cni.png", image, "image/png")},
    )
    assert response.status_code == 201, response.text
    document = response.json()["documents"][0]
    assert document["content_type"] == "image/png"
    downloaded = await candidate.get(f"/v1/requests/{number}/documents/{document['document_id']}")
    assert downloaded.content == image


async def test_requirements_are_public(stack: LocalStack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        response = await http.get(
            "/v1/requirements",
            params={"motif": "first_registration", "category": "B", "birth_date": "2009-05-01"},
        )
    body = response.json()
    assert response.status_code == 200
    kinds = [d["kind"] for d in body["documents"]]
    assert "legal_representative_id" in kinds and "census_certificate" in kinds
    assert body["minimum_age"] == 17


async def test_another_candidate_cannot_read_the_receipt(
    stack: LocalStack, accepted_request: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as other:
        await new_candidate(other)
        assert (await other.get(f"/v1/requests/{accepted_request}/receipt")).status_code == 404


async def test_receipt_and_attestation_are_real_pdfs(
    temporal: Client, stack: LocalStack, accepted_request: str
) -> None:
    handle = temporal.get_workflow_handle(
        ids.inscription_workflow_id(accepted_request), result_type=RequestView
    )
    view = await handle.result()
    assert view.receipt_document_id and view.attestation_document_id
    async with channel_as(
        stack.settings.documents_address, auth.GATEWAY, settings=stack.settings
    ) as channel:
        documents = documents_pb2_grpc.DocumentServiceStub(channel)
        receipt = await documents.DownloadDocument(
            documents_pb2.GetDocumentRequest(document_id=view.receipt_document_id)
        )
        attestation = await documents.DownloadDocument(
            documents_pb2.GetDocumentRequest(document_id=view.attestation_document_id)
        )
    receipt_text = pdf_text(receipt.content)
    assert "cépissé" in receipt_text and accepted_request in receipt_text
    assert "apprentissage" in receipt_text
    pages = PdfReader(io.BytesIO(attestation.content)).pages
    assert len(pages) == 2  # recto/verso on one sheet
    assert view.neph and view.neph in pdf_text(attestation.content)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


async def test_rejection_is_final_and_keeps_the_code_spent(stack: LocalStack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        candidate: Candidate = await new_candidate(http)
        view = await submitted_request(candidate, stack.settings)
        number = view["request_number"]
        await instructor_decides(
            stack.settings,
            number,
            "69",
            reject_with=("non_compliant_document", "Justificatif de domicile illisible."),
        )
        view = await wait_for_stage(http, number, {"rejected"})
        assert view["decision"]["outcome"] == "rejected"
        assert view["decision"]["reason_code"] == "non_compliant_document"
        assert view["decision"]["instructor_id"]
        assert view["neph"] is None and view["attestation_document_id"] is None

        # The code stays spent: a new request needs a new code.
        again = (await http.post("/v1/requests", json={"journey": "inscription"})).json()
        await http.put(
            f"/v1/requests/{again['request_number']}/motif",
            json={"motif": "first_registration", "category": "B"},
        )
        response = await http.put(
            f"/v1/requests/{again['request_number']}/photo-code",
            json={"photo_code": view["photo_code"]},
        )
        assert response.status_code in (409, 422)
    rejection = [
        body_of(m) for m in mails_for(stack.mail_dir, number) if "rejet" in subject_of(m).lower()
    ]
    assert rejection, [subject_of(m) for m in mails_for(stack.mail_dir, number)]
    assert "nouvelle demande" in rejection[0] and "nouveau code" in rejection[0]


async def test_proof_of_address_needs_its_date(
    stack: LocalStack, candidate: httpx.AsyncClient
) -> None:
    number = await _draft_up_to_photo(candidate)
    code = await issue_photo_code(stack.settings)
    await candidate.put(f"/v1/requests/{number}/photo-code", json={"photo_code": code})
    files = {"file": ("facture.pdf", sample_document("proof_of_address"), "application/pdf")}
    response = await candidate.post(
        f"/v1/requests/{number}/documents", data={"kind": "proof_of_address"}, files=files
    )
    assert response.status_code == 422
    assert response.json()["code"] == "missing_fields"
    assert response.json()["errors"] == [{"field": "issued_on", "message": "Champ obligatoire."}]


async def test_steps_are_checked_where_they_happen(candidate: httpx.AsyncClient) -> None:
    number = (await candidate.post("/v1/requests", json={"journey": "inscription"})).json()[
        "request_number"
    ]
    await candidate.put(
        f"/v1/requests/{number}/motif", json={"motif": "first_registration", "category": "B"}
    )
    civil = {
        "family_name": "Durand",
        "given_names": "Alex",
        "birth_date": "2099-01-15",
        "birth_place": "Lyon",
        "sex": "M",
    }
    response = await candidate.put(f"/v1/requests/{number}/civil-status", json=civil)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "birth_date", "message": "Date de naissance invalide."}
    ]
    response = await candidate.put(
        f"/v1/requests/{number}/civil-status", json={**civil, "family_name": "Dur@nd"}
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_field"

    civil["birth_date"] = "2004-01-15"
    assert (await candidate.put(f"/v1/requests/{number}/civil-status", json=civil)).is_success
    address = {
        "street": "1 rue du Port",
        "postal_code": "96100",
        "city": "Nulle-part",
        "email": "alex@example.fr",
        "mobile_phone": "0612345678",
    }
    response = await candidate.put(f"/v1/requests/{number}/address", json=address)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "postal_code", "message": "Département inconnu."}
    ]
    for field, value in (("mobile_phone", "0112345678"), ("email", "pas-une-adresse")):
        response = await candidate.put(
            f"/v1/requests/{number}/address", json={**address, "postal_code": "69002", field: value}
        )
        assert response.status_code == 422, field
        assert response.json()["errors"][0]["field"] == field


async def test_public_tracking_needs_the_birth_date_and_is_rate_limited(
    stack: LocalStack, accepted_request: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as anonymous:
        url = f"/v1/tracking/{accepted_request}"
        response = await anonymous.get(url, params={"birth_date": "2006-04-12"})
        assert response.status_code == 200, response.text
        tracking = response.json()
        assert tracking["stage"] == "accepted"
        assert [h["stage"] for h in tracking["history"]][-1] == "accepted"
        # Nothing personal: no name, address, NEPH or documents.
        assert "Martin" not in response.text and "Lyon" not in response.text
        assert "neph" not in tracking and "documents" not in tracking

        wrong = await anonymous.get(url, params={"birth_date": "2006-04-13"})
        unknown = await anonymous.get(
            "/v1/tracking/2611ZZZZZZZZ", params={"birth_date": "2006-04-12"}
        )
        assert wrong.status_code == unknown.status_code == 404
        assert wrong.json() == {**unknown.json()}
        assert wrong.json()["code"] == "tracking_not_found"

        statuses = [
            (await anonymous.get(url, params={"birth_date": "2000-01-01"})).status_code
            for _ in range(4)
        ]
        assert statuses[-1] == 429, statuses
        limited = await anonymous.get(url, params={"birth_date": "2006-04-12"})
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited" and int(limited.headers["Retry-After"]) > 0


def test_every_service_answers_health_and_reflection(stack: LocalStack) -> None:
    """What `grpcurl -plaintext ADDRESS list` and a health probe rely on."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    for name in SERVICE_NAMES:
        with grpc.insecure_channel(stack.settings.address_of(name)) as channel:
            services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
            assert any(s.startswith(f"permis.{name}.v1.") for s in services), (name, services)
            assert "grpc.health.v1.Health" in services
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_status_read_is_the_owners_and_follows_the_stage(
    stack: LocalStack, accepted_request: str, candidate: httpx.AsyncClient
) -> None:
    # A fresh draft: its status says so, for its owner only.
    draft = (await candidate.post("/v1/requests", json={"journey": "inscription"})).json()
    status = await candidate.get(f"/v1/requests/{draft['request_number']}/status")
    assert status.status_code == 200
    assert status.json() == {
        "request_number": draft["request_number"],
        "journey": "inscription",
        "stage": "draft",
        "stage_label": draft["stage_label"],
        "ended": False,
    }
    # The accepted request belongs to someone else: same 404 as an unknown number.
    for number in (accepted_request, "2611ZZZZZZZZ", "not-a-number"):
        refused = await candidate.get(f"/v1/requests/{number}/status")
        assert (refused.status_code, refused.json()["code"]) == (404, "request_not_found")
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        response = await anonymous.get(f"/v1/requests/{draft['request_number']}/status")
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
        # Its owner sees the journey's end, as the full view does.
        view = await owner_view(stack, anonymous, accepted_request)
        owned = await anonymous.get(f"/v1/requests/{accepted_request}/status")
    assert owned.status_code == 200
    assert (owned.json()["stage"], owned.json()["stage_label"]) == (
        view["stage"],
        view["stage_label"],
    )
    assert owned.json()["stage"] == "accepted"


async def owner_view(
    stack: LocalStack, http: httpx.AsyncClient, request_number: str
) -> dict[str, object]:
    """Log ``http`` in as the owner of ``request_number`` (the candidate the accepted
    request fixture created) and return the full view."""
    for path in sorted(stack.mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        if request_number in subject_of(message) or request_number in str(message):
            await log_in(http, str(message["To"]), DEMO_PASSWORD)
            response = await http.get(f"/v1/requests/{request_number}")
            assert response.status_code == 200
            return response.json()  # type: ignore[no-any-return]
    raise AssertionError(f"no mail about {request_number}")


async def test_logout_closes_the_session_at_once_despite_the_gateway_cache(
    candidate: httpx.AsyncClient,
) -> None:
    assert (await candidate.get("/v1/me")).status_code == 200  # now remembered
    assert (await candidate.post("/v1/sessions/logout")).status_code == 204
    refused = await candidate.get("/v1/me")
    assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")

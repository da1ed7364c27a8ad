"""The document service on real parts: gRPC on a free port, SeaweedFS S3, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import io
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import grpc
import pytest
from minio.error import S3Error
from pypdf import PdfReader
from sqlalchemy.exc import IntegrityError

from deploy.local import processes, samples
from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import start_server
from services.common.settings import Settings
from services.documents import rules
from services.documents.server import DocumentServicer, build, definition, new_row
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from workflows.ids import new_request_number

MAX_UPLOAD = 64 * 1024
BUCKET = f"permis-test-documents-{uuid.uuid4().hex[:8]}"


# ---- pure rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"%PDF-1.7\n...", "application/pdf"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"GIF89a....", None),
        (b"MZ\x90\x00 executable", None),
        (b"%PD", None),
        (b"\x89PNG\r\n", None),
        (b"", None),
    ],
)
def test_type_comes_from_magic_bytes(content: bytes, expected: str | None) -> None:
    assert rules.detect_content_type(content) == expected


def test_upload_refusals_in_order() -> None:
    with pytest.raises(PermisError) as empty:
        rules.check_upload(b"", 10)
    assert empty.value.code is ErrorCode.EMPTY_FILE
    with pytest.raises(PermisError) as large:
        rules.check_upload(b"%PDF-" + b"x" * 10, 10)
    assert large.value.code is ErrorCode.FILE_TOO_LARGE
    with pytest.raises(PermisError) as other:
        rules.check_upload(b"<html>", 10)
    assert other.value.code is ErrorCode.UNSUPPORTED_FILE_TYPE
    assert rules.check_upload(b"%PDF-1.4", 10) == "application/pdf"


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("../../etc/passwd.pdf", rules.PDF, "passwd.pdf"),
        ("C:\\Users\\camille\\Documents\\carte identité.PDF", rules.PDF, "carte identité.PDF"),
        ("scan.jpeg", rules.JPEG, "scan.jpeg"),
        ("photo.exe", rules.JPEG, "photo.exe.jpg"),
        ("justificatif.pdf", rules.PNG, "justificatif.pdf.png"),
        ("", rules.PNG, "document.png"),
        ("..", rules.PDF, "document.pdf"),
        ("/", rules.PDF, "document.pdf"),
        (".bashrc", rules.PDF, "bashrc.pdf"),
        ('a<b>c:"d|e?f*\x00g\n.pdf', rules.PDF, "a_b_c__d_e_f__g_.pdf"),
        ("x" * 500 + ".pdf", rules.PDF, "x" * (rules.MAX_FILENAME_CHARS - 4) + ".pdf"),
    ],
)
def test_filenames_lose_paths_and_follow_the_detected_type(
    filename: str, content_type: str, expected: str
) -> None:
    assert rules.sanitise_filename(filename, content_type) == expected


def test_url_lifetime_defaults_and_cap() -> None:
    assert rules.url_ttl_seconds(0) == 300
    assert rules.url_ttl_seconds(-5) == 300
    assert rules.url_ttl_seconds(60) == 60
    assert rules.url_ttl_seconds(86_400) == 3600


def test_request_numbers_are_checked_before_they_reach_a_key() -> None:
    with pytest.raises(PermisError) as bad:
        rules.check_request_number("../../other")
    assert bad.value.code is ErrorCode.INVALID_FIELD
    with pytest.raises(PermisError) as missing:
        rules.check_request_number("")
    assert missing.value.code is ErrorCode.MISSING_FIELDS


# ---- the service ---------------------------------------------------------------------


@dataclass
class Running:
    stub: documents_pb2_grpc.DocumentServiceStub
    servicer: DocumentServicer
    settings: Settings


@pytest.fixture
async def service(database_url: str, s3_server: processes.ChildProcess) -> AsyncIterator[Running]:
    settings = Settings(
        database_url=database_url,
        s3_endpoint=f"127.0.0.1:{s3_server.ports['s3']}",
        s3_access_key=S3_ACCESS_KEY,
        s3_secret_key=S3_SECRET_KEY,
        s3_bucket=BUCKET,
        max_upload_bytes=MAX_UPLOAD,
    )
    servicer, engine = await build(settings)
    server, port = await start_server([definition(servicer)], "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(documents_pb2_grpc.DocumentServiceStub(channel), servicer, settings)
    finally:
        await channel.close()
        await server.stop(5)  # let in-flight handlers give their connections back
        await engine.dispose()


def error_code(error: grpc.aio.AioRpcError) -> ErrorCode:
    permis = PermisError.from_rpc_error(error)
    assert permis is not None, error
    return permis.code


def object_exists(running: Running, key: str) -> bool:
    try:
        running.servicer.objects.client.stat_object(BUCKET, key)
    except S3Error as error:
        assert error.code in ("NoSuchKey", "NoSuchObject")
        return False
    return True


def upload_request(
    request_number: str, content: bytes, filename: str = "piece.pdf", kind: str = "identity_proof"
) -> documents_pb2.UploadDocumentRequest:
    return documents_pb2.UploadDocumentRequest(
        request_number=request_number,
        kind=kind,
        filename=filename,
        content=content,
        owner_account_id="account-1",
    )


async def test_upload_stores_bytes_and_metadata(service: Running) -> None:
    number = new_request_number(datetime.now(UTC))
    pdf = samples.pdf("Carte d'identité", ["Camille Martin"])
    png = samples.png()

    stored = await service.stub.UploadDocument(upload_request(number, pdf, "../../scans/carte.pdf"))
    # A PNG sent under a .pdf name is a PNG.
    image = await service.stub.UploadDocument(
        upload_request(number, png, "domicile.pdf", "proof_of_address")
    )

    assert stored.filename == "carte.pdf"
    assert stored.content_type == "application/pdf"
    assert stored.size == len(pdf)
    assert stored.sha256 == hashlib.sha256(pdf).hexdigest()
    assert stored.object_key == f"requests/{number}/{stored.document_id}"
    assert stored.owner_account_id == "account-1"
    assert datetime.fromisoformat(stored.created_at).tzinfo is not None
    assert (image.content_type, image.filename) == ("image/png", "domicile.pdf.png")

    fetched = await service.stub.GetDocument(
        documents_pb2.GetDocumentRequest(document_id=stored.document_id)
    )
    assert fetched == stored
    downloaded = await service.stub.DownloadDocument(
        documents_pb2.GetDocumentRequest(document_id=image.document_id)
    )
    assert downloaded.content == png
    assert downloaded.document == image
    listed = await service.stub.ListDocuments(
        documents_pb2.ListDocumentsRequest(request_number=number)
    )
    assert {d.document_id for d in listed.documents} == {stored.document_id, image.document_id}
    other = await service.stub.ListDocuments(
        documents_pb2.ListDocumentsRequest(request_number=new_request_number(datetime.now(UTC)))
    )
    assert list(other.documents) == []


@pytest.mark.parametrize(
    ("content", "kind", "code"),
    [
        (b"MZ\x90\x00 not a document", "identity_proof", ErrorCode.UNSUPPORTED_FILE_TYPE),
        (b"", "identity_proof", ErrorCode.EMPTY_FILE),
        (b"%PDF-1.4" + b"0" * MAX_UPLOAD, "identity_proof", ErrorCode.FILE_TOO_LARGE),
        (b"%PDF-1.4", "attestation_inscription", ErrorCode.INVALID_FIELD),
        (b"%PDF-1.4", "recepisse_depot", ErrorCode.INVALID_FIELD),
        (b"%PDF-1.4", "passport_selfie", ErrorCode.INVALID_FIELD),
    ],
)
async def test_refused_uploads_leave_nothing(
    service: Running, content: bytes, kind: str, code: ErrorCode
) -> None:
    number = new_request_number(datetime.now(UTC))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.stub.UploadDocument(upload_request(number, content, "piece.pdf", kind))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(refused.value) is code
    listed = await service.stub.ListDocuments(
        documents_pb2.ListDocumentsRequest(request_number=number)
    )
    assert list(listed.documents) == []
    keys = service.servicer.objects.client.list_objects(BUCKET, prefix=f"requests/{number}/")
    assert list(keys) == []


async def test_a_row_that_cannot_be_written_takes_its_object_away(service: Running) -> None:
    number = new_request_number(datetime.now(UTC))
    first = await service.stub.UploadDocument(upload_request(number, samples.pdf("A")))
    content = samples.pdf("B")
    clash = new_row(
        request_number=number,
        kind="identity_proof",
        filename="b.pdf",
        content_type=rules.PDF,
        content=content,
        owner_account_id="",
    )
    clash.id = first.document_id  # the primary key is taken: the insert fails

    with pytest.raises(IntegrityError):
        await service.servicer._store(clash, content)

    assert not object_exists(service, clash.object_key)
    assert object_exists(service, first.object_key)


async def test_a_store_outlives_a_caller_that_gave_up(service: Running) -> None:
    """A call cancelled mid-store (its client died) still ends with row and bytes: no
    object without a row, and the retry finds the document."""
    number = new_request_number(datetime.now(UTC))
    content = samples.pdf("Récépissé", ["Camille Martin"])
    row = new_row(
        request_number=number,
        kind="identity_proof",
        filename="piece.pdf",
        content_type=rules.PDF,
        content=content,
        owner_account_id="account-1",
    )
    call = asyncio.create_task(service.servicer._store(row, content))
    await asyncio.sleep(0)  # the store has started
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert service.servicer._storing  # still writing, its caller gone
    await service.servicer.finish_stores(within=30)  # what the service does on stop
    assert not service.servicer._storing

    stored = await service.stub.GetDocument(documents_pb2.GetDocumentRequest(document_id=row.id))
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert object_exists(service, row.object_key)


async def test_an_upload_with_its_own_id_is_stored_once(service: Running) -> None:
    """A retried upload (the gateway's Idempotency-Key) gets the first one's document,
    concurrent repeats included; the id reused for other bytes is refused and leaves
    the stored object as it was."""
    number = new_request_number(datetime.now(UTC))
    content = samples.pdf("Carte d'identité", ["Camille Martin", "reprise"])
    keyed = upload_request(number, content)
    keyed.document_id = str(uuid.uuid4())

    first = await service.stub.UploadDocument(keyed)
    repeats = await asyncio.gather(*(service.stub.UploadDocument(keyed) for _ in range(3)))
    assert first.document_id == keyed.document_id
    assert all(repeat == first for repeat in repeats)
    listed = await service.stub.ListDocuments(
        documents_pb2.ListDocumentsRequest(request_number=number)
    )
    assert [d.document_id for d in listed.documents] == [first.document_id]

    raced = upload_request(number, content)
    raced.document_id = str(uuid.uuid4())
    results = await asyncio.gather(*(service.stub.UploadDocument(raced) for _ in range(4)))
    assert {r.document_id for r in results} == {raced.document_id}
    assert object_exists(service, results[0].object_key)

    other = upload_request(number, samples.pdf("Autre pièce"))
    other.document_id = first.document_id
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await service.stub.UploadDocument(other)
    assert error_code(reused.value) is ErrorCode.INVALID_FIELD
    downloaded = await service.stub.DownloadDocument(
        documents_pb2.GetDocumentRequest(document_id=first.document_id)
    )
    assert downloaded.content == content
    keys = service.servicer.objects.client.list_objects(BUCKET, prefix=f"requests/{number}/")
    assert sorted(o.object_name for o in keys) == sorted({first.object_key, results[0].object_key})

    malformed = upload_request(number, content)
    malformed.document_id = "../../autre"
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await service.stub.UploadDocument(malformed)
    assert error_code(bad.value) is ErrorCode.INVALID_FIELD


async def test_delete_removes_row_and_bytes_and_is_idempotent(service: Running) -> None:
    number = new_request_number(datetime.now(UTC))
    stored = await service.stub.UploadDocument(upload_request(number, samples.jpeg(), "p.jpg"))
    assert object_exists(service, stored.object_key)
    request = documents_pb2.GetDocumentRequest(document_id=stored.document_id)

    assert (await service.stub.DeleteDocument(request)).deleted is True
    assert not object_exists(service, stored.object_key)
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await service.stub.GetDocument(request)
    assert gone.value.code() is grpc.StatusCode.NOT_FOUND
    assert error_code(gone.value) is ErrorCode.DOCUMENT_NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as no_bytes:
        await service.stub.DownloadDocument(request)
    assert error_code(no_bytes.value) is ErrorCode.DOCUMENT_NOT_FOUND
    assert (await service.stub.DeleteDocument(request)).deleted is False


async def test_download_url_serves_the_bytes(service: Running) -> None:
    number = new_request_number(datetime.now(UTC))
    content = samples.png(10, 10)
    stored = await service.stub.UploadDocument(upload_request(number, content, "photo.png"))

    before = datetime.now(UTC)
    link = await service.stub.GetDownloadUrl(
        documents_pb2.GetDownloadUrlRequest(document_id=stored.document_id)
    )
    query = parse_qs(urlparse(link.url).query)
    assert query["X-Amz-Expires"] == ["300"]
    expires = datetime.fromisoformat(link.expires_at)
    assert timedelta(seconds=295) < expires - before < timedelta(seconds=305)

    def fetch(url: str) -> tuple[bytes, str, str]:
        with urllib.request.urlopen(url, timeout=10) as response:
            return (
                response.read(),
                response.headers["Content-Type"],
                response.headers.get("Content-Disposition", ""),
            )

    body, content_type, disposition = await asyncio.to_thread(fetch, link.url)
    assert body == content
    assert content_type == "image/png"
    assert "photo.png" in disposition

    capped = await service.stub.GetDownloadUrl(
        documents_pb2.GetDownloadUrlRequest(document_id=stored.document_id, ttl_seconds=86_400)
    )
    assert parse_qs(urlparse(capped.url).query)["X-Amz-Expires"] == ["3600"]

    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await service.stub.GetDownloadUrl(
            documents_pb2.GetDownloadUrlRequest(document_id=str(uuid.uuid4()))
        )
    assert error_code(unknown.value) is ErrorCode.DOCUMENT_NOT_FOUND


def attestation_request(number: str, neph: str) -> documents_pb2.RenderAttestationRequest:
    return documents_pb2.RenderAttestationRequest(
        request_number=number,
        neph=neph,
        family_name="Martin",
        given_names="Camille Éloïse",
        birth_date="2006-04-12",
        birth_place="Lyon",
        category="B",
        department="69",
        address_line="12 rue de la République, 69002 Lyon",
        decided_at="2026-03-05T09:30:00+00:00",
        owner_account_id="account-1",
    )


async def test_attestation_is_a_two_page_pdf_rendered_once(service: Running) -> None:
    number = new_request_number(datetime.now(UTC))
    neph = "260369010042"

    # Concurrent first calls and a later one all end up with the same document.
    documents = await asyncio.gather(
        *(service.stub.RenderAttestation(attestation_request(number, neph)) for _ in range(3))
    )
    again = await service.stub.RenderAttestation(attestation_request(number, neph))
    assert {d.document_id for d in [*documents, again]} == {again.document_id}
    assert again.kind == "attestation_inscription"
    assert again.content_type == "application/pdf"
    assert again.filename == f"attestation-inscription-{neph}.pdf"
    listed = await service.stub.ListDocuments(
        documents_pb2.ListDocumentsRequest(request_number=number)
    )
    assert [d.document_id for d in listed.documents] == [again.document_id]
    keys = service.servicer.objects.client.list_objects(BUCKET, prefix=f"requests/{number}/")
    assert [o.object_name for o in keys] == [again.object_key]  # losers left no bytes behind

    downloaded = await service.stub.DownloadDocument(
        documents_pb2.GetDocumentRequest(document_id=again.document_id)
    )
    assert hashlib.sha256(downloaded.content).hexdigest() == again.sha256
    reader = PdfReader(io.BytesIO(downloaded.content))
    assert len(reader.pages) == 2
    recto, verso = (" ".join(page.extract_text().split()) for page in reader.pages)
    assert "Attestation d'inscription" in recto
    assert neph in recto
    assert "MARTIN" in recto
    assert "Camille Éloïse" in recto
    assert "12/04/2006" in recto and "Lyon" in recto
    assert "05/03/2026" in recto
    assert "recto/verso sur une seule feuille" in verso
    assert "pièce d'identité" in verso
    assert "livret d'apprentissage" in verso
    assert "report de l'examen" in verso


async def test_attestation_needs_its_fields(service: Running) -> None:
    number = new_request_number(datetime.now(UTC))
    incomplete = attestation_request(number, "260369010042")
    incomplete.family_name = ""
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await service.stub.RenderAttestation(incomplete)
    error = PermisError.from_rpc_error(missing.value)
    assert error is not None and error.code is ErrorCode.MISSING_FIELDS
    assert error.details["fields"] == "family_name"

    with pytest.raises(grpc.aio.AioRpcError) as bad_neph:
        await service.stub.RenderAttestation(attestation_request(number, "26036901"))
    assert error_code(bad_neph.value) is ErrorCode.INVALID_FIELD
    listed = await service.stub.ListDocuments(
        documents_pb2.ListDocumentsRequest(request_number=number)
    )
    assert list(listed.documents) == []


# ---- the récépissé de dépôt ----------------------------------------------------------


def receipt_request(number: str, **changes: str) -> documents_pb2.RenderReceiptRequest:
    fields = {
        "request_number": number,
        "family_name": "Martin",
        "given_names": "Camille Éloïse",
        "birth_date": "2006-04-12",
        "birth_place": "Lyon",
        "category": "B",
        "motif": "first_registration",
        "department": "69",
        "address_line": "12 rue de la République, 69002 Lyon",
        # 23:30 UTC is already the next day in Paris: the receipt shows the French date.
        "submitted_at": "2026-03-05T23:30:00+00:00",
        "owner_account_id": "account-1",
    }
    return documents_pb2.RenderReceiptRequest(**(fields | changes))


def receipt_data(**changes: str) -> rules.ReceiptData:
    request = receipt_request("2603K7Q3ZP9A", **changes)
    return rules.parse_receipt(
        request_number=request.request_number,
        family_name=request.family_name,
        given_names=request.given_names,
        birth_date=request.birth_date,
        birth_place=request.birth_place,
        category=request.category,
        motif=request.motif,
        department=request.department,
        submitted_at=request.submitted_at,
        address_line=request.address_line,
    )


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"category": "A"}, ErrorCode.INVALID_FIELD, "category"),
        ({"category": "BE"}, ErrorCode.INVALID_FIELD, "category"),
        ({"motif": "loss"}, ErrorCode.INVALID_FIELD, "motif"),  # a title motif
        ({"birth_date": "12/04/2006"}, ErrorCode.INVALID_FIELD, "birth_date"),
        ({"submitted_at": "hier"}, ErrorCode.INVALID_FIELD, "submitted_at"),
        ({"request_number": "../x"}, ErrorCode.INVALID_FIELD, "request_number"),
    ],
)
def test_receipt_refusals(changes: dict[str, str], code: ErrorCode, field: str) -> None:
    with pytest.raises(PermisError) as refused:
        receipt_data(**changes)
    assert refused.value.code is code
    assert refused.value.details["field"] == field


def test_receipt_names_every_missing_field() -> None:
    with pytest.raises(PermisError) as missing:
        receipt_data(family_name=" ", motif="", submitted_at="")
    assert missing.value.code is ErrorCode.MISSING_FIELDS
    assert missing.value.details["fields"] == "family_name,motif,submitted_at"


@pytest.mark.parametrize(
    ("motif", "label"),
    [
        ("first_registration", "Première inscription"),
        ("extension", "Nouvelle catégorie (extension)"),
        ("return_after_cancellation", "Retour au permis après invalidation ou annulation"),
    ],
)
def test_receipt_motif_labels_are_french(motif: str, label: str) -> None:
    assert receipt_data(motif=motif).motif_label == label


def test_receipt_bytes_depend_on_the_content_only() -> None:
    first = rules.render_receipt(receipt_data())
    assert rules.render_receipt(receipt_data()) == first
    assert rules.render_receipt(receipt_data(given_names="Camille")) != first


def pdf_text(content: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages]


async def test_receipt_is_a_pdf_rendered_once(service: Running) -> None:
    number = new_request_number(datetime.now(UTC))

    documents = await asyncio.gather(
        *(service.stub.RenderReceipt(receipt_request(number)) for _ in range(3))
    )
    # A retry with other data still returns the first document: it is what was issued.
    again = await service.stub.RenderReceipt(receipt_request(number, given_names="Camille"))
    assert {d.document_id for d in [*documents, again]} == {again.document_id}
    assert (again.kind, again.content_type, again.filename) == (
        "recepisse_depot",
        "application/pdf",
        f"recepisse-depot-{number}.pdf",
    )
    assert again.owner_account_id == "account-1"
    keys = service.servicer.objects.client.list_objects(BUCKET, prefix=f"requests/{number}/")
    assert [o.object_name for o in keys] == [again.object_key]

    downloaded = await service.stub.DownloadDocument(
        documents_pb2.GetDocumentRequest(document_id=again.document_id)
    )
    assert hashlib.sha256(downloaded.content).hexdigest() == again.sha256
    assert downloaded.content == rules.render_receipt(receipt_data(request_number=number))
    (text,) = pdf_text(downloaded.content)
    for expected in [
        "Récépissé de dépôt d'une demande d'inscription au permis de conduire",
        number,
        "MARTIN",
        "Camille Éloïse",
        "12/04/2006",
        "Lyon",
        "Catégorie demandée : B",
        "Motif : Première inscription",
        "Département : 69",
        "Date de dépôt : 06/03/2026 à 00:30",
        "Ce document vous permet d'entamer votre apprentissage sur les voies ouvertes "
        "à la circulation publique.",
        "n'est pas un permis de conduire",
    ]:
        assert expected in text, expected


async def test_receipt_and_attestation_are_two_documents(service: Running) -> None:
    number = new_request_number(datetime.now(UTC))
    receipt = await service.stub.RenderReceipt(receipt_request(number))
    attestation = await service.stub.RenderAttestation(attestation_request(number, "260369010042"))
    assert receipt.document_id != attestation.document_id
    listed = await service.stub.ListDocuments(
        documents_pb2.ListDocumentsRequest(request_number=number)
    )
    assert sorted(d.kind for d in listed.documents) == [
        "attestation_inscription",
        "recepisse_depot",
    ]


async def test_receipt_only_for_category_b(service: Running) -> None:
    number = new_request_number(datetime.now(UTC))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.stub.RenderReceipt(receipt_request(number, category="C"))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    error = PermisError.from_rpc_error(refused.value)
    assert error is not None and error.code is ErrorCode.INVALID_FIELD
    assert error.details["field"] == "category"
    listed = await service.stub.ListDocuments(
        documents_pb2.ListDocumentsRequest(request_number=number)
    )
    assert list(listed.documents) == []

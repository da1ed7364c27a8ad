"""Hostile uploads at the document service: refused with a stable code, nothing stored.

Real parts as in test_documents.py: gRPC on a free port, SeaweedFS S3, SQLite and
PostgreSQL. Each refusal is checked on both sides: no row (ListDocuments) and no object
under the request's prefix in the bucket.
"""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import pytest
from PIL import Image
from pypdf import PdfWriter

from deploy.local import processes, samples
from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import start_server
from services.common.settings import Settings
from services.documents import rules
from services.documents.server import DocumentServicer, build, definition
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from workflows.ids import new_request_number

MAX_UPLOAD = 256 * 1024
BUCKET = f"permis-test-hostile-{uuid.uuid4().hex[:8]}"


# ---- hostile files -------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and carries one tiny compressed row: a bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is rewritten to a huge size."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 10, 10)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def progressive_jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 10)).save(buffer, "JPEG", progressive=True)
    return buffer.getvalue()


def xref_stream_pdf() -> bytes:
    """A PDF 1.5+ with a cross-reference stream rather than an xref table."""
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.compress_identical_objects()
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


GOOD_PDF = samples.pdf("Carte d'identité", ["Camille Martin"])


# ---- pure rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (GOOD_PDF, rules.PDF),
        (GOOD_PDF + b"\r\n\x00\x00 trailing junk\n", rules.PDF),
        (samples.png(), rules.PNG),
        (samples.jpeg(), rules.JPEG),
        (progressive_jpeg(64, 48), rules.JPEG),
        (png_header_only(rules.MAX_IMAGE_SIDE, 4000), rules.PNG),  # exactly 40 MP
    ],
)
def test_sound_files_pass_the_structure_check(content: bytes, content_type: str) -> None:
    assert rules.check_upload(content, 10 * MAX_UPLOAD) == content_type
    rules.check_structure(content, content_type)


def test_xref_stream_pdfs_pass() -> None:
    content = xref_stream_pdf()
    rules.check_structure(content, rules.PDF)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (GOOD_PDF[: len(GOOD_PDF) // 2], "pdf_trailer_missing"),
        (GOOD_PDF[:-10], "pdf_trailer_missing"),
        (b"%PDF-1.7\n%%EOF\n", "pdf_trailer_missing"),
        (b"%PDF-1.7\nstartxref\n999999\n%%EOF\n", "pdf_xref_offset"),
        (b"%PDF-1.7\n" + b"garbage " * 20 + b"\nstartxref\n60\n%%EOF\n", "pdf_xref_missing"),
        (samples.png()[:-12], "png_truncated"),
        (b"\x89PNG\r\n\x1a\n", "png_header"),
        (png_header_only(0, 10), "png_header"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg_frame"),
        (b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 30, "jpeg_frame"),
        (b"\xff\xd8\xff\xe0\x00\x01", "jpeg_marker"),
    ],
)
def test_corrupted_files_are_refused(content: bytes, reason: str) -> None:
    content_type = rules.check_upload(content, 10 * MAX_UPLOAD)
    with pytest.raises(PermisError) as refused:
        rules.check_structure(content, content_type)
    assert refused.value.code is ErrorCode.CORRUPTED_FILE
    assert refused.value.details["reason"] == reason
    assert "endommagé" in refused.value.message


@pytest.mark.parametrize(
    "content",
    [
        png_header_only(50_000, 50_000),
        png_header_only(10_001, 10),
        png_header_only(8000, 8000),  # 64 MP, both sides under the limit
        jpeg_declaring(65_000, 65_000),
        jpeg_declaring(20, 10_001),
    ],
)
def test_huge_images_are_refused_without_decoding(content: bytes) -> None:
    content_type = rules.check_upload(content, 10 * MAX_UPLOAD)
    with pytest.raises(PermisError) as refused:
        rules.check_structure(content, content_type)
    assert refused.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "pixels" in refused.value.message


@pytest.mark.parametrize(
    "filename",
    [
        "../../etc/passwd.pdf",
        "/etc/passwd",
        "C:\\Windows\\System32\\config.pdf",
        "\\\\server\\share\\x.pdf",
        "carte\x00.pdf/../../x",
        "..\uff0f..\uff0fetc\uff0fpasswd.pdf",
        "photo\u202egpj.exe",
        "a/" * 5000 + "b.pdf",
        "é" * 100_000 + ".pdf",
        "",
        "..",
    ],
)
def test_stored_names_never_hold_a_path(filename: str) -> None:
    for content_type in (rules.PDF, rules.PNG, rules.JPEG):
        name = rules.sanitise_filename(filename, content_type)
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert "\uff0f" not in name and "\u202e" not in name
        assert not name.startswith(".")
        assert 1 < len(name) <= rules.MAX_FILENAME_CHARS
        assert name.endswith(rules.EXTENSIONS[content_type]) or name.endswith(".jpeg")


# ---- the service ---------------------------------------------------------------------


@dataclass
class Running:
    stub: documents_pb2_grpc.DocumentServiceStub
    servicer: DocumentServicer


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
        yield Running(documents_pb2_grpc.DocumentServiceStub(channel), servicer)
    finally:
        await channel.close()
        await server.stop(5)
        await engine.dispose()


def upload(
    number: str, content: bytes, filename: str = "piece.pdf"
) -> documents_pb2.UploadDocumentRequest:
    return documents_pb2.UploadDocumentRequest(
        request_number=number,
        kind="identity_proof",
        filename=filename,
        content=content,
        owner_account_id="account-1",
    )


async def stored_nothing(running: Running, number: str) -> bool:
    listed = await running.stub.ListDocuments(
        documents_pb2.ListDocumentsRequest(request_number=number)
    )
    objects = running.servicer.objects.client.list_objects(
        BUCKET, prefix=f"requests/{number}/", recursive=True
    )
    return list(listed.documents) == [] and list(objects) == []


HOSTILE: list[tuple[str, bytes, ErrorCode]] = [
    ("wrong magic bytes", b"MZ\x90\x00\x03 this is an executable", ErrorCode.UNSUPPORTED_FILE_TYPE),
    ("html renamed pdf", b"<html><script>alert(1)</script>", ErrorCode.UNSUPPORTED_FILE_TYPE),
    ("empty", b"", ErrorCode.EMPTY_FILE),
    ("oversized", GOOD_PDF + b"%" * MAX_UPLOAD, ErrorCode.FILE_TOO_LARGE),
    ("truncated pdf", GOOD_PDF[: len(GOOD_PDF) - 40], ErrorCode.CORRUPTED_FILE),
    ("pdf magic only", b"%PDF-1.4", ErrorCode.CORRUPTED_FILE),
    ("truncated png", samples.png()[:40], ErrorCode.CORRUPTED_FILE),
    ("png bomb", png_header_only(50_000, 50_000), ErrorCode.IMAGE_TOO_LARGE),
    ("jpeg bomb", jpeg_declaring(30_000, 30_000), ErrorCode.IMAGE_TOO_LARGE),
]


@pytest.mark.parametrize(("label", "content", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_uploads_are_refused_and_leave_nothing(
    service: Running, label: str, content: bytes, code: ErrorCode
) -> None:
    number = new_request_number(datetime.now(UTC))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.stub.UploadDocument(upload(number, content))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, label
    error = PermisError.from_rpc_error(refused.value)
    assert error is not None and error.code is code, label
    assert error.message  # the French sentence the candidate reads
    assert await stored_nothing(service, number)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("/etc/passwd", "passwd.pdf"),
        ("C:\\Users\\camille\\..\\..\\boot.ini", "boot.ini.pdf"),
        ("carte\x00.pdf", "carte_.pdf"),
        ("x" * 10_000 + ".pdf", "x" * (rules.MAX_FILENAME_CHARS - 4) + ".pdf"),
    ],
)
async def test_path_names_are_stored_sanitised(
    service: Running, filename: str, expected: str
) -> None:
    number = new_request_number(datetime.now(UTC))
    stored = await service.stub.UploadDocument(upload(number, GOOD_PDF, filename))
    assert stored.filename == expected
    assert stored.object_key == f"requests/{number}/{stored.document_id}"
    fetched = await service.stub.GetDocument(
        documents_pb2.GetDocumentRequest(document_id=stored.document_id)
    )
    assert fetched.filename == expected
    objects = service.servicer.objects.client.list_objects(
        BUCKET, prefix=f"requests/{number}/", recursive=True
    )
    assert [o.object_name for o in objects] == [stored.object_key]

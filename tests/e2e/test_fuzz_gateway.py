"""End to end: schemathesis fuzzes every operation of the gateway's OpenAPI on the
running stack, as a logged-in candidate, and no answer may be a 5xx. Hostile uploads
through the gateway are refused with their problem and leave nothing behind.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from minio import Minio
from schemathesis.checks import not_a_server_error

from deploy.local import samples
from deploy.local.demo import (
    FIRST_REGISTRATION_B,
    Candidate,
    issue_photo_code,
    new_candidate,
    steps_after_motif,
)
from deploy.local.stack import LocalStack, StackPorts
from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from services.common import auth
from tests.grpc_auth import channel_as

pytestmark = pytest.mark.timeout(900)

MAX_EXAMPLES = 25
# Operations that would end the fuzzing candidate's own session are left out.
SKIPPED: frozenset[str] = frozenset()


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(tmp_path_factory.mktemp("stack"), StackPorts.free()) as running:
        yield running


@pytest.fixture
async def candidate(stack: LocalStack) -> AsyncIterator[Candidate]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        yield await new_candidate(http)


def fuzz_operation(
    operation: Any, base_url: str, headers: dict[str, str], draft: str, statuses: list[int]
) -> list[str]:
    """Runs one operation's examples (blocking: called in a thread); returns failures."""
    failures: list[str] = []
    uses_number = any(p.name == "request_number" for p in operation.iter_parameters())

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=operation.as_strategy(), real=st.booleans())
    def run(case: Any, real: bool) -> None:
        if uses_number and real:  # half the time, the candidate's own draft request
            case.path_parameters = {**(case.path_parameters or {}), "request_number": draft}
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        statuses.append(response.status_code)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except Exception as error:  # collect them all, report at the end
            failures.append(
                f"{operation.label} -> {response.status_code}: {response.text[:300]} "
                f"({type(error).__name__}) {case.as_curl_command()}"
            )

    run()
    return failures


async def test_no_operation_answers_a_server_error(stack: LocalStack, candidate: Candidate) -> None:
    draft = (await candidate.http.post("/v1/requests", json={"journey": "inscription"})).json()
    schema = schemathesis.openapi.from_url(f"{stack.gateway_url}/openapi.json")
    headers = {"Authorization": candidate.http.headers["Authorization"]}

    failures: list[str] = []
    labels = []
    statuses: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        if operation.label in SKIPPED:
            continue
        labels.append(operation.label)
        failures += await asyncio.to_thread(
            fuzz_operation,
            operation,
            stack.gateway_url,
            headers,
            draft["request_number"],
            statuses,
        )
    assert "POST /v1/requests/{request_number}/documents" in labels
    assert not failures, "\n".join(failures)
    # The candidate's token was used: not everything bounced off as 401/422.
    assert len(statuses) >= 5 * len(labels)
    assert sum(200 <= status < 300 for status in statuses) >= len(labels)


# ---- hostile uploads through the gateway ---------------------------------------------


def png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


async def test_hostile_uploads_through_the_gateway(stack: LocalStack, candidate: Candidate) -> None:
    http = candidate.http
    number = (await http.post("/v1/requests", json={"journey": "inscription"})).json()[
        "request_number"
    ]
    code = await issue_photo_code(stack.settings)
    steps = [("motif", FIRST_REGISTRATION_B), *steps_after_motif(candidate.email, code)]
    for path, body in steps:
        step = await http.put(f"/v1/requests/{number}/{path}", json=body)
        assert step.status_code == 200, step.text
    pdf = samples.pdf("Carte d'identité", ["Camille Martin"])
    big = stack.settings.max_upload_bytes + 1

    hostile = [
        ("virus.pdf", b"MZ\x90\x00 executable", 422, "unsupported_file_type"),
        ("vide.pdf", b"", 422, "empty_file"),
        ("gros.pdf", pdf + b"%" * big, 422, "file_too_large"),
        ("coupe.pdf", pdf[: len(pdf) // 2], 422, "corrupted_file"),
        ("bombe.png", png_declaring(60_000, 60_000), 422, "image_too_large"),
    ]
    for filename, content, status, code in hostile:
        response = await http.post(
            f"/v1/requests/{number}/documents",
            data={"kind": "identity_proof"},
            files={"file": (filename, content, "application/pdf")},
        )
        assert response.status_code == status, (filename, response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem["code"] == code and problem["detail"], problem

    view = (await http.get(f"/v1/requests/{number}")).json()
    assert view["documents"] == []
    settings_ = stack.settings
    s3 = Minio(
        settings_.s3_endpoint, settings_.s3_access_key, settings_.s3_secret_key, secure=False
    )
    assert list(s3.list_objects(settings_.s3_bucket, prefix=f"requests/{number}/")) == []
    async with channel_as(settings_.documents_address, auth.GATEWAY, settings=settings_) as channel:
        listed = await documents_pb2_grpc.DocumentServiceStub(channel).ListDocuments(
            documents_pb2.ListDocumentsRequest(request_number=number)
        )
    assert list(listed.documents) == []

    # A path in the name is dropped, and a non-Latin-1 name still downloads.
    for filename, stored in [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("/abs/Пётр Иванов.pdf", "Пётр Иванов.pdf"),
    ]:
        response = await http.post(
            f"/v1/requests/{number}/documents",
            data={"kind": "identity_proof"},
            files={"file": (filename, pdf, "application/pdf")},
        )
        assert response.status_code == 201, response.text
        document = response.json()["documents"][-1]
        download = await http.get(f"/v1/requests/{number}/documents/{document['document_id']}")
        assert download.status_code == 200 and download.content == pdf
        disposition = download.headers["content-disposition"]
        assert "/" not in disposition.split("filename=")[1].split(";")[0]
        assert httpx.QueryParams(f"x={disposition.split(chr(39) * 2)[1]}")["x"] == stored
        await http.delete(f"/v1/requests/{number}/documents/{document['document_id']}")

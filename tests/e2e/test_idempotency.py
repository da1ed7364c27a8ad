"""End to end: a client that retries with the same Idempotency-Key gets the same request
(or document) back, never a second one (the whole stack, as in test_inscription_journey.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from minio import Minio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from deploy.local import samples
from deploy.local.demo import Candidate, issue_photo_code, new_candidate, submitted_request
from deploy.local.stack import LocalStack, StackPorts
from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from services.common import auth
from tests.e2e.test_inscription_journey import _draft_up_to_photo
from tests.grpc_auth import channel_as

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(tmp_path_factory.mktemp("stack"), StackPorts.free()) as running:
        yield running


@pytest.fixture(scope="module")
async def temporal(stack: LocalStack) -> Client:
    return await Client.connect(
        stack.settings.temporal_address, data_converter=pydantic_data_converter
    )


@pytest.fixture
async def candidate(stack: LocalStack) -> AsyncIterator[Candidate]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        yield await new_candidate(http)


async def workflows_of(temporal: Client, account_id: str) -> list[str]:
    query = f'PermisAccountId = "{account_id}"'
    return [w.id async for w in temporal.list_workflows(query)]


async def settled_workflows_of(temporal: Client, account_id: str) -> list[str]:
    """Visibility is eventually consistent: wait for the first, then for it to settle."""
    deadline = time.monotonic() + 20
    found = await workflows_of(temporal, account_id)
    while not found and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        found = await workflows_of(temporal, account_id)
    await asyncio.sleep(1.5)
    return await workflows_of(temporal, account_id)


async def test_concurrent_retries_yield_one_request(candidate: Candidate, temporal: Client) -> None:
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key}
    responses = await asyncio.gather(
        *(
            candidate.http.post("/v1/requests", json={"journey": "inscription"}, headers=headers)
            for _ in range(5)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 200, 200, 201], [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies)
    number = bodies[0]["request_number"]

    # A later retry too, and the request is the candidate's own.
    later = await candidate.http.post(
        "/v1/requests", json={"journey": "inscription"}, headers=headers
    )
    assert later.status_code == 200 and later.json() == bodies[0]
    assert (await candidate.http.get(f"/v1/requests/{number}")).json() == bodies[0]

    assert await settled_workflows_of(temporal, bodies[0]["account_id"]) == [
        f"inscription-{number}"
    ]


async def test_keys_are_per_candidate_and_absent_keys_start_anew(
    stack: LocalStack, candidate: Candidate
) -> None:
    key = {"Idempotency-Key": "retry-" + uuid.uuid4().hex}
    mine = await candidate.http.post("/v1/requests", json={"journey": "inscription"}, headers=key)
    assert mine.status_code == 201

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as other_http:
        other = await new_candidate(other_http)
        theirs = await other.http.post("/v1/requests", json={"journey": "inscription"}, headers=key)
        assert theirs.status_code == 201
        assert theirs.json()["request_number"] != mine.json()["request_number"]
        # The other candidate still cannot read mine.
        peek = await other.http.get(f"/v1/requests/{mine.json()['request_number']}")
        assert peek.status_code == 404

    plain = [
        await candidate.http.post("/v1/requests", json={"journey": "inscription"}) for _ in range(2)
    ]
    assert [r.status_code for r in plain] == [201, 201]
    assert plain[0].json()["request_number"] != plain[1].json()["request_number"]


@pytest.mark.parametrize("bad", ["", "x" * 256, "clé-accentuée"])
async def test_malformed_keys_are_refused(candidate: Candidate, bad: str) -> None:
    response = await candidate.http.post(
        "/v1/requests",
        json={"journey": "inscription"},
        headers={b"Idempotency-Key": bad.encode()},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_retried_submit_returns_the_same_view(
    stack: LocalStack, candidate: Candidate
) -> None:
    view = await submitted_request(candidate, stack.settings)
    number = view["request_number"]
    headers = {"Idempotency-Key": f"submit-{number}"}

    retries = await asyncio.gather(
        *(candidate.http.post(f"/v1/requests/{number}/submit", headers=headers) for _ in range(3))
    )
    assert [r.status_code for r in retries] == [200, 200, 200], [r.text for r in retries]
    current = (await candidate.http.get(f"/v1/requests/{number}")).json()
    assert all(r.json() == current for r in retries)
    assert current["stage"] == view["stage"]

    # Without a key, a second submit is still the refusal it always was.
    again = await candidate.http.post(f"/v1/requests/{number}/submit")
    assert again.status_code == 409
    assert again.json()["code"] == "request_already_submitted"


async def test_a_retried_upload_stores_one_document(
    stack: LocalStack, candidate: Candidate
) -> None:
    """Retries of one upload (the same key), even concurrent, give one document: listed
    once on the request, one row, one object in S3. Another key is another upload."""
    http = candidate.http
    number = await _draft_up_to_photo(http)
    code = await issue_photo_code(stack.settings)
    response = await http.put(f"/v1/requests/{number}/photo-code", json={"photo_code": code})
    assert response.status_code == 200, response.text
    content = samples.pdf("Carte d'identité", ["Alex Durand", "reprise"])

    async def upload(key: str) -> httpx.Response:
        return await http.post(
            f"/v1/requests/{number}/documents",
            data={"kind": "identity_proof"},
            files={"file": ("cni.pdf", content, "application/pdf")},
            headers={"Idempotency-Key": key},
        )

    attempts = await asyncio.gather(*(upload("cni-1") for _ in range(3)))
    attempts.append(await upload("cni-1"))
    assert {r.status_code for r in attempts} <= {200, 201}, [r.text for r in attempts]
    assert attempts[-1].status_code == 200
    listed = [[d["document_id"] for d in r.json()["documents"]] for r in attempts]
    assert all(ids == listed[0] and len(ids) == 1 for ids in listed), listed

    settings = stack.settings
    async with channel_as(settings.documents_address, auth.WORKER, settings=settings) as channel:
        rows = await documents_pb2_grpc.DocumentServiceStub(channel).ListDocuments(
            documents_pb2.ListDocumentsRequest(request_number=number)
        )
    assert [d.document_id for d in rows.documents] == listed[0]
    s3 = Minio(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, secure=False)
    objects = list(s3.list_objects(settings.s3_bucket, prefix=f"requests/{number}/"))
    assert [o.object_name for o in objects] == [rows.documents[0].object_key]

    another = await upload("cni-2")
    assert another.status_code == 201
    assert len(another.json()["documents"]) == 2

"""End to end: a client that retries with the same Idempotency-Key gets the same request
back, never a second one (the whole stack, as in test_inscription_journey.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from deploy.local.demo import Candidate, new_candidate, submitted_request
from deploy.local.stack import LocalStack, StackPorts

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

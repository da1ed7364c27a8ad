"""The support service: finding a candidate's requests, cancelling one, the audit log.

On SQLite and PostgreSQL (``database_url``), against the real Temporal dev server with
the real inscription journey (its activities stood in by name, ``FakeServices``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from deploy.local import processes
from permis.support.v1 import support_pb2, support_pb2_grpc
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import start_server
from services.common.journey_updates import TemporalJourneyUpdater
from services.common.settings import Settings
from services.support import rules
from services.support.server import SupportServicer, build, definition
from tests.workflows.inscription_scenarios import (
    FakeServices,
    Handle,
    decision,
    fill_draft,
    running_worker,
    start_journey,
    wait_for_stage,
)
from workflows import ids
from workflows.inscription import InscriptionWorkflow
from workflows.models import Outcome, Stage

EMAIL = "camille.martin@example.fr"


# ---- rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 2611k7q3zp9a ", "2611K7Q3ZP9A"),
        ("", ErrorCode.MISSING_FIELDS),
        ("2611K7Q3ZP9", ErrorCode.INVALID_FIELD),
        ("2611K7Q3ZP9I", ErrorCode.INVALID_FIELD),  # no I in request numbers
    ],
)
def test_request_numbers(raw: str, expected: str | ErrorCode) -> None:
    if isinstance(expected, ErrorCode):
        with pytest.raises(PermisError) as refused:
            rules.check_request_number(raw)
        assert refused.value.code is expected
    else:
        assert rules.check_request_number(raw) == expected


def test_operator_reason_account_and_limits() -> None:
    assert rules.check_reason("  Demande\n en  double ") == "Demande en double"
    for check, raw, code in [
        (rules.check_operator, " ", ErrorCode.MISSING_FIELDS),
        (rules.check_reason, "x" * (rules.MAX_REASON + 1), ErrorCode.INVALID_FIELD),
        (rules.check_account_id, "acc' OR 1=1", ErrorCode.INVALID_FIELD),
    ]:
        with pytest.raises(PermisError) as refused:
            check(raw)
        assert refused.value.code is code
    assert rules.check_account_id(" acc-1234_ab ") == "acc-1234_ab"
    assert (rules.limit_of(0), rules.limit_of(5), rules.limit_of(10**6)) == (100, 5, 1000)
    assert not rules.is_final_refusal(ErrorCode.SERVICE_UNAVAILABLE)
    assert rules.is_final_refusal(ErrorCode.REQUEST_NOT_CANCELLABLE)


# ---- the service on a real Temporal ---------------------------------------------------


class Accounts:
    """Identity as the support service sees it: one known email."""

    def __init__(self) -> None:
        self.by_email: dict[str, str] = {}

    async def account_id_of(self, email: str) -> str | None:
        return self.by_email.get(email.lower())


@dataclass
class Running:
    stub: support_pb2_grpc.SupportServiceStub
    servicer: SupportServicer
    temporal: Client
    accounts: Accounts
    fake: FakeServices
    task_queue: str

    async def in_instruction(self) -> Handle:
        handle = await start_journey(self.temporal, self.task_queue)
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        return handle

    async def find(self, **query: str) -> support_pb2.FindRequestsResponse:
        return await self.stub.FindRequests(support_pb2.FindRequestsRequest(**query))

    async def find_until(self, count: int, **query: str) -> support_pb2.FindRequestsResponse:
        """Visibility follows the journeys closely, not instantly."""
        async with asyncio.timeout(15):
            while True:
                found = await self.find(**query)
                if len(found.requests) >= count:
                    return found
                await asyncio.sleep(0.2)

    async def cancel(
        self, number: str, operator: str = "ccc-agent-12", reason: str = "Demande en double."
    ) -> support_pb2.CancelRequestResponse:
        return await self.stub.CancelRequest(
            support_pb2.CancelRequestRequest(
                request_number=number, operator_id=operator, reason=reason
            )
        )

    async def actions(self, number: str) -> list[support_pb2.OperatorAction]:
        listed = await self.stub.ListActions(support_pb2.ListActionsRequest(request_number=number))
        return list(listed.actions)


@pytest.fixture
async def service(database_url: str, temporal_client: Client) -> AsyncIterator[Running]:
    accounts = Accounts()
    servicer, engine = await build(
        Settings(database_url=database_url),
        TemporalJourneyUpdater(temporal_client),
        temporal_client,
        accounts,
    )
    server, port = await start_server([definition(servicer)], "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    fake = FakeServices()
    try:
        async with running_worker(temporal_client, fake) as task_queue:
            yield Running(
                support_pb2_grpc.SupportServiceStub(channel),
                servicer,
                temporal_client,
                accounts,
                fake,
                task_queue,
            )
    finally:
        await channel.close()
        await server.stop(5)
        await engine.dispose()


def error_of(error: grpc.aio.AioRpcError) -> PermisError:
    permis = PermisError.from_rpc_error(error)
    assert permis is not None, error
    return permis


def number_of(handle: Handle) -> str:
    return handle.id.removeprefix(ids.INSCRIPTION_PREFIX)


async def test_find_by_email_account_and_number(service: Running) -> None:
    handle = await service.in_instruction()
    number = number_of(handle)
    account_id = (await handle.query(InscriptionWorkflow.view)).account_id
    service.accounts.by_email[EMAIL] = account_id

    found = await service.find_until(1, email=EMAIL.upper())
    assert found.account_id == account_id
    [summary] = found.requests
    assert (summary.request_number, summary.journey, summary.workflow_id) == (
        number,
        "inscription",
        handle.id,
    )
    assert (summary.motif, summary.category) == ("first_registration", "B")
    assert summary.stage == "in_instruction" and summary.running
    assert summary.stage_label == "Demande en cours d'instruction (DDT)"
    assert datetime.fromisoformat(summary.created_at) <= datetime.now(UTC)

    by_account = await service.find(account_id=account_id)
    by_number = await service.find(request_number=number.lower())
    assert [r.request_number for r in by_account.requests] == [number]
    assert [r.request_number for r in by_number.requests] == [number]
    assert by_number.account_id == account_id

    # Unknown: an empty list, not an error.
    assert list((await service.find(email="personne@example.fr")).requests) == []
    assert list((await service.find(account_id="acc-inconnu")).requests) == []
    assert list((await service.find(request_number="2601ZZZZZZZZ")).requests) == []
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await service.stub.FindRequests(support_pb2.FindRequestsRequest())
    assert error_of(empty.value).code is ErrorCode.MISSING_FIELDS


async def test_cancel_is_recorded_delivered_and_idempotent(service: Running) -> None:
    handle = await service.in_instruction()
    number = number_of(handle)

    answer = await service.cancel(number)
    assert answer.stage == "cancelled"
    action = answer.action
    assert (action.kind, action.outcome, action.error_code) == ("cancel_request", "delivered", "")
    assert (action.operator_id, action.reason, action.workflow_id) == (
        "ccc-agent-12",
        "Demande en double.",
        handle.id,
    )
    assert action.recorded_at and action.delivered_at
    result = await handle.result()
    assert result.stage is Stage.CANCELLED and result.cancellation is not None
    assert result.cancellation.operator_id == "ccc-agent-12"
    assert [w.request_number for w in service.fake.withdrawn] == [number]
    assert service.fake.email_keys()[-1] == f"inscription-{number}.cancelled"

    # The same call again (the answer was lost): the same action, nothing new.
    again = await service.cancel(number)
    assert again.action.id == action.id and again.action.outcome == "delivered"
    # Another operator's cancellation is refused, naming the one of record.
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await service.cancel(number, operator="autre-agent", reason="Autre motif.")
    refusal = error_of(other.value)
    assert refusal.code is ErrorCode.REQUEST_NOT_CANCELLABLE
    assert "ccc-agent-12" in refusal.message
    assert [a.id for a in await service.actions(number)] == [action.id]
    found = await service.find_until(1, request_number=number)
    async with asyncio.timeout(15):
        while found.requests[0].stage != "cancelled":
            await asyncio.sleep(0.2)
            found = await service.find(request_number=number)
    assert not found.requests[0].running


async def test_a_refused_cancellation_is_logged_and_answered(service: Running) -> None:
    gate = service.fake.hold("render_attestation")  # the journey stays open, decided
    handle = await service.in_instruction()
    number = number_of(handle)
    await handle.execute_update(InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED))
    await service.fake.started["render_attestation"].wait()

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.cancel(number)
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_of(refused.value).code is ErrorCode.REQUEST_NOT_CANCELLABLE
    gate.set()
    assert (await handle.result()).stage is Stage.ACCEPTED
    # Once ended, the journey no longer answers: journey_not_waiting. Both are logged.
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await service.cancel(number, reason="Nouvel essai.")
    assert error_of(ended.value).code is ErrorCode.JOURNEY_NOT_WAITING
    logged = await service.actions(number)
    assert [(a.outcome, a.error_code) for a in logged] == [
        ("refused", "request_not_cancellable"),
        ("refused", "journey_not_waiting"),
    ]

    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await service.cancel("2601ZZZZZZZZ")
    assert error_of(unknown.value).code is ErrorCode.REQUEST_NOT_FOUND


async def test_recorded_while_temporal_is_down_then_delivered_by_a_retry(
    service: Running,
) -> None:
    handle = await service.in_instruction()
    number = number_of(handle)
    real = service.servicer.updater
    unreachable = await Client.connect(
        f"127.0.0.1:{processes.free_port()}", lazy=True, data_converter=pydantic_data_converter
    )
    service.servicer.updater = TemporalJourneyUpdater(unreachable)
    with pytest.raises(grpc.aio.AioRpcError) as down:
        await service.cancel(number)
    assert error_of(down.value).code is ErrorCode.SERVICE_UNAVAILABLE
    [pending] = await service.actions(number)
    assert (pending.outcome, pending.error_code) == ("recorded", "service_unavailable")
    assert (await handle.query(InscriptionWorkflow.view)).stage is Stage.IN_INSTRUCTION

    service.servicer.updater = real
    answer = await service.cancel(number)
    assert answer.action.id == pending.id and answer.action.outcome == "delivered"
    view = await handle.result()
    assert view.cancellation is not None
    # The journey got the recorded time, not the retry's.
    assert view.cancellation.cancelled_at.isoformat() == pending.recorded_at

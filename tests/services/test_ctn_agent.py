"""A CTN agent's verdict: recorded, then delivered to a real journey on the Temporal dev
server (a stand-in exposing ``record_pre_check_verdict``), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import grpc
import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from deploy.local import processes
from permis.ctn.v1 import ctn_pb2
from services.common.errors import ErrorCode, PermisError
from services.common.journey_updates import TemporalJourneyUpdater
from services.ctn import rules
from services.ctn.server import AUTOMATIC
from tests.services.test_ctn import PreCheck, dossier, running_precheck
from workflows.ids import new_request_number
from workflows.models import PreCheckVerdict

TASK_QUEUE = f"ctn-tests-{uuid.uuid4().hex[:8]}"
AGENT = "ctn-agent-007"


@workflow.defn(name="CtnTestJourney")
class PreCheckJourney:
    """Takes CTN verdicts until the DDT decides, like the inscription journey."""

    @workflow.init
    def __init__(self, open_for_verdicts: bool) -> None:
        self.open = open_for_verdicts
        self.verdicts: list[PreCheckVerdict] = []
        self.done = False

    @workflow.run
    async def run(self, open_for_verdicts: bool) -> list[PreCheckVerdict]:
        await workflow.wait_condition(lambda: self.done and workflow.all_handlers_finished())
        return self.verdicts

    @workflow.update
    async def record_pre_check_verdict(self, verdict: PreCheckVerdict) -> None:
        if verdict not in self.verdicts:
            self.verdicts.append(verdict)

    @record_pre_check_verdict.validator
    def validate_record_pre_check_verdict(self, verdict: PreCheckVerdict) -> None:
        if verdict in self.verdicts:
            return  # a retried delivery
        if not self.open:
            raise ApplicationError(
                "Le contrôle de forme est clos : la DDT a déjà décidé.", type="pre_check_not_open"
            )

    @workflow.signal
    def ddt_decided(self) -> None:
        self.open = False

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def received(self) -> list[PreCheckVerdict]:
        return self.verdicts


@pytest.fixture(scope="module")
async def worker(temporal_client: Client) -> AsyncIterator[None]:
    async with Worker(
        temporal_client,
        task_queue=TASK_QUEUE,
        workflows=[PreCheckJourney],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield


@pytest.fixture
async def precheck(
    database_url: str, temporal_client: Client, worker: None
) -> AsyncIterator[PreCheck]:
    async with running_precheck(database_url, TemporalJourneyUpdater(temporal_client)) as running:
        yield running


Journey = WorkflowHandle[PreCheckJourney, list[PreCheckVerdict]]


async def checked_request(
    precheck: PreCheck, client: Client, *, open_for_verdicts: bool = True
) -> tuple[str, Journey]:
    """A running journey whose request passed the automatic check."""
    number = new_request_number(precheck.clock.now)
    handle = await client.start_workflow(
        PreCheckJourney.run,
        open_for_verdicts,
        id=f"ctn-test-{number}",
        task_queue=TASK_QUEUE,
        execution_timeout=timedelta(minutes=2),
    )
    automatic = await precheck.check(dossier(number), workflow_id=handle.id)
    assert automatic.compliant, automatic
    return number, handle


def mark(
    number: str, *findings: tuple[str, str, str], agent: str = AGENT
) -> ctn_pb2.MarkNonCompliantRequest:
    return ctn_pb2.MarkNonCompliantRequest(
        request_number=number,
        agent_id=agent,
        findings=[ctn_pb2.Finding(code=c, message=m, field=f) for c, m, f in findings],
    )


PHOTO = ("photo_non_compliant", "", "photo_code")
OTHER = ("other", "Le nom diffère de celui de la pièce d'identité.", "civil_status.family_name")


def refusal(error: grpc.aio.AioRpcError) -> PermisError:
    permis = PermisError.from_rpc_error(error)
    assert permis is not None, error
    return permis


async def test_a_verdict_is_recorded_and_reaches_the_journey(
    precheck: PreCheck, temporal_client: Client
) -> None:
    number, handle = await checked_request(precheck, temporal_client)
    precheck.clock.now += timedelta(hours=2)

    result = await precheck.stub.MarkNonCompliant(mark(number, PHOTO, OTHER))

    assert (result.request_number, result.compliant, result.decided_by) == (number, False, AGENT)
    assert datetime.fromisoformat(result.checked_at) == precheck.clock.now
    assert [(f.code, f.message, f.field) for f in result.findings] == [
        ("photo_non_compliant", rules.NON_COMPLIANCE_REASONS["photo_non_compliant"], "photo_code"),
        OTHER,
    ]
    (verdict,) = await handle.query(PreCheckJourney.received)
    assert verdict.agent_id == AGENT
    assert verdict.decided_at == precheck.clock.now
    assert [(f.code, f.message, f.field) for f in verdict.findings] == [
        (f.code, f.message, f.field) for f in result.findings
    ]
    # The latest verdict counts; the automatic one stays in the history.
    assert await precheck.result(number) == result
    (recorded,) = await precheck.store.agent_verdicts(number)
    assert recorded.delivered_at is not None and recorded.delivery_error == ""
    automatic = await precheck.store.get(number)
    assert automatic is not None and automatic.compliant
    await handle.terminate("test done")


async def test_the_same_verdict_again_is_one_verdict(
    precheck: PreCheck, temporal_client: Client
) -> None:
    number, handle = await checked_request(precheck, temporal_client)
    # Agents double-clicking: concurrent identical calls race to record the verdict.
    racing = await asyncio.gather(
        *(precheck.stub.MarkNonCompliant(mark(number, PHOTO)) for _ in range(4))
    )
    assert all(result == racing[0] for result in racing)

    precheck.clock.now += timedelta(minutes=10)
    again = await precheck.stub.MarkNonCompliant(mark(number, PHOTO))

    assert again == racing[0]  # same time: nothing recorded twice
    assert len(await precheck.store.agent_verdicts(number)) == 1
    assert len(await handle.query(PreCheckJourney.received)) == 1
    await handle.terminate("test done")


async def test_a_later_different_verdict_is_the_one_that_counts(
    precheck: PreCheck, temporal_client: Client
) -> None:
    number, handle = await checked_request(precheck, temporal_client)
    await precheck.stub.MarkNonCompliant(mark(number, PHOTO))
    precheck.clock.now += timedelta(minutes=1)

    second = await precheck.stub.MarkNonCompliant(mark(number, OTHER, agent="ctn-agent-008"))

    assert await precheck.result(number) == second
    assert [v.agent_id for v in await handle.query(PreCheckJourney.received)] == [
        AGENT,
        "ctn-agent-008",
    ]
    await handle.terminate("test done")


async def test_once_the_ddt_decided_the_verdict_is_refused_but_kept(
    precheck: PreCheck, temporal_client: Client
) -> None:
    number, handle = await checked_request(precheck, temporal_client, open_for_verdicts=False)
    automatic = await precheck.result(number)

    for _ in range(2):  # asking again gets the same answer, and still one verdict
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await precheck.stub.MarkNonCompliant(mark(number, PHOTO))
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        error = refusal(refused.value)
        assert error.code is ErrorCode.PRE_CHECK_NOT_OPEN
        assert error.details["journey_reason"] == "pre_check_not_open"
        assert error.details["workflow_id"] == handle.id

    (recorded,) = await precheck.store.agent_verdicts(number)
    assert (recorded.delivered_at, recorded.delivery_error) == (None, "pre_check_not_open")
    assert await precheck.result(number) == automatic  # the request's fate did not follow it
    assert await handle.query(PreCheckJourney.received) == []
    await handle.terminate("test done")


async def test_a_journey_that_has_ended_is_closed_to_verdicts(
    precheck: PreCheck, temporal_client: Client
) -> None:
    number, handle = await checked_request(precheck, temporal_client)
    await handle.signal(PreCheckJourney.finish)
    await handle.result()

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await precheck.stub.MarkNonCompliant(mark(number, PHOTO))

    assert refusal(refused.value).code is ErrorCode.PRE_CHECK_NOT_OPEN
    (recorded,) = await precheck.store.agent_verdicts(number)
    assert recorded.delivered_at is None


async def test_a_verdict_survives_a_temporal_outage_and_a_retry_delivers_it(
    precheck: PreCheck, temporal_client: Client
) -> None:
    number, handle = await checked_request(precheck, temporal_client)
    working = precheck.updater.target
    unreachable = await Client.connect(
        f"127.0.0.1:{processes.free_port()}", lazy=True, data_converter=pydantic_data_converter
    )
    precheck.updater.target = TemporalJourneyUpdater(unreachable)
    decided_at = precheck.clock.now

    with pytest.raises(grpc.aio.AioRpcError) as outage:
        await precheck.stub.MarkNonCompliant(mark(number, PHOTO, OTHER))

    assert outage.value.code() is grpc.StatusCode.UNAVAILABLE
    assert refusal(outage.value).code is ErrorCode.SERVICE_UNAVAILABLE
    (recorded,) = await precheck.store.agent_verdicts(number)
    assert (recorded.delivered_at, recorded.delivery_error) == (None, "service_unavailable")
    assert (await precheck.result(number)).decided_by == AUTOMATIC

    precheck.updater.target = working
    precheck.clock.now += timedelta(minutes=30)
    result = await precheck.stub.MarkNonCompliant(mark(number, PHOTO, OTHER))

    assert datetime.fromisoformat(result.checked_at) == decided_at  # the recorded verdict
    (verdict,) = await handle.query(PreCheckJourney.received)
    assert verdict.decided_at == decided_at
    assert await precheck.result(number) == result
    assert len(await precheck.store.agent_verdicts(number)) == 1
    await handle.terminate("test done")


@pytest.mark.parametrize(
    ("request_", "status", "code", "field"),
    [
        (mark("{number}"), grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.MISSING_FIELDS, "findings"),
        (
            mark("{number}", ("bad_mood", "", "")),
            grpc.StatusCode.INVALID_ARGUMENT,
            ErrorCode.INVALID_FIELD,
            "findings[0].code",
        ),
        (
            mark("{number}", PHOTO, ("other", " ", "")),
            grpc.StatusCode.INVALID_ARGUMENT,
            ErrorCode.MISSING_FIELDS,
            "findings[1].message",
        ),
        (
            mark("{number}", PHOTO, agent=" "),
            grpc.StatusCode.INVALID_ARGUMENT,
            ErrorCode.MISSING_FIELDS,
            "agent_id",
        ),
        (
            mark("{number}", PHOTO, agent=AUTOMATIC),
            grpc.StatusCode.INVALID_ARGUMENT,
            ErrorCode.INVALID_FIELD,
            "agent_id",
        ),
        (
            mark(" ", PHOTO),
            grpc.StatusCode.INVALID_ARGUMENT,
            ErrorCode.INVALID_FIELD,
            "request_number",
        ),
        (mark("2506ZZZZZZZZ", PHOTO), grpc.StatusCode.NOT_FOUND, ErrorCode.REQUEST_NOT_FOUND, None),
    ],
    ids=[
        "no-finding",
        "unknown-reason",
        "other-unexplained",
        "no-agent",
        "agent-automatique",
        "no-request-number",
        "unknown-request",
    ],
)
async def test_unusable_verdicts_are_refused_before_anything_is_recorded(
    precheck: PreCheck,
    temporal_client: Client,
    request_: ctn_pb2.MarkNonCompliantRequest,
    status: grpc.StatusCode,
    code: ErrorCode,
    field: str | None,
) -> None:
    number, handle = await checked_request(precheck, temporal_client)
    request = ctn_pb2.MarkNonCompliantRequest()
    request.CopyFrom(request_)
    request.request_number = request.request_number.replace("{number}", number)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await precheck.stub.MarkNonCompliant(request)

    assert refused.value.code() is status
    error = refusal(refused.value)
    assert error.code is code
    assert error.details.get("field") == field
    assert error.message and error.message[0].isupper()
    assert await precheck.store.agent_verdicts(number) == []
    assert await handle.query(PreCheckJourney.received) == []
    await handle.terminate("test done")

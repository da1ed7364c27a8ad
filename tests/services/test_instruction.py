"""The instruction service on real parts: gRPC on a free port, SQLite and PostgreSQL,
decisions delivered to a real workflow on the Temporal dev server, and the document
service (on SeaweedFS S3) beside it for the dossiers' download links.

Claims, withdrawals and reminders are in ``test_instruction_claims.py``.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from pydantic import BaseModel
from sqlalchemy import insert
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from deploy.local import processes
from permis.common.v1 import dossier_pb2
from permis.documents.v1 import documents_pb2_grpc
from permis.instruction.v1 import instruction_pb2, instruction_pb2_grpc
from services.common.db import make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import start_server
from services.common.journey_updates import TemporalJourneyUpdater
from services.common.settings import Settings
from services.documents import server as documents_server
from services.instruction import rules, storage
from services.instruction import server as instruction_server
from services.instruction.server import (
    InstructionServicer,
    TemporalJourneyLookup,
    build,
    definition,
)
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.services.test_documents import BUCKET
from workflows.ids import new_request_number
from workflows.models import Decision, Outcome

TASK_QUEUE = f"instruction-tests-{uuid.uuid4().hex[:8]}"
# BUCKET is the document tests' own: the test S3 server has room for few volumes, and
# every bucket (a SeaweedFS collection) takes its own, so the suite shares one.


# ---- pure rules ----------------------------------------------------------------------

MARCH = datetime(2026, 3, 31, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("department", "order", "expected"),
    [
        ("69", 1, "260369010001"),
        ("01", 42, "260301010042"),
        ("2A", 7, "260320010007"),
        ("2B", 9999, "260320019999"),
        ("971", 1, "260397010001"),
        ("974", 12, "260397040012"),
        ("976", 300, "260397060300"),
    ],
)
def test_neph_format(department: str, order: int, expected: str) -> None:
    neph = rules.format_neph(rules.neph_series(MARCH, department), order)
    assert neph == expected
    assert re.fullmatch(r"\d{12}", neph)
    assert rules.is_well_formed_neph(neph)


def test_neph_month_is_the_utc_month_of_the_decision() -> None:
    paris_april_first = datetime.fromisoformat("2026-04-01T00:30:00+02:00")  # still March in UTC
    assert rules.neph_series(paris_april_first, "75").yymm == "2603"
    assert rules.neph_series(datetime(2027, 12, 1, tzinfo=UTC), "75").yymm == "2712"


def test_corsica_shares_one_series() -> None:
    assert rules.neph_series(MARCH, "2A") == rules.neph_series(MARCH, "2B")
    assert rules.neph_series(MARCH, "971") != rules.neph_series(MARCH, "972")


def test_neph_order_is_bounded() -> None:
    series = rules.neph_series(MARCH, "69")
    with pytest.raises(PermisError) as exhausted:
        rules.format_neph(series, 10_000)
    assert exhausted.value.code is ErrorCode.NEPH_EXHAUSTED
    with pytest.raises(PermisError):
        rules.format_neph(series, 0)


@pytest.mark.parametrize(
    "neph",
    [
        "26036901001",
        "2603690100011",
        "261369010001",
        "260369020001",
        "260369010000",
        "260397070001",
        "260320020001",
        "26036901000A",
        "260396010001",
    ],
)
def test_malformed_nephs_are_recognised(neph: str) -> None:
    assert not rules.is_well_formed_neph(neph)


@pytest.mark.parametrize("department", ["", "20", "00", "96", "977", "987", "6", "691"])
def test_unknown_departments_are_refused(department: str) -> None:
    assert not rules.is_known_department(department)
    with pytest.raises(PermisError):
        rules.neph_series(MARCH, department)


def test_rejection_reasons() -> None:
    assert set(rules.REJECTION_REASONS) == {
        "missing_document",
        "non_compliant_document",
        "inconsistent_data",
        "medical_check_required",
        "photo_non_compliant",
        "other",
    }
    assert rules.check_rejection("missing_document", "  ") == ("missing_document", "")
    assert rules.check_rejection("other", " Dossier en double ") == ("other", "Dossier en double")
    with pytest.raises(PermisError) as unknown:
        rules.check_rejection("bad_mood", "")
    assert unknown.value.code is ErrorCode.INVALID_FIELD
    with pytest.raises(PermisError) as unexplained:
        rules.check_rejection("other", "")
    assert unexplained.value.code is ErrorCode.MISSING_FIELDS
    with pytest.raises(PermisError) as too_long:
        rules.check_rejection("other", "x" * (rules.MAX_REASON_TEXT + 1))
    assert too_long.value.code is ErrorCode.INVALID_FIELD


def test_page_tokens_round_trip_and_bad_ones_are_refused() -> None:
    moment = datetime(2026, 3, 5, 9, 30, 12, 345678, tzinfo=UTC)
    assert rules.decode_page_token(rules.encode_page_token(moment, "2603ABCDEFGH")) == (
        moment,
        "2603ABCDEFGH",
    )
    for bad in ["???", "bm90IGpzb24", "WzEsMl0", "WyIyMDI2LTAzLTA1VDA5OjMwOjEyIiwgIngiXQ"]:
        with pytest.raises(PermisError) as refused:
            rules.decode_page_token(bad)
        assert refused.value.code is ErrorCode.INVALID_FIELD
    assert (rules.page_size(0), rules.page_size(10), rules.page_size(10_000)) == (50, 10, 500)


# ---- a stand-in journey on the real Temporal dev server ------------------------------


@workflow.defn(name="InstructionTestJourney")
class WaitingJourney:
    """Waits for the DDT's decision, like the inscription journey does."""

    @workflow.init  # the input is known before any update is validated
    def __init__(self, waiting: bool) -> None:
        self.decision: Decision | None = None
        self.waiting = waiting

    @workflow.run
    async def run(self, waiting: bool) -> Decision:
        await workflow.wait_condition(
            lambda: self.decision is not None and workflow.all_handlers_finished()
        )
        assert self.decision is not None
        return self.decision

    @workflow.update
    async def record_decision(self, decision: Decision) -> None:
        self.decision = decision

    @record_decision.validator
    def validate_record_decision(self, decision: Decision) -> None:
        if self.decision is not None and self.decision == decision:
            return  # a retried notification
        if not self.waiting or self.decision is not None:
            raise ApplicationError(
                "La démarche n'attend pas de décision.", type="journey_not_waiting"
            )


@workflow.defn(name="InstructionTestDecidedJourney")
class DecidedJourney:
    """Already holds a decision and refuses any other, with the catalogue's code, as the
    inscription journey does; runs until terminated."""

    @workflow.init
    def __init__(self, decision: Decision) -> None:
        self.decision = decision

    @workflow.run
    async def run(self, decision: Decision) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def record_decision(self, decision: Decision) -> None:
        pass

    @record_decision.validator
    def validate_record_decision(self, decision: Decision) -> None:
        if decision != self.decision:
            raise ApplicationError(
                "Ce dossier a déjà fait l'objet d'une décision.", type="case_already_decided"
            )


@pytest.fixture(scope="module")
async def worker(temporal_client: Client) -> AsyncIterator[None]:
    async with Worker(
        temporal_client,
        task_queue=TASK_QUEUE,
        workflows=[WaitingJourney, DecidedJourney],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield


@dataclass
class Running:
    stub: instruction_pb2_grpc.InstructionServiceStub
    servicer: InstructionServicer
    temporal: Client
    documents: documents_pb2_grpc.DocumentServiceStub

    async def journey(
        self, department: str = "69", *, waiting: bool = True
    ) -> tuple[dossier_pb2.Dossier, WorkflowHandle[WaitingJourney, Decision]]:
        """A running journey and its enqueued case."""
        dossier = make_dossier(department)
        handle = await self.temporal.start_workflow(
            WaitingJourney.run,
            waiting,
            id=f"instruction-test-{dossier.request_number}",
            task_queue=TASK_QUEUE,
            execution_timeout=timedelta(minutes=5),
        )
        await self.stub.EnqueueCase(
            instruction_pb2.EnqueueCaseRequest(workflow_id=handle.id, dossier=dossier)
        )
        return dossier, handle


@pytest.fixture
async def service(
    database_url: str,
    temporal_client: Client,
    worker: None,
    s3_server: processes.ChildProcess,
) -> AsyncIterator[Running]:
    """The instruction service, and the document service it asks for links, both real
    (they share the test's database: each creates only its own tables)."""
    settings = Settings(
        database_url=database_url,
        s3_endpoint=f"127.0.0.1:{s3_server.ports['s3']}",
        s3_access_key=S3_ACCESS_KEY,
        s3_secret_key=S3_SECRET_KEY,
        s3_bucket=BUCKET,
    )
    documents, documents_engine = await documents_server.build(settings)
    documents_grpc, documents_port = await start_server(
        [documents_server.definition(documents)], "127.0.0.1:0"
    )
    documents_channel = grpc.aio.insecure_channel(f"127.0.0.1:{documents_port}")
    documents_stub = documents_pb2_grpc.DocumentServiceStub(documents_channel)
    servicer, engine = await build(
        settings, TemporalJourneyUpdater(temporal_client), documents_stub
    )
    server, port = await start_server([definition(servicer)], "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(
            instruction_pb2_grpc.InstructionServiceStub(channel),
            servicer,
            temporal_client,
            documents_stub,
        )
    finally:
        await channel.close()
        await server.stop(5)  # let in-flight handlers give their connections back
        await engine.dispose()
        await documents_channel.close()
        await documents_grpc.stop(5)
        await documents_engine.dispose()


def make_dossier(department: str = "69") -> dossier_pb2.Dossier:
    now = datetime.now(UTC)
    return dossier_pb2.Dossier(
        request_number=new_request_number(now),
        journey="inscription",
        motif="first_registration",
        category="B",
        account_id="account-1",
        civil_status=dossier_pb2.CivilStatus(
            family_name="Martin",
            given_names="Camille",
            birth_date="2006-04-12",
            birth_place="Lyon",
            birth_country="FR",
            sex="F",
            nationality="FR",
        ),
        address=dossier_pb2.AddressContact(
            street="12 rue de la République",
            postal_code="69002",
            city="Lyon",
            department=department,
            email="camille@example.fr",
            mobile_phone="0612345678",
        ),
        photo_code="A" * 22,
        documents=[
            dossier_pb2.DocumentRef(
                document_id=str(uuid.uuid4()),
                kind="identity_proof",
                content_type="application/pdf",
                sha256="0" * 64,
                size=1234,
            )
        ],
        submitted_at=now.isoformat(),
    )


def error_code(error: grpc.aio.AioRpcError) -> ErrorCode:
    permis = PermisError.from_rpc_error(error)
    assert permis is not None, error
    return permis.code


def accept(number: str, instructor: str = "ddt69-agent-1") -> instruction_pb2.AcceptCaseRequest:
    return instruction_pb2.AcceptCaseRequest(request_number=number, instructor_id=instructor)


def reject(
    number: str, code: str = "missing_document", text: str = ""
) -> instruction_pb2.RejectCaseRequest:
    return instruction_pb2.RejectCaseRequest(
        request_number=number, instructor_id="ddt69-agent-2", reason_code=code, reason_text=text
    )


async def get_case(service: Running, number: str) -> instruction_pb2.InstructionCase:
    return await service.stub.GetCase(instruction_pb2.GetCaseRequest(request_number=number))


def expected_prefix(decision: instruction_pb2.Decision, department: str = "69") -> str:
    series = rules.neph_series(datetime.fromisoformat(decision.decided_at), department)
    return f"{series.yymm}{series.department}{series.prefecture}"


# ---- queue ---------------------------------------------------------------------------


async def test_enqueue_is_idempotent_and_keeps_the_dossier(service: Running) -> None:
    dossier = make_dossier("69")
    request = instruction_pb2.EnqueueCaseRequest(workflow_id="wf-1", dossier=dossier)

    first, *again = await asyncio.gather(*(service.stub.EnqueueCase(request) for _ in range(3)))
    later = await service.stub.EnqueueCase(request)

    assert first.state == "pending"
    assert first.department == "69"
    assert first.dossier == dossier
    assert all(case == first for case in [*again, later])
    fetched = await get_case(service, dossier.request_number)
    assert fetched == first
    assert not fetched.HasField("decision")
    pending = await service.stub.ListPendingCases(
        instruction_pb2.ListPendingCasesRequest(department="69")
    )
    assert [c.request_number for c in pending.cases] == [dossier.request_number]

    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await get_case(service, new_request_number(datetime.now(UTC)))
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
    assert error_code(unknown.value) is ErrorCode.CASE_NOT_FOUND


@pytest.mark.parametrize(
    ("department", "code"), [("", ErrorCode.MISSING_FIELDS), ("987", ErrorCode.INVALID_FIELD)]
)
async def test_enqueue_needs_a_department_we_serve(
    service: Running, department: str, code: ErrorCode
) -> None:
    dossier = make_dossier(department)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.stub.EnqueueCase(
            instruction_pb2.EnqueueCaseRequest(workflow_id="wf", dossier=dossier)
        )
    assert error_code(refused.value) is code
    with pytest.raises(grpc.aio.AioRpcError):
        await get_case(service, dossier.request_number)


async def test_pending_cases_page_oldest_first(service: Running) -> None:
    numbers = []
    for _ in range(7):
        dossier = make_dossier("69")
        await service.stub.EnqueueCase(
            instruction_pb2.EnqueueCaseRequest(workflow_id="wf", dossier=dossier)
        )
        numbers.append(dossier.request_number)
    await service.stub.EnqueueCase(
        instruction_pb2.EnqueueCaseRequest(workflow_id="wf", dossier=make_dossier("2A"))
    )
    # A decided case leaves the queue (its delivery fails: no such journey).
    with pytest.raises(grpc.aio.AioRpcError) as undeliverable:
        await service.stub.RejectCase(reject(numbers[2]))
    assert error_code(undeliverable.value) is ErrorCode.JOURNEY_NOT_WAITING
    expected = [n for n in numbers if n != numbers[2]]

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await service.stub.ListPendingCases(
            instruction_pb2.ListPendingCasesRequest(department="69", page_size=4, page_token=token)
        )
        pages += 1
        assert len(page.cases) <= 4
        assert all(c.department == "69" and c.state == "pending" for c in page.cases)
        seen += [c.request_number for c in page.cases]
        token = page.next_page_token
        if not token:
            break
    assert (seen, pages) == (expected, 2)
    enqueued = [(await get_case(service, n)).enqueued_at for n in seen]
    assert enqueued == sorted(enqueued)

    corsica = await service.stub.ListPendingCases(
        instruction_pb2.ListPendingCasesRequest(department="2A")
    )
    assert len(corsica.cases) == 1
    with pytest.raises(grpc.aio.AioRpcError) as bad_token:
        await service.stub.ListPendingCases(
            instruction_pb2.ListPendingCasesRequest(department="69", page_token="garbage!")
        )
    assert error_code(bad_token.value) is ErrorCode.INVALID_FIELD


# ---- decisions and their delivery ----------------------------------------------------


async def test_accept_allocates_a_neph_and_tells_the_journey(service: Running) -> None:
    dossier, handle = await service.journey("69")
    number = dossier.request_number

    decision = await service.stub.AcceptCase(accept(number))

    assert decision.outcome == instruction_pb2.OUTCOME_ACCEPTED
    assert decision.request_number == number
    assert decision.instructor_id == "ddt69-agent-1"
    assert rules.is_well_formed_neph(decision.neph)
    assert decision.neph == f"{expected_prefix(decision)}0001"
    delivered = await handle.result()
    assert delivered == Decision(
        outcome=Outcome.ACCEPTED,
        instructor_id="ddt69-agent-1",
        decided_at=datetime.fromisoformat(decision.decided_at),
        neph=decision.neph,
    )
    case = await get_case(service, number)
    assert case.state == "accepted"
    assert case.decision == decision
    assert case.delivered_at

    # Retrying (another instructor, the journey has ended) returns the stored decision.
    assert await service.stub.AcceptCase(accept(number, "ddt69-agent-9")) == decision
    with pytest.raises(grpc.aio.AioRpcError) as opposite:
        await service.stub.RejectCase(reject(number))
    assert opposite.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_code(opposite.value) is ErrorCode.CASE_ALREADY_DECIDED
    pending = await service.stub.ListPendingCases(
        instruction_pb2.ListPendingCasesRequest(department="69")
    )
    assert number not in [c.request_number for c in pending.cases]


async def test_reject_gives_its_reason_to_the_journey(service: Running) -> None:
    dossier, handle = await service.journey("13")
    number = dossier.request_number
    for bad, code in [
        (reject(number, "bad_mood"), ErrorCode.INVALID_FIELD),
        (reject(number, "other", "  "), ErrorCode.MISSING_FIELDS),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await service.stub.RejectCase(bad)
        assert error_code(refused.value) is code
    assert (await get_case(service, number)).state == "pending"

    decision = await service.stub.RejectCase(reject(number, "other", "Pièce illisible"))

    assert decision.outcome == instruction_pb2.OUTCOME_REJECTED
    assert (decision.reason_code, decision.reason_text, decision.neph) == (
        "other",
        "Pièce illisible",
        "",
    )
    delivered = await handle.result()
    assert (delivered.outcome, delivered.reason_code, delivered.reason_text) == (
        Outcome.REJECTED,
        "other",
        "Pièce illisible",
    )
    assert await service.stub.RejectCase(reject(number, "other", "Pièce illisible")) == decision
    with pytest.raises(grpc.aio.AioRpcError) as opposite:
        await service.stub.AcceptCase(accept(number))
    assert error_code(opposite.value) is ErrorCode.CASE_ALREADY_DECIDED
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await service.stub.AcceptCase(accept(new_request_number(datetime.now(UTC))))
    assert error_code(unknown.value) is ErrorCode.CASE_NOT_FOUND


async def test_a_journey_that_is_not_waiting_refuses_the_decision(service: Running) -> None:
    dossier, handle = await service.journey("69", waiting=False)
    number = dossier.request_number

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.stub.AcceptCase(accept(number))

    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    error = PermisError.from_rpc_error(refused.value)
    assert error is not None and error.code is ErrorCode.JOURNEY_NOT_WAITING
    assert error.details["journey_reason"] == "journey_not_waiting"
    case = await get_case(service, number)
    assert (case.state, case.delivered_at) == ("accepted", "")
    assert rules.is_well_formed_neph(case.decision.neph)
    await handle.terminate("test done")


async def test_a_journey_refusal_keeps_the_journeys_code(service: Running) -> None:
    """The journey's own catalogue code reaches the instructor (here case_already_decided;
    only a refusal of an unknown type becomes journey_not_waiting)."""
    dossier = make_dossier("69")
    earlier = Decision(
        outcome=Outcome.REJECTED,
        instructor_id="ddt69-agent-7",
        decided_at=datetime.now(UTC),
        reason_code="other",
        reason_text="Décidé ailleurs",
    )
    handle = await service.temporal.start_workflow(
        DecidedJourney.run,
        earlier,
        id=f"instruction-test-decided-{dossier.request_number}",
        task_queue=TASK_QUEUE,
        execution_timeout=timedelta(minutes=5),
    )
    await service.stub.EnqueueCase(
        instruction_pb2.EnqueueCaseRequest(workflow_id=handle.id, dossier=dossier)
    )

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.stub.AcceptCase(accept(dossier.request_number))

    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    error = PermisError.from_rpc_error(refused.value)
    assert error is not None and error.code is ErrorCode.CASE_ALREADY_DECIDED
    assert error.message == "Ce dossier a déjà fait l'objet d'une décision."
    assert (error.details["journey_reason"], error.details["workflow_id"]) == (
        "case_already_decided",
        handle.id,
    )
    case = await get_case(service, dossier.request_number)
    assert (case.state, case.delivered_at) == ("accepted", "")  # recorded, not delivered
    await handle.terminate("test done")


async def test_decision_survives_temporal_outage_and_retry_delivers(service: Running) -> None:
    dossier, handle = await service.journey("974")
    number = dossier.request_number
    working_updater = service.servicer.updater
    unreachable = await Client.connect(
        f"127.0.0.1:{processes.free_port()}", lazy=True, data_converter=pydantic_data_converter
    )
    service.servicer.updater = TemporalJourneyUpdater(unreachable)

    with pytest.raises(grpc.aio.AioRpcError) as outage:
        await service.stub.AcceptCase(accept(number))

    assert outage.value.code() is grpc.StatusCode.UNAVAILABLE
    assert error_code(outage.value) is ErrorCode.SERVICE_UNAVAILABLE
    recorded = await get_case(service, number)
    assert (recorded.state, recorded.delivered_at) == ("accepted", "")
    assert recorded.decision.neph == f"{expected_prefix(recorded.decision, '974')}0001"
    assert recorded.decision.neph[4:8] == "9704"

    service.servicer.updater = working_updater
    decision = await service.stub.AcceptCase(accept(number))

    assert decision == recorded.decision  # same NEPH, same time: nothing allocated twice
    assert (await handle.result()).neph == decision.neph
    assert (await get_case(service, number)).delivered_at


@dataclass
class FakeJourneys:
    """A ``JourneyLookup`` the test sets: committed stages, and decisions held by ended
    journeys."""

    stages: dict[str, str] = field(default_factory=dict)
    ended: dict[str, Decision] = field(default_factory=dict)

    async def stage(self, workflow_id: str) -> str | None:
        return self.stages.get(workflow_id)

    async def ended_with(self, workflow_id: str) -> Decision | None:
        return self.ended.get(workflow_id)


async def test_a_decision_waits_until_the_journey_is_in_instruction(
    service: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Delivered once the journey's committed stage is past the enqueueing: sooner, the
    update would share a workflow task with the enqueue's result, which the SDK replays
    in another order. A gap too long: the decision stays recorded, the retry delivers."""
    dossier, handle = await service.journey("69")
    number = dossier.request_number
    journeys = FakeJourneys(stages={handle.id: "pre_check"})
    monkeypatch.setattr(service.servicer, "journeys", journeys)
    monkeypatch.setattr(instruction_server, "IN_INSTRUCTION_WAIT_SECONDS", 0.5)
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await service.stub.AcceptCase(accept(number))
    assert error_code(early.value) is ErrorCode.SERVICE_UNAVAILABLE
    recorded = await get_case(service, number)
    assert (recorded.state, recorded.delivered_at) == ("accepted", "")

    journeys.stages[handle.id] = "in_instruction"
    decision = await service.stub.AcceptCase(accept(number))
    assert decision == recorded.decision
    assert (await handle.result()).neph == decision.neph

    # The real lookup reads the server's state: no stage recorded on this test journey,
    # and an unknown journey is left for the update to refuse.
    lookup = TemporalJourneyLookup(service.temporal)
    assert await lookup.stage(handle.id) is None
    assert await lookup.stage("no-such-journey") is None
    assert await lookup.ended_with("no-such-journey") is None


class AnswerLost:
    """Delivers, then loses the answer (Temporal too slow to confirm in time)."""

    def __init__(self, inner: TemporalJourneyUpdater) -> None:
        self.inner = inner

    async def update(self, workflow_id: str, update: str, arg: BaseModel) -> None:
        await self.inner.update(workflow_id, update, arg)
        raise PermisError(ErrorCode.SERVICE_UNAVAILABLE)

    async def signal(self, workflow_id: str, signal: str, arg: BaseModel) -> None:
        await self.inner.signal(workflow_id, signal, arg)


async def test_a_retry_after_the_journey_ended_with_the_decision_is_delivered(
    service: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first delivery got through but its answer was lost, and the journey went on to
    its end: the instructor's retry finds it holding this decision, which is delivered."""
    dossier, handle = await service.journey("69")
    number = dossier.request_number
    journeys = FakeJourneys()
    monkeypatch.setattr(service.servicer, "journeys", journeys)
    working = service.servicer.updater
    assert isinstance(working, TemporalJourneyUpdater)
    monkeypatch.setattr(service.servicer, "updater", AnswerLost(working))
    with pytest.raises(grpc.aio.AioRpcError) as lost:
        await service.stub.AcceptCase(accept(number))
    assert error_code(lost.value) is ErrorCode.SERVICE_UNAVAILABLE
    held = await handle.result()  # the journey had it, and ended

    monkeypatch.setattr(service.servicer, "updater", working)
    journeys.ended[handle.id] = held.model_copy(update={"neph": "000000000000"})
    with pytest.raises(grpc.aio.AioRpcError) as other:  # ended with another decision
        await service.stub.AcceptCase(accept(number))
    assert error_code(other.value) is ErrorCode.JOURNEY_NOT_WAITING

    journeys.ended[handle.id] = held
    decision = await service.stub.AcceptCase(accept(number))
    assert decision.neph == held.neph
    assert (await get_case(service, number)).delivered_at


async def test_concurrent_accepts_get_distinct_nephs(service: Running) -> None:
    journeys = await asyncio.gather(*(service.journey("2A" if i % 2 else "2B") for i in range(20)))

    outcomes = await asyncio.gather(
        *(service.stub.AcceptCase(accept(dossier.request_number)) for dossier, _ in journeys),
        return_exceptions=True,
    )

    decisions = [o for o in outcomes if isinstance(o, instruction_pb2.Decision)]
    assert len(decisions) == 20, [o for o in outcomes if isinstance(o, BaseException)]
    nephs = [d.neph for d in decisions]
    assert len(set(nephs)) == 20
    assert all(rules.is_well_formed_neph(n) for n in nephs)
    # Corsica's two departments share the "20 01" series: orders 1..20 without gaps
    # (unless the month turned during the test).
    prefixes = {expected_prefix(d, "2A") for d in decisions}
    assert all(n[4:8] == "2001" for n in nephs)
    if len(prefixes) == 1:
        assert sorted(int(n[8:]) for n in nephs) == list(range(1, 21))
    results = await asyncio.gather(*(handle.result() for _, handle in journeys))
    assert [r.neph for r in results] == nephs


async def test_racing_accept_and_reject_one_wins(service: Running) -> None:
    dossier, handle = await service.journey("69")
    number = dossier.request_number

    outcomes = await asyncio.gather(
        service.stub.AcceptCase(accept(number)),
        service.stub.RejectCase(reject(number)),
        return_exceptions=True,
    )

    decisions = [o for o in outcomes if isinstance(o, instruction_pb2.Decision)]
    errors = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(decisions) == 1 and len(errors) == 1, outcomes
    assert error_code(errors[0]) is ErrorCode.CASE_ALREADY_DECIDED
    assert (await handle.result()).outcome.value == (await get_case(service, number)).state


async def test_queue_pages_walk_ties_and_a_large_queue_in_order(database_url: str) -> None:
    """Keyset pages over cases enqueued at the same instant (the cursor's second term)
    and over a queue of 2,000 cases: every case once, oldest first, on both databases."""
    engine = make_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(storage.Base.metadata.create_all)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    # Groups of five cases share their instant; numbers out of order within a group.
    cases = [
        (start + timedelta(minutes=i // 5), f"2611{(i * 7919) % 100_000:08d}") for i in range(2_000)
    ]
    rows = [
        {
            "request_number": number,
            "workflow_id": f"wf-{number}",
            "department": "69",
            "dossier": {},
            "state": storage.PENDING,
            "enqueued_at": at,
        }
        for at, number in cases
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(storage.CaseRow), rows)
    sessions = make_sessionmaker(engine)
    seen: list[tuple[datetime, str]] = []
    after = None
    async with sessions() as session:
        while page := await storage.pending_page(session, "69", after, 7):
            seen += [(row.enqueued_at, row.request_number) for row in page]
            after = seen[-1]
    await engine.dispose()
    assert seen == sorted(cases)

"""Retention: the purge workflow (activities mocked by name), its real activities on the
dev server, the daily schedule, and the documents service's purge on S3 and both DBs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from minio.error import S3Error
from temporalio import activity, workflow
from temporalio.client import Client, ScheduleActionStartWorkflow, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from deploy.local import processes, samples
from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from services.common.clients import ServiceClients
from services.common.grpc_server import start_server
from services.common.settings import Settings
from services.documents.server import build, definition
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from workflows.ids import new_request_number
from workflows.retention import RetentionPurgeWorkflow
from workflows.retention_activities import (
    JOURNEY_TYPES,
    SCHEDULE_ID,
    DeleteJourneyHistory,
    EndedJourney,
    EndedJourneys,
    JourneyHistoryDeleted,
    ListEndedJourneys,
    PurgeRequestDocuments,
    RequestDocumentsPurged,
    RetentionActivities,
    RetentionPurge,
    RetentionPurged,
    ended_before_query,
    ensure_retention_schedule,
)
from workflows.worker import WORKFLOWS


def test_journey_types_are_the_workers_journeys() -> None:
    assert set(JOURNEY_TYPES) == {cls.__name__ for cls in WORKFLOWS}
    query = ended_before_query(datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC), ["A", "B"])
    assert query == (
        "WorkflowType IN ('A', 'B') AND ExecutionStatus != 'Running'"
        " AND CloseTime < '2027-01-02T03:04:05.000000Z'"
    )


# ---- the workflow's logic, activities mocked by name (time-skipping server) ----------


async def test_purge_walks_every_page_and_purges_each_journey(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    numbers = [new_request_number(datetime(2024, 1, 1)) for _ in range(3)]
    pages = {
        None: EndedJourneys(
            journeys=[
                EndedJourney(workflow_id=f"inscription-{n}", run_id=f"r{i}", request_number=n)
                for i, n in enumerate(numbers[:2])
            ],
            next_page_token=b"page-2",
        ),
        b"page-2": EndedJourneys(
            journeys=[
                EndedJourney(
                    workflow_id=f"title-{numbers[2]}", run_id="r2", request_number=numbers[2]
                )
            ]
        ),
    }
    listed: list[ListEndedJourneys] = []
    calls: list[str] = []

    @activity.defn(name="list_ended_journeys")
    async def list_ended(request: ListEndedJourneys) -> EndedJourneys:
        listed.append(request)
        return pages[request.next_page_token]

    @activity.defn(name="purge_request_documents")
    async def purge(request: PurgeRequestDocuments) -> RequestDocumentsPurged:
        calls.append(f"purge {request.request_number}")
        return RequestDocumentsPurged(deleted=2, already_purged=False)

    @activity.defn(name="delete_journey_history")
    async def delete(request: DeleteJourneyHistory) -> JourneyHistoryDeleted:
        calls.append(f"delete {request.workflow_id}")
        return JourneyHistoryDeleted(deleted=True)

    queue = f"retention-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[RetentionPurgeWorkflow],
        activities=[list_ended, purge, delete],
    ):
        before = await time_skipping_env.get_current_time()
        result: RetentionPurged = await time_skipping_env.client.execute_workflow(
            RetentionPurgeWorkflow.run,
            RetentionPurge(retention_days=730),
            id=f"retention-{uuid.uuid4()}",
            task_queue=queue,
        )
    assert result.journeys_purged == 3
    assert result.documents_deleted == 6
    assert [r.next_page_token for r in listed] == [None, b"page-2"]
    assert abs(result.cutoff - (before - timedelta(days=730))) < timedelta(minutes=5)
    assert all(r.cutoff == result.cutoff for r in listed)
    assert calls == [
        f"purge {numbers[0]}",
        f"delete inscription-{numbers[0]}",
        f"purge {numbers[1]}",
        f"delete inscription-{numbers[1]}",
        f"purge {numbers[2]}",
        f"delete title-{numbers[2]}",
    ]


# ---- the real listing and deletion on the dev server ---------------------------------


@workflow.defn(name="RetentionTestJourney", sandboxed=False)  # test-module imports
class EndedJourneyWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"bonjour {name}"


class NoDocuments:
    """Stands in for the documents service: purges are counted, never refused."""

    def __init__(self) -> None:
        self.purged: list[str] = []

    @activity.defn(name="purge_request_documents")
    async def purge(self, request: PurgeRequestDocuments) -> RequestDocumentsPurged:
        self.purged.append(request.request_number)
        return RequestDocumentsPurged(deleted=0, already_purged=False)


async def visible(client: Client, query: str, count: int) -> None:
    for _ in range(100):
        if len([w async for w in client.list_workflows(query)]) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not {count} in visibility: {query}")


async def test_real_purge_lists_ended_journeys_and_deletes_their_history(
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    queue = f"retention-{uuid.uuid4()}"
    numbers = [new_request_number(datetime.now(UTC)) for _ in range(2)]
    services = ServiceClients(Settings())
    real = RetentionActivities(client, services)
    fake = NoDocuments()
    async with Worker(
        client,
        task_queue=queue,
        workflows=[RetentionPurgeWorkflow, EndedJourneyWorkflow],
        activities=[real.list_ended_journeys, real.delete_journey_history, fake.purge],
    ):
        for number in numbers:
            await client.execute_workflow(
                EndedJourneyWorkflow.run, number, id=f"test-{number}", task_queue=queue
            )
        # A journey still running is never purged.
        running = await client.start_workflow(
            "RetentionTestJourneyRunning",
            "x",
            id=f"test-running-{uuid.uuid4()}",
            task_queue=f"{queue}-nobody",  # no worker: it stays running
        )
        ours = "WorkflowType = 'RetentionTestJourney' AND ExecutionStatus = 'Completed'"
        await visible(client, ours, 2)
        request = RetentionPurge(
            retention_days=0,
            workflow_types=["RetentionTestJourney", "RetentionTestJourneyRunning"],
            page_size=1,
        )
        first: RetentionPurged = await client.execute_workflow(
            RetentionPurgeWorkflow.run, request, id=f"retention-{uuid.uuid4()}", task_queue=queue
        )
        assert first.journeys_purged >= 2  # page by page (page_size=1)
        assert set(numbers) <= set(fake.purged)
        assert not [n for n in fake.purged if n.startswith("running-")]
        description = await running.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        await running.terminate()
        # Deletion is asynchronous on the server (and can take a while on the dev server);
        # a purge of an execution that is no longer there counts as done.
        again = await real.delete_journey_history(
            DeleteJourneyHistory(workflow_id=f"test-{uuid.uuid4()}", run_id=str(uuid.uuid4()))
        )
        assert again.deleted is False
    await services.close()


async def test_schedule_is_created_once_and_follows_the_settings(
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    await ensure_retention_schedule(client, Settings(retention_days=730))
    await ensure_retention_schedule(client, Settings(retention_days=365))  # no error: updated
    description = await client.get_schedule_handle(SCHEDULE_ID).describe()
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "RetentionPurgeWorkflow"
    (calendar,) = description.schedule.spec.calendars
    assert [r.start for r in calendar.hour] == [3]
    (argument,) = action.args
    decoded = await client.data_converter.decode([argument], [RetentionPurge])  # type: ignore[list-item]
    assert decoded[0].retention_days == 365
    await client.get_schedule_handle(SCHEDULE_ID).delete()


# ---- the documents service's purge: S3 and both databases ----------------------------

BUCKET = f"permis-test-retention-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def documents(
    database_url: str, s3_server: processes.ChildProcess
) -> AsyncIterator[tuple[documents_pb2_grpc.DocumentServiceStub, object]]:
    settings = Settings(
        database_url=database_url,
        s3_endpoint=f"127.0.0.1:{s3_server.ports['s3']}",
        s3_access_key=S3_ACCESS_KEY,
        s3_secret_key=S3_SECRET_KEY,
        s3_bucket=BUCKET,
    )
    servicer, engine = await build(settings)
    server, port = await start_server([definition(servicer)], "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield documents_pb2_grpc.DocumentServiceStub(channel), servicer
    finally:
        await channel.close()
        await server.stop(5)
        await engine.dispose()


async def test_purge_deletes_objects_and_rows_once(documents: tuple) -> None:
    stub, servicer = documents
    number, other = new_request_number(datetime.now(UTC)), new_request_number(datetime.now(UTC))
    stored = []
    for request_number in (number, number, other):
        stored.append(
            await stub.UploadDocument(
                documents_pb2.UploadDocumentRequest(
                    request_number=request_number,
                    kind="proof_of_address",
                    filename="justificatif.pdf",
                    content=samples.pdf("Justificatif de domicile"),
                )
            )
        )
    purge = documents_pb2.PurgeRequestDocumentsRequest(request_number=number)
    first = await stub.PurgeRequestDocuments(purge)
    assert (first.deleted, first.already_purged) == (2, False)
    listed = await stub.ListDocuments(documents_pb2.ListDocumentsRequest(request_number=number))
    assert list(listed.documents) == []
    for document in stored[:2]:
        with pytest.raises(S3Error):
            servicer.objects.client.stat_object(BUCKET, document.object_key)
    # The other request keeps its document, bytes and all.
    servicer.objects.client.stat_object(BUCKET, stored[2].object_key)
    again = await stub.PurgeRequestDocuments(purge)
    assert (again.deleted, again.already_purged) == (0, True)
    assert again.purged_at == first.purged_at

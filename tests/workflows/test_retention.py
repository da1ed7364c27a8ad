"""Retention: the purge workflow (activities mocked by name), its real activities on the
dev server, the daily schedule, and the documents service's purge on S3 and both DBs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from minio.error import S3Error
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    WorkflowExecutionStatus,
    WorkflowHistory,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from deploy.local import processes, samples
from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from services.common import migrations
from services.common.clients import ServiceClients
from services.common.db import make_engine, make_sessionmaker
from services.common.grpc_server import start_server
from services.common.payload_codec import data_converter
from services.common.settings import Settings
from services.documents.server import build, definition
from services.identity import rules as identity_rules
from services.identity.server import definition as identity_definition
from services.identity.storage import AccountStore
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.workflows.retention_histories import (
    CURRENT,
    FROZEN,
    StandInRetention,
    run_purge,
)
from tests.workflows.retention_histories import HISTORIES as RETENTION_HISTORIES
from workflows.ids import ACCOUNT_ID, new_request_number
from workflows.retention import RetentionPurgeWorkflow
from workflows.retention_activities import (
    JOURNEY_TYPES,
    SCHEDULE_ID,
    AnonymiseInactiveAccounts,
    DeleteJourneyHistory,
    PurgeRequestDocuments,
    RequestDocumentsPurged,
    RetentionActivities,
    RetentionPurge,
    RetentionPurged,
    ended_before_query,
    ensure_retention_schedule,
    recent_journeys_query,
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


async def test_purge_walks_every_page_then_anonymises_inactive_accounts(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    stand_in = StandInRetention()
    before = await time_skipping_env.get_current_time()
    result = await (await run_purge(time_skipping_env, stand_in)).result()

    assert result.journeys_purged == 3
    assert result.documents_deleted == 6
    assert [r.next_page_token for r in stand_in.listed] == [None, b"page-2"]
    assert abs(result.cutoff - (before - timedelta(days=730))) < timedelta(minutes=5)
    assert all(r.cutoff == result.cutoff for r in stand_in.listed)
    numbers = stand_in.numbers
    assert stand_in.calls == [
        f"purge {numbers[0]}",
        f"delete inscription-{numbers[0]}",
        f"purge {numbers[1]}",
        f"delete inscription-{numbers[1]}",
        f"purge {numbers[2]}",
        f"delete title-{numbers[2]}",
    ]
    # Then the accounts, page after page from the last id, with the same cutoff.
    assert [p.after_account_id for p in stand_in.account_pages] == ["", "acc-2"]
    assert all(p.inactive_since == result.cutoff for p in stand_in.account_pages)
    assert all(p.page_size == 2 for p in stand_in.account_pages)
    assert result.accounts_anonymised == 2


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
        activities=[
            real.list_ended_journeys,
            real.delete_journey_history,
            fake.purge,
            StandInRetention().anonymise,  # accounts: their own test below
        ],
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


# ---- the real anonymisation: identity (SQLite and PostgreSQL), the dev server's visibility


async def test_real_anonymisation_spares_accounts_with_a_recent_journey(
    temporal_env: WorkflowEnvironment, database_url: str
) -> None:
    client = temporal_env.client
    engine = make_engine(database_url)
    await migrations.upgrade(engine, "identity")
    sessions = make_sessionmaker(engine)
    store = AccountStore(sessions)
    long_ago = datetime.now(UTC) - timedelta(days=800)
    accounts = {}
    for name in ("quiet", "running", "recent"):
        row = await store.create(
            identifier=identity_rules.new_identifier(),
            email=f"{name}.{uuid.uuid4().hex[:8]}@exemple.fr",
            password_hash="",
            given_names="Jeanne",
            family_name=name,
            birth_date=date(2001, 4, 17),
            role=identity_rules.CANDIDATE_ROLE,
            now=long_ago,
        )
        assert row is not None
        accounts[name] = row.account_id
    settings = Settings(session_secret="a-test-secret-of-more-than-32-characters")
    server, port = await start_server(
        [identity_definition(sessions, settings, send=no_email)], "127.0.0.1:0"
    )
    services = ServiceClients(Settings(identity_address=f"127.0.0.1:{port}"))
    queue = f"retention-{uuid.uuid4()}"
    try:
        async with Worker(client, task_queue=queue, workflows=[EndedJourneyWorkflow]):
            # One journey still running, one ended today: both keep their account.
            await client.start_workflow(
                "RetentionTestJourneyRunning",
                "x",
                id=f"test-running-{uuid.uuid4()}",
                task_queue=f"{queue}-nobody",
                search_attributes=of_account(accounts["running"]),
            )
            await client.execute_workflow(
                EndedJourneyWorkflow.run,
                "y",
                id=f"test-recent-{uuid.uuid4()}",
                task_queue=queue,
                search_attributes=of_account(accounts["recent"]),
            )
        since = datetime.now(UTC) - timedelta(days=730)
        for name in ("running", "recent"):
            await visible(client, recent_journeys_query(accounts[name], since), 1)

        real = RetentionActivities(client, services)
        page = AnonymiseInactiveAccounts(inactive_since=since, page_size=1000)
        first = await real.anonymise_inactive_accounts(page)
        assert first.done and (first.anonymised, first.kept) == (1, 2)
        rows = {name: await store.by_id(account_id) for name, account_id in accounts.items()}
        assert {name: row.status for name, row in rows.items() if row} == {
            "quiet": identity_rules.ANONYMISED,
            "running": "active",
            "recent": "active",
        }
        quiet = rows["quiet"]
        assert quiet is not None and quiet.family_name == "" and quiet.email.endswith(".invalid")
        # A second run finds only the two it keeps.
        again = await real.anonymise_inactive_accounts(page)
        assert (again.anonymised, again.kept) == (0, 2)
    finally:
        await services.close()
        await server.stop(None)
        await engine.dispose()


async def no_email(to: str, subject: str, body: str) -> None:
    raise AssertionError(f"no email expected, got {subject!r} to {to}")


def of_account(account_id: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(ACCOUNT_ID, account_id)])


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


# ---- determinism: recorded purges still replay ----------------------------------------


def retention_history(name: str) -> WorkflowHistory:
    path = RETENTION_HISTORIES / f"{name}.json"
    return WorkflowHistory.from_json(f"retention-{name}", path.read_text())


@pytest.mark.parametrize(
    ("name", "anonymises"), [*((n, False) for n in FROZEN), *((n, True) for n in CURRENT)]
)
async def test_recorded_purges_replay(name: str, anonymises: bool) -> None:
    history = retention_history(name)
    replayer = Replayer(workflows=[RetentionPurgeWorkflow], data_converter=data_converter())
    assert (await replayer.replay_workflow(history)).replay_failure is None
    # The frozen purge ran before accounts were anonymised: no patch marker, no such step.
    kinds = {event.event_type for event in history.events}
    assert (EventType.EVENT_TYPE_MARKER_RECORDED in kinds) is anonymises
    scheduled = {
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    assert ("anonymise_inactive_accounts" in scheduled) is anonymises

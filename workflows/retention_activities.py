"""Retention's side effects and its daily schedule (outside the workflow sandbox).

- ``list_ended_journeys``: one page of journeys that ended before the cutoff, from
  Temporal's visibility (``CloseTime``);
- ``purge_request_documents``: the documents service deletes the request's documents
  (S3 objects and rows) and writes its purge log (idempotent);
- ``delete_journey_history``: the journey's history, which holds the candidate's
  personal data, is deleted from Temporal; an execution already gone counts as done.
  Deleted, it no longer appears in visibility: that marks it purged.
- ``anonymise_inactive_accounts``: one page of candidate accounts identity finds without
  a login since the cutoff; each one with no journey running or ended since is
  anonymised by identity (which checks the inactivity again, in its transaction).

``ensure_retention_schedule`` creates (or brings up to date) the daily Temporal Schedule
that starts ``RetentionPurgeWorkflow``; the worker calls it at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from permis.documents.v1 import documents_pb2
from permis.identity.v1 import identity_pb2
from services.common.clients import ServiceClients
from services.common.settings import Settings
from workflows.ids import ACCOUNT_ID, is_request_number

# The journeys whose documents and personal data retention removes (workflow types).
JOURNEY_TYPES: tuple[str, ...] = ("InscriptionWorkflow", "TitleWorkflow", "TitleDeliveryWorkflow")
SCHEDULE_ID = "retention-purge"
WORKFLOW_ID = "retention-purge"
PAGE_SIZE = 100
GRPC_DEADLINE_SECONDS = 30.0


class RetentionPurge(BaseModel):
    """The workflow's input. ``retention_days`` after a journey ended, it goes."""

    retention_days: int = 730
    workflow_types: list[str] = Field(default_factory=lambda: list(JOURNEY_TYPES))
    page_size: int = PAGE_SIZE
    # Carried over continue-as-new (a long purge keeps its cutoff and place).
    cutoff: datetime | None = None
    next_page_token: bytes | None = None
    purged_so_far: int = 0
    # Set once the journeys are done and the accounts' pages begin (continue-as-new).
    accounts_after: str | None = None
    accounts_anonymised_so_far: int = 0


class RetentionPurged(BaseModel):
    cutoff: datetime
    journeys_purged: int
    documents_deleted: int = 0
    accounts_anonymised: int = 0


class ListEndedJourneys(BaseModel):
    cutoff: datetime
    workflow_types: list[str]
    page_size: int = PAGE_SIZE
    next_page_token: bytes | None = None


class EndedJourney(BaseModel):
    workflow_id: str
    run_id: str
    request_number: str
    closed_at: datetime | None = None


class EndedJourneys(BaseModel):
    journeys: list[EndedJourney]
    next_page_token: bytes | None = None


class PurgeRequestDocuments(BaseModel):
    request_number: str


class RequestDocumentsPurged(BaseModel):
    deleted: int
    already_purged: bool


class DeleteJourneyHistory(BaseModel):
    workflow_id: str
    run_id: str


class JourneyHistoryDeleted(BaseModel):
    deleted: bool  # False: it was already gone


class AnonymiseInactiveAccounts(BaseModel):
    inactive_since: datetime
    page_size: int = PAGE_SIZE
    after_account_id: str = ""  # keyset: the last account id of the previous page


class InactiveAccountsAnonymised(BaseModel):
    anonymised: int
    kept: int  # a journey of theirs is running, or ended since the cutoff
    last_account_id: str
    done: bool  # the last page


def visibility_stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def recent_journeys_query(account_id: str, since: datetime) -> str:
    """The visibility query of an account's journeys running, or ended since ``since``."""
    if "'" in account_id or "\\" in account_id:  # ids are UUIDs; never quote one out
        raise ValueError(f"not an account id: {account_id!r}")
    return (
        f"{ACCOUNT_ID.name} = '{account_id}' AND (ExecutionStatus = 'Running' "
        f"OR CloseTime >= '{visibility_stamp(since)}')"
    )


def workflow_type_in(workflow_types: Sequence[str]) -> str:
    """The visibility clause ``WorkflowType IN (...)`` for these types."""
    names = ", ".join(f"'{name}'" for name in workflow_types)
    return f"WorkflowType IN ({names})"


def ended_before_query(cutoff: datetime, workflow_types: Sequence[str]) -> str:
    """The visibility query of journeys that ended (any way) before ``cutoff``."""
    stamp = visibility_stamp(cutoff)
    clause = workflow_type_in(workflow_types)
    return f"{clause} AND ExecutionStatus != 'Running' AND CloseTime < '{stamp}'"


class RetentionActivities:
    def __init__(self, client: Client, clients: ServiceClients) -> None:
        self._client = client
        self._clients = clients

    @activity.defn
    async def list_ended_journeys(self, request: ListEndedJourneys) -> EndedJourneys:
        pages = self._client.list_workflows(
            ended_before_query(request.cutoff, request.workflow_types),
            page_size=request.page_size,
            next_page_token=request.next_page_token,
        )
        await pages.fetch_next_page(page_size=request.page_size)
        journeys = [
            EndedJourney(
                workflow_id=execution.id,
                run_id=execution.run_id,
                request_number=execution.id.split("-", 1)[-1],
                closed_at=execution.close_time,
            )
            for execution in pages.current_page or []
        ]
        return EndedJourneys(journeys=journeys, next_page_token=pages.next_page_token or None)

    @activity.defn
    async def purge_request_documents(
        self, request: PurgeRequestDocuments
    ) -> RequestDocumentsPurged:
        if not is_request_number(request.request_number):
            return RequestDocumentsPurged(deleted=0, already_purged=True)  # not a request
        purged = await self._clients.documents.PurgeRequestDocuments(
            documents_pb2.PurgeRequestDocumentsRequest(request_number=request.request_number),
            timeout=GRPC_DEADLINE_SECONDS,
        )
        return RequestDocumentsPurged(deleted=purged.deleted, already_purged=purged.already_purged)

    @activity.defn
    async def delete_journey_history(self, request: DeleteJourneyHistory) -> JourneyHistoryDeleted:
        try:
            await self._client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=self._client.namespace,
                    workflow_execution=WorkflowExecution(
                        workflow_id=request.workflow_id, run_id=request.run_id
                    ),
                )
            )
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return JourneyHistoryDeleted(deleted=False)
            raise
        return JourneyHistoryDeleted(deleted=True)

    @activity.defn
    async def anonymise_inactive_accounts(
        self, request: AnonymiseInactiveAccounts
    ) -> InactiveAccountsAnonymised:
        since = request.inactive_since.isoformat()
        page = await self._clients.identity.ListInactiveAccounts(
            identity_pb2.ListInactiveAccountsRequest(
                inactive_since=since,
                page_size=request.page_size,
                after_account_id=request.after_account_id,
            ),
            timeout=GRPC_DEADLINE_SECONDS,
        )
        anonymised = kept = 0
        for account_id in page.account_ids:
            recent = await self._client.count_workflows(
                recent_journeys_query(account_id, request.inactive_since)
            )
            if recent.count:
                kept += 1
                continue
            result = await self._clients.identity.AnonymiseAccount(
                identity_pb2.AnonymiseAccountRequest(account_id=account_id, inactive_since=since),
                timeout=GRPC_DEADLINE_SECONDS,
            )
            anonymised += result.anonymised
        ids = list(page.account_ids)
        return InactiveAccountsAnonymised(
            anonymised=anonymised,
            kept=kept,
            last_account_id=ids[-1] if ids else request.after_account_id,
            done=len(ids) < request.page_size,
        )

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.list_ended_journeys,
            self.purge_request_documents,
            self.delete_journey_history,
            self.anonymise_inactive_accounts,
        ]


def retention_schedule(settings: Settings, *, hour: int = 3) -> Schedule:
    """Daily at ``hour`` (UTC); a run still going when the next is due is not doubled."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "RetentionPurgeWorkflow",
            RetentionPurge(retention_days=settings.retention_days),
            id=WORKFLOW_ID,
            task_queue=settings.temporal_task_queue,
            execution_timeout=timedelta(hours=23),
        ),
        spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)])]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_retention_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or bring an existing one to these settings: idempotent."""
    schedule = retention_schedule(settings)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(replace)

"""Retention purge histories for the replay test: ``python -m tests.workflows.retention_histories``.

A purge runs for minutes once a day, but one can be running when a worker is deployed,
and it may continue as new for hours on a large backlog: its changes go behind
``workflow.patched`` like the journeys'. Histories live in ``histories/retention/``:

- ``before_accounts``: recorded by the purge before it anonymised accounts (frozen: the
  current code cannot produce it);
- ``with_accounts``: the current purge, journeys then accounts.

Each runs the workflow with stand-in activities (by name) on the time-skipping server.
An existing file is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from deploy.local import processes
from services.common.payload_codec import data_converter
from services.common.process_exit import run_then_leave
from workflows.ids import new_request_number
from workflows.retention import RetentionPurgeWorkflow
from workflows.retention_activities import (
    AnonymiseInactiveAccounts,
    DeleteJourneyHistory,
    EndedJourney,
    EndedJourneys,
    InactiveAccountsAnonymised,
    JourneyHistoryDeleted,
    ListEndedJourneys,
    PurgeRequestDocuments,
    RequestDocumentsPurged,
    RetentionPurge,
    RetentionPurged,
)

HISTORIES = Path(__file__).parent / "histories" / "retention"
FROZEN = ("before_accounts",)
CURRENT = ("with_accounts",)
# Three inactive accounts in two pages of two: the first page anonymises one and keeps
# one (a recent journey), the second anonymises the last.
ACCOUNT_PAGES = {
    "": InactiveAccountsAnonymised(anonymised=1, kept=1, last_account_id="acc-2", done=False),
    "acc-2": InactiveAccountsAnonymised(anonymised=1, kept=0, last_account_id="acc-3", done=True),
}


class StandInRetention:
    """The purge's activities by name: two pages of ended journeys, two of accounts."""

    def __init__(self) -> None:
        numbers = [new_request_number(datetime(2024, 1, 1, tzinfo=UTC)) for _ in range(3)]
        self.numbers = numbers
        self.pages = {
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
        self.listed: list[ListEndedJourneys] = []
        self.account_pages: list[AnonymiseInactiveAccounts] = []
        self.calls: list[str] = []

    @activity.defn(name="list_ended_journeys")
    async def list_ended(self, request: ListEndedJourneys) -> EndedJourneys:
        self.listed.append(request)
        return self.pages[request.next_page_token]

    @activity.defn(name="purge_request_documents")
    async def purge(self, request: PurgeRequestDocuments) -> RequestDocumentsPurged:
        self.calls.append(f"purge {request.request_number}")
        return RequestDocumentsPurged(deleted=2, already_purged=False)

    @activity.defn(name="delete_journey_history")
    async def delete(self, request: DeleteJourneyHistory) -> JourneyHistoryDeleted:
        self.calls.append(f"delete {request.workflow_id}")
        return JourneyHistoryDeleted(deleted=True)

    @activity.defn(name="anonymise_inactive_accounts")
    async def anonymise(self, request: AnonymiseInactiveAccounts) -> InactiveAccountsAnonymised:
        self.account_pages.append(request)
        return ACCOUNT_PAGES[request.after_account_id]

    def all(self) -> list[Callable[..., Any]]:
        return [self.list_ended, self.purge, self.delete, self.anonymise]


async def run_purge(
    env: WorkflowEnvironment, stand_in: StandInRetention
) -> WorkflowHandle[Any, RetentionPurged]:
    """Runs one purge (730 days) with the stand-ins to its end; its handle."""
    queue = f"retention-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=queue, workflows=[RetentionPurgeWorkflow], activities=stand_in.all()
    ):
        handle = await env.client.start_workflow(
            RetentionPurgeWorkflow.run,
            RetentionPurge(retention_days=730, page_size=2),
            id=f"retention-{uuid.uuid4()}",
            task_queue=queue,
        )
        await handle.result()
    return handle


async def record(names: list[str]) -> None:
    if not names:
        print("nothing to record (existing histories are kept; --force to re-record)")
        return
    HISTORIES.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=processes.binary("temporal-test-server"),
    )
    try:
        for name in names:
            handle = await run_purge(env, StandInRetention())
            history = await handle.fetch_history()
            path = HISTORIES / f"{name}.json"
            path.write_text(history.to_json())
            print(f"wrote {path}")
    finally:
        await env.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description="Record the retention purge's histories.")
    parser.add_argument("names", nargs="*", help=f"among {list(CURRENT)} (default: all)")
    parser.add_argument("--force", action="store_true", help="overwrite existing histories")
    parser.add_argument(
        "--frozen", action="store_true", help=f"allow {list(FROZEN)} (only with the old code)"
    )
    args = parser.parse_args()
    allowed = [*CURRENT, *(FROZEN if args.frozen else ())]
    unknown = sorted(set(args.names) - set(allowed))
    if unknown:
        parser.error(f"unknown histories {unknown}; {list(FROZEN)} are frozen")
    names = args.names or list(CURRENT)
    if not args.force:
        names = [name for name in names if not (HISTORIES / f"{name}.json").exists()]
    run_then_leave(record(names))  # leaves with os._exit: the Temporal core (sdk-python#300)


if __name__ == "__main__":
    main()

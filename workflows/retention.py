"""Retention: a journey's documents and personal data go ``retention_days`` after it ended.

``RetentionPurgeWorkflow`` is started daily by the Temporal Schedule ``retention-purge``
(``workflows.retention_activities.ensure_retention_schedule``). It lists, page by page,
the journeys whose ``CloseTime`` is before the cutoff, and for each: purges its documents
(documents service, purge log), then deletes its history. Then the candidate accounts
with no login since the cutoff, and no journey running or ended since, are anonymised
(identity), page by page. Every step is idempotent, so a retried activity or a second
run changes nothing more; a long purge continues as new with its cutoff and place.

Anonymising accounts came after the first version: ``PATCH_ANONYMISE_ACCOUNTS`` keeps a
purge that was running then on its old path.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.retention_activities import (
        AnonymiseInactiveAccounts,
        DeleteJourneyHistory,
        ListEndedJourneys,
        PurgeRequestDocuments,
        RetentionActivities,
        RetentionPurge,
        RetentionPurged,
    )

ACTIVITY_TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
PATCH_ANONYMISE_ACCOUNTS = "retention-anonymise-accounts"


@workflow.defn
class RetentionPurgeWorkflow:
    @workflow.run
    async def run(self, request: RetentionPurge) -> RetentionPurged:
        cutoff = request.cutoff or workflow.now() - timedelta(days=request.retention_days)
        workflow.set_current_details(f"Purge des parcours terminés avant {cutoff:%Y-%m-%d}")
        purged, documents = request.purged_so_far, 0
        if request.accounts_after is None:  # a continued run past the journeys skips them
            purged, documents = await self._purge_journeys(request, cutoff)
        anonymised = 0
        if workflow.patched(PATCH_ANONYMISE_ACCOUNTS):
            anonymised = await self._anonymise_accounts(request, cutoff, purged)
        return RetentionPurged(
            cutoff=cutoff,
            journeys_purged=purged,
            documents_deleted=documents,
            accounts_anonymised=anonymised,
        )

    async def _purge_journeys(self, request: RetentionPurge, cutoff: datetime) -> tuple[int, int]:
        """(journeys purged, documents deleted), once every page is done."""
        token = request.next_page_token
        purged = request.purged_so_far
        documents = 0
        while True:
            page = await workflow.execute_activity_method(
                RetentionActivities.list_ended_journeys,
                ListEndedJourneys(
                    cutoff=cutoff,
                    workflow_types=request.workflow_types,
                    page_size=request.page_size,
                    next_page_token=token,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
            )
            for journey in page.journeys:
                result = await workflow.execute_activity_method(
                    RetentionActivities.purge_request_documents,
                    PurgeRequestDocuments(request_number=journey.request_number),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=RETRY,
                    summary=f"documents de {journey.request_number}",
                )
                documents += result.deleted
                await workflow.execute_activity_method(
                    RetentionActivities.delete_journey_history,
                    DeleteJourneyHistory(workflow_id=journey.workflow_id, run_id=journey.run_id),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=RETRY,
                    summary=f"historique de {journey.workflow_id}",
                )
                purged += 1
            token = page.next_page_token
            if not token:
                return purged, documents
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    request.model_copy(
                        update={"cutoff": cutoff, "next_page_token": token, "purged_so_far": purged}
                    )
                )

    async def _anonymise_accounts(
        self, request: RetentionPurge, cutoff: datetime, purged: int
    ) -> int:
        """Accounts anonymised, once every page is done."""
        after = request.accounts_after or ""
        anonymised = request.accounts_anonymised_so_far
        while True:
            page = await workflow.execute_activity_method(
                RetentionActivities.anonymise_inactive_accounts,
                AnonymiseInactiveAccounts(
                    inactive_since=cutoff, page_size=request.page_size, after_account_id=after
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                summary=f"comptes sans connexion depuis le {cutoff:%Y-%m-%d}",
            )
            anonymised += page.anonymised
            if page.done:
                return anonymised
            after = page.last_account_id
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    request.model_copy(
                        update={
                            "cutoff": cutoff,
                            "purged_so_far": purged,
                            "accounts_after": after,
                            "accounts_anonymised_so_far": anonymised,
                        }
                    )
                )

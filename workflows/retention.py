"""Retention: a journey's documents and personal data go ``retention_days`` after it ended.

``RetentionPurgeWorkflow`` is started daily by the Temporal Schedule ``retention-purge``
(``workflows.retention_activities.ensure_retention_schedule``). It lists, page by page,
the journeys whose ``CloseTime`` is before the cutoff, and for each: purges its documents
(documents service, purge log), then deletes its history. Every step is idempotent, so a
retried activity or a second run changes nothing more; a long purge continues as new
with its cutoff and place.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.retention_activities import (
        DeleteJourneyHistory,
        ListEndedJourneys,
        PurgeRequestDocuments,
        RetentionActivities,
        RetentionPurge,
        RetentionPurged,
    )

ACTIVITY_TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


@workflow.defn
class RetentionPurgeWorkflow:
    @workflow.run
    async def run(self, request: RetentionPurge) -> RetentionPurged:
        cutoff = request.cutoff or workflow.now() - timedelta(days=request.retention_days)
        token = request.next_page_token
        purged = request.purged_so_far
        documents = 0
        workflow.set_current_details(f"Purge des parcours terminés avant {cutoff:%Y-%m-%d}")
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
                return RetentionPurged(
                    cutoff=cutoff, journeys_purged=purged, documents_deleted=documents
                )
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    request.model_copy(
                        update={"cutoff": cutoff, "next_page_token": token, "purged_so_far": purged}
                    )
                )

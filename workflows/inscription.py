"""The inscription journey: one durable workflow per request, from draft to decision.

The candidate fills the steps and submits; the request goes through the CTN pre-check
and the DDT instruction (``workflows.procedure``, shared with the title journey). A
category-B inscription gets its récépissé de dépôt at submission; an accepted one its
NEPH and attestation d'inscription.

Journeys started by older code keep replaying: what they would see differently is behind
``workflow.patched`` (the ``PATCH_*`` ids below), and ``tests/workflows/histories`` holds
histories of both generations.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    # pydantic imports it lazily to check EmailStr; importing it here keeps it out of the
    # sandbox (where a late import is slow and warned about).
    import email_validator  # noqa: F401

    import workflows.messages as messages
    from workflows.activities import JourneyActivities
    from workflows.models import (
        Category,
        Journey,
        MotifStep,
        Outcome,
        RenderAttestation,
        RenderReceipt,
        RequestView,
        Stage,
        StartInscription,
    )
    from workflows.procedure import (
        DRAFT_LIFETIME,
        GRPC_ACTIVITY_TIMEOUT,
        PATCH_ABANDONED_EMAIL,
        PATCH_EVERY_CHANGE_AT_START,
        PATCH_IN_INSTRUCTION_EMAIL,
        PATCH_RECEIPT,
        PATCH_REMINDERS,
        RENDER_TIMEOUT,
        RETRY,
        JourneyProcedure,
        refusal,
    )

__all__ = [
    "DRAFT_LIFETIME",
    "GRPC_ACTIVITY_TIMEOUT",
    "PATCH_ABANDONED_EMAIL",
    "PATCH_EVERY_CHANGE_AT_START",
    "PATCH_IN_INSTRUCTION_EMAIL",
    "PATCH_RECEIPT",
    "PATCH_REMINDERS",
    "RETRY",
    "InscriptionWorkflow",
    "refusal",
]


@workflow.defn(name="InscriptionWorkflow")
class InscriptionWorkflow(JourneyProcedure):
    JOURNEY = Journey.INSCRIPTION

    @workflow.init
    def __init__(self, start: StartInscription) -> None:
        self._begin(start)
        self._every_change = False

    # ---- the journey -------------------------------------------------------------------

    @workflow.run
    async def run(self, start: StartInscription) -> RequestView:
        # A journey started now takes every change at once, with one marker in its first
        # workflow task (which no update can share, the gateway answering the start only
        # once it completed). A marker further on could share its task with an update (the
        # DDT's decision arriving while an email goes out): such a task replays with the
        # update first, a nondeterminism error that blocks the journey after a restart.
        self._every_change = workflow.patched(PATCH_EVERY_CHANGE_AT_START)
        decision = await self._procedure(start)
        if decision is None:
            return await self._finish()

        if decision.outcome is Outcome.ACCEPTED:
            rendered = await workflow.execute_activity_method(
                JourneyActivities.render_attestation,
                RenderAttestation(
                    view=self._view, neph=decision.neph, decided_at=decision.decided_at
                ),
                start_to_close_timeout=RENDER_TIMEOUT,
                retry_policy=RETRY,
                summary="Production de l'attestation d'inscription",
            )
            self._view.neph = decision.neph
            self._view.attestation_document_id = rendered.document_id
            self._set_stage(Stage.ACCEPTED)
            await self._notify(messages.acceptance(self._view, self._recipient()))
        else:
            self._set_stage(Stage.REJECTED)
            await self._notify(messages.instruction_rejection(self._view, self._recipient()))
        return await self._finish()

    # ---- hooks of the procedure --------------------------------------------------------

    def _since(self, change: str) -> bool:
        # Journeys started before a change replay their old path (see PATCH_* ids); those
        # started before PATCH_EVERY_CHANGE_AT_START still decide each where it applies.
        return self._every_change or workflow.patched(change)

    async def _after_submission(self) -> None:
        if self._needs_receipt() and self._since(PATCH_RECEIPT):
            await self._render_receipt()

    def _needs_receipt(self) -> bool:
        """The notice: a category-B inscription gets a récépissé de dépôt at submission."""
        motif = self._view.motif
        return motif is not None and motif.category is Category.B

    async def _render_receipt(self) -> None:
        try:
            rendered = await workflow.execute_activity_method(
                JourneyActivities.render_receipt,
                RenderReceipt(view=self._view),
                start_to_close_timeout=RENDER_TIMEOUT,
                retry_policy=RETRY,
                summary="Production du récépissé de dépôt (catégorie B)",
            )
        except ActivityError as error:
            # A refusal must not hold the request back: it goes on to the CTN, and the
            # confirmation then does not announce a receipt that does not exist.
            workflow.logger.warning("Récépissé de dépôt non produit : %s", error.cause)
            return
        self._view.receipt_document_id = rendered.document_id

    # ---- candidate's motif step --------------------------------------------------------

    @workflow.update
    def set_motif(self, step: MotifStep) -> RequestView:
        return self._apply_motif(step)

    @set_motif.validator
    def _validate_set_motif(self, step: MotifStep) -> None:
        self._validate_motif()

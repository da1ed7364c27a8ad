"""The title journey (demande de fabrication du titre de conduite): one durable workflow
per request, from draft to the card in the candidate's hands (or destroyed).

The request follows the same procedure as an inscription (``workflows.procedure``): steps,
submission (photo code spent), CTN pre-check, DDT instruction with reminders, CTN agent
verdicts. Its first step names a title motif, the category and the candidate's NEPH; the
requirements are the title journey's (ASSR2 for a first title, the theft declaration...).
For an exam success, submitting also needs a PASS recorded by an examiner for that NEPH
and category (``check_exam_passed``), checked before the photo code is spent.

Once the DDT accepts: the delivery journey is started as a child (``TitleDeliveryWorkflow``,
id ``delivery-<request number>``, which the production service signals), the card is
ordered (``order_title``, naming that journey), and the request follows the card: each
status the child reports (``delivery_progress``) shows in the view and its history and is
emailed to the candidate. The request ends with the card's final state: delivered, or
destroyed (a new request is then needed).

The child is started before the order so that no partner event can reach a journey that
does not exist yet.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # pydantic imports it lazily to check EmailStr; importing it here keeps it out of the
    # sandbox (where a late import is slow and warned about).
    import email_validator  # noqa: F401

    import workflows.ids as ids
    import workflows.messages as messages
    from services.common.errors import ErrorCode
    from workflows.activities import JourneyActivities
    from workflows.delivery import TitleDeliveryWorkflow
    from workflows.models import (
        DELIVERY_STAGES,
        CheckExamPassed,
        Decision,
        DeliveryView,
        EmailMessage,
        Journey,
        OrderTitle,
        Outcome,
        RequestView,
        Stage,
        StartDelivery,
        StartTitle,
        TitleMotif,
        TitleMotifStep,
    )
    from workflows.procedure import GRPC_ACTIVITY_TIMEOUT, RETRY, JourneyProcedure, refusal

# The card's status changes (the child's ``delivery_progress`` signals) are queued by the
# handler and taken one at a time by the run loop, each with its email, so the commands
# never depend on how signals fall into activations (two signals around a worker's crash
# reached one workflow task, which replayed in another order: a nondeterminism error).
PATCH_PROGRESS_IN_ORDER = "delivery-progress-in-run-loop"

# A card is made for these motifs only once an examiner has recorded a pass.
EXAM_SUCCESS_MOTIFS = frozenset(
    {TitleMotif.EXAM_SUCCESS_FIRST_TITLE, TitleMotif.EXAM_SUCCESS_NEW_CATEGORY}
)


@workflow.defn(name="TitleWorkflow")
class TitleWorkflow(JourneyProcedure):
    JOURNEY = Journey.TITLE

    @workflow.init
    def __init__(self, start: StartTitle) -> None:
        self._begin(start)
        self._delivery: DeliveryView | None = None
        # Emails for the delivery statuses, sent by the run loop in the order reported.
        self._outbox: list[EmailMessage] = []
        # Status changes not yet taken by the run loop (PATCH_PROGRESS_IN_ORDER).
        self._progress: list[DeliveryView] = []
        self._progress_in_order = False

    # ---- the journey -------------------------------------------------------------------

    @workflow.run
    async def run(self, start: StartTitle) -> RequestView:
        # Decided in the first workflow task, which no update can share (a marker that
        # shares a task with an update may replay in another order).
        self._progress_in_order = workflow.patched(PATCH_PROGRESS_IN_ORDER)
        decision = await self._procedure(start)
        if decision is None:
            return await self._finish()
        if decision.outcome is Outcome.ACCEPTED:
            self._set_stage(Stage.ACCEPTED)
            await self._produce_and_deliver()
        else:
            self._set_stage(Stage.REJECTED)
            await self._notify(messages.instruction_rejection(self._view, self._recipient()))
        return await self._finish()

    async def _produce_and_deliver(self) -> None:
        view = self._view
        number = view.request_number
        motif, civil = self._title_motif(), view.civil_status
        assert civil is not None
        delivery = await workflow.start_child_workflow(
            TitleDeliveryWorkflow.run,
            StartDelivery(
                request_number=number,
                first_licence=motif.motif is TitleMotif.EXAM_SUCCESS_FIRST_TITLE,
            ),
            id=ids.delivery_workflow_id(number),
            static_summary=f"Remise du titre de conduite, demande {number}",
            static_details=(
                "Suivi du titre de conduite : fabrication, envoi par La Poste, 15 jours pour "
                "le retirer au bureau de poste, 6 mois pour en demander la réexpédition au "
                "Centre de Contact Citoyens, puis destruction."
            ),
        )
        await workflow.execute_activity_method(
            JourneyActivities.order_title,
            OrderTitle(
                request_number=number,
                workflow_id=delivery.id,
                neph=self._neph(),
                category=motif.category,
                family_name=civil.family_name,
                given_names=civil.given_names,
                address_line=messages.address_line(view),
                first_licence=motif.motif is TitleMotif.EXAM_SUCCESS_FIRST_TITLE,
            ),
            start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary="Commande du titre de conduite au service de production",
        )
        # Unless the card already moved on (its first event can outrun this activity's
        # result), it is now being made.
        if view.stage is Stage.ACCEPTED:
            self._set_stage(Stage.IN_PRODUCTION)
            await self._notify(messages.title_in_production(view, self._recipient()))

        if self._progress_in_order:
            while not delivery.done() or self._progress:
                await workflow.wait_condition(lambda: bool(self._progress) or delivery.done())
                if self._progress:
                    self._follow(self._progress.pop(0))
                    while self._outbox:
                        await self._notify(self._outbox.pop(0))
        else:
            while not delivery.done() or self._outbox:
                await workflow.wait_condition(lambda: bool(self._outbox) or delivery.done())
                while self._outbox:
                    await self._notify(self._outbox.pop(0))
        # The child's last word is its result (the same as its last progress signal).
        self._follow(await delivery)
        while self._outbox:
            await self._notify(self._outbox.pop(0))

    def _follow(self, delivery: DeliveryView) -> None:
        """Take the card's status into the request: view, history, email."""
        view = self._view
        if delivery.request_number != view.request_number:
            return
        self._delivery = delivery
        view.tracking_number = delivery.tracking_number or None
        view.pickup_deadline = delivery.pickup_deadline
        view.resend_deadline = delivery.resend_deadline
        moving = view.stage is Stage.ACCEPTED or view.stage in DELIVERY_STAGES
        if moving and delivery.stage is not view.stage:
            self._set_stage(delivery.stage)
            self._outbox.append(messages.delivery_email(view, self._recipient(), delivery))
        else:
            workflow.set_current_details(messages.current_details(view))

    @workflow.signal(name="delivery_progress")
    def delivery_progress(self, delivery: DeliveryView) -> None:
        """The delivery journey (the child) reports a status change of the card."""
        if self._progress_in_order:
            self._progress.append(delivery)  # the run loop takes it (no command here)
        else:
            self._follow(delivery)

    # ---- hooks of the procedure --------------------------------------------------------

    async def _before_spending_code(self) -> None:
        """For an exam success, an examiner must have recorded a pass for this NEPH and
        category; checked before the photo code is spent, so a refusal costs nothing."""
        motif = self._title_motif()
        if motif.motif not in EXAM_SUCCESS_MOTIFS:
            return
        check = await workflow.execute_activity_method(
            JourneyActivities.check_exam_passed,
            CheckExamPassed(neph=motif.neph, category=motif.category),
            start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary=(
                f"Vérification de la réussite à l'examen (NEPH {motif.neph}, catégorie "
                f"{motif.category.value})"
            ),
        )
        if not check.passed:
            raise refusal(
                ErrorCode.EXAM_NOT_PASSED,
                details={"neph": motif.neph, "category": motif.category.value},
            )

    def _check_accepted_decision(self, decision: Decision) -> None:
        """The card carries the candidate's NEPH: an acceptance may repeat it, not
        replace it."""
        if decision.neph and decision.neph != self._neph():
            raise refusal(
                ErrorCode.INVALID_FIELD,
                "Le NEPH de la décision n'est pas celui de la demande de titre : une demande "
                "de titre garde le NEPH du candidat.",
                {"field": "neph"},
            )

    def _title_motif(self) -> TitleMotifStep:
        motif = self._view.motif
        assert isinstance(motif, TitleMotifStep)
        return motif

    def _neph(self) -> str:
        return self._title_motif().neph

    # ---- candidate's motif step --------------------------------------------------------

    @workflow.update
    def set_motif(self, step: TitleMotifStep) -> RequestView:
        self._view.neph = step.neph
        return self._apply_motif(step)

    @set_motif.validator
    def _validate_set_motif(self, step: TitleMotifStep) -> None:
        self._validate_motif()

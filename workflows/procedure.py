"""The procedure every online request follows, shared by the inscription and title journeys.

The candidate fills the steps through updates (each validated before it reaches
history): motif → civil status → address and contact → photo/signature → documents,
then submits (the photo code is spent then). The request then goes to the CTN for the
form check and to the DDT for instruction (with a reminder, then an escalation, when the
DDT takes too long), with an email at every status change. A CTN agent may still find the
request non-compliant until the DDT decides, which rejects it and withdraws it from the
DDT queue. A draft nobody submits within 90 days is abandoned.

``JourneyProcedure`` holds all of it; a journey subclasses it with its own ``run`` (what
follows the decision), its typed motif step (``set_motif``) and the hooks below:

- ``_since(change)``: whether this journey takes the change behind patch ``change``.
  The inscription journey answers with ``workflow.patched`` (older journeys replay
  their old path); a journey born with the changes answers True without a marker.
- ``_after_submission``: what comes before the confirmation email (the récépissé).
- ``_before_spending_code``: a check at submission that needs a service (the exam).
- ``_check_accepted_decision``: what an acceptance must carry (the NEPH).

Which commands a journey issues, and in which order, is exactly what the inscription
workflow issued before this was shared: its replay histories prove it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # pydantic imports it lazily to check EmailStr; importing it here keeps it out of the
    # sandbox (where a late import is slow and warned about).
    import email_validator  # noqa: F401

    import workflows.ids as ids
    import workflows.messages as messages
    from services.common.errors import CATALOGUE, ErrorCode
    from services.common.requirements import (
        Applicant,
        is_old_enough,
        minimum_age,
        missing_documents,
        needs_legal_representative,
        required_documents,
    )
    from workflows.activities import EMAIL_REJECTED, JourneyActivities
    from workflows.models import (
        DELIVERY_STAGES,
        STAGE_LABELS,
        STEP_ORDER,
        AddressStep,
        CancelRequest,
        CivilStatusStep,
        ConsumePhotoCode,
        Decision,
        DocumentAdded,
        DocumentKind,
        EmailMessage,
        EnqueueForInstruction,
        Journey,
        MotifStep,
        Outcome,
        PhotoStep,
        PreCheckVerdict,
        RemindInstruction,
        RemoveDocument,
        RequestView,
        Stage,
        StartInscription,
        StatusChange,
        Step,
        TitleMotifStep,
        WithdrawFromInstruction,
    )

DRAFT_LIFETIME = timedelta(days=90)

# Business refusals are final; everything else (transport, deadline) is retried forever.
BUSINESS_ERRORS = [code.value for code in ErrorCode if code is not ErrorCode.SERVICE_UNAVAILABLE]
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=[*BUSINESS_ERRORS, EMAIL_REJECTED],
)
# Each a little over the call's own deadline (activities.py): an attempt lost with a killed
# worker is retried once this much has passed, so it must not be much longer than that.
# Timeouts are not part of what a replay compares: changing them needs no patch.
GRPC_ACTIVITY_TIMEOUT = timedelta(seconds=15)
EMAIL_TIMEOUT = timedelta(seconds=15)
RENDER_TIMEOUT = timedelta(seconds=40)
# A reminder is best effort: one that cannot go out within the hour is dropped (logged), so
# a decision or a CTN verdict waits at most that long behind a service that is down.
REMINDER_TIMEOUT = timedelta(seconds=60)
REMINDER_DEADLINE = timedelta(hours=1)
# Shortest timer the journeys use (a delay already elapsed still gets a real timer).
MIN_TIMER = timedelta(seconds=1)

# Changes that inscription journeys already running would see, each decided once per
# journey at the point where old and new code part (a marker in history says which side
# it took). Journeys born after them (title) take them all, without markers.
PATCH_RECEIPT = "receipt-at-submission"
PATCH_IN_INSTRUCTION_EMAIL = "email-in-instruction"
PATCH_REMINDERS = "instruction-reminders"
PATCH_ABANDONED_EMAIL = "email-abandoned"
# Journeys started since take all of the above without their markers: one marker at the
# start says so (see InscriptionWorkflow.run).
PATCH_EVERY_CHANGE_AT_START = "every-change-at-start"

# Stages after which an operator can no longer cancel the request.
FINAL_STAGES = frozenset(
    {Stage.ACCEPTED, Stage.REJECTED, Stage.ABANDONED, Stage.CANCELLED, *DELIVERY_STAGES}
)


def refusal(
    code: ErrorCode, message: str = "", details: dict[str, str] | None = None
) -> ApplicationError:
    """The error an update validator raises: the catalogue's code and French message."""
    text = message or CATALOGUE[code][0]
    extra = [details] if details else []
    return ApplicationError(text, *extra, type=code.value, non_retryable=True)


def with_detail(code: ErrorCode, detail: str) -> str:
    return f"{CATALOGUE[code][0].rstrip('.')} : {detail}."


class JourneyProcedure:
    """The shared procedure (not a workflow by itself: see the module's docstring)."""

    JOURNEY: ClassVar[Journey]

    def _begin(self, start: StartInscription) -> None:
        """The state of a new request: what the journey's ``__init__`` calls."""
        now = workflow.now()
        self._start = start
        self._submitting = False
        # Set once the case is (being) put in the DDT queue: from then a decision may arrive.
        self._enqueued = False
        self._instruction_since = now
        self._view = RequestView(
            request_number=start.request_number,
            journey=self.JOURNEY,
            account_id=start.account_id,
            stage=Stage.DRAFT,
            stage_label=STAGE_LABELS[Stage.DRAFT],
            created_at=now,
            history=[StatusChange(stage=Stage.DRAFT, at=now, label=STAGE_LABELS[Stage.DRAFT])],
        )

    # ---- hooks (see the module's docstring) ------------------------------------------

    def _since(self, change: str) -> bool:
        return True

    async def _after_submission(self) -> None:
        return None

    async def _before_spending_code(self) -> None:
        return None

    def _check_accepted_decision(self, decision: Decision) -> None:
        if not (len(decision.neph) == 12 and decision.neph.isdigit()):
            raise refusal(
                ErrorCode.INVALID_FIELD,
                "Une décision d'acceptation doit porter un NEPH de 12 chiffres.",
                {"field": "neph"},
            )

    # ---- the procedure, up to the DDT's decision -------------------------------------

    async def _procedure(self, start: StartInscription) -> Decision | None:
        """Runs the request up to the DDT's decision and returns it; None when the
        request ended before (abandoned, or rejected by the CTN), the candidate told."""
        workflow.upsert_search_attributes(
            [
                ids.REQUEST_NUMBER.value_set(start.request_number),
                ids.JOURNEY.value_set(self.JOURNEY.value),
                ids.ACCOUNT_ID.value_set(start.account_id),
                ids.STAGE.value_set(self._view.stage.value),
            ]
        )
        self._refresh()

        if not await self._wait_for_submission():
            self._set_stage(Stage.ABANDONED)
            if self._since(PATCH_ABANDONED_EMAIL):
                await self._notify(messages.abandonment(self._view, self._recipient()))
            return None

        if self._cancelled():
            await self._conclude_cancellation()
            return None
        await self._after_submission()
        if self._cancelled():
            await self._conclude_cancellation()
            return None
        await self._notify(messages.confirmation(self._view, self._recipient()))
        if self._cancelled():
            await self._conclude_cancellation()
            return None

        self._set_stage(Stage.PRE_CHECK)
        outcome = await workflow.execute_activity_method(
            JourneyActivities.pre_check,
            self._view,
            start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary="Contrôle de forme du dossier par le CTN",
        )
        # A CTN agent's verdict recorded meanwhile is the CTN's last word.
        if self._view.pre_check_verdict is not None:
            await self._conclude_verdict()
            return None
        if self._cancelled():
            await self._conclude_cancellation()
            return None
        if not outcome.compliant:
            self._view.pre_check_findings = outcome.findings
            self._set_stage(Stage.REJECTED)
            await self._notify(messages.pre_check_rejection(self._view, self._recipient()))
            return None

        self._enqueued = True
        await workflow.execute_activity_method(
            JourneyActivities.enqueue_for_instruction,
            EnqueueForInstruction(workflow_id=workflow.info().workflow_id, view=self._view),
            start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary="Transmission du dossier au service instructeur (DDT)",
        )
        if self._view.pre_check_verdict is not None:
            await self._conclude_verdict()
            return None
        if self._cancelled():
            await self._conclude_cancellation()
            return None
        self._set_stage(Stage.IN_INSTRUCTION)
        self._instruction_since = workflow.now()
        if self._since(PATCH_IN_INSTRUCTION_EMAIL):
            await self._notify(messages.in_instruction(self._view, self._recipient()))
        if self._since(PATCH_REMINDERS):
            await self._wait_for_instruction_with_reminders()
        else:
            # Older journeys wait without reminders. A verdict can only come from an update
            # no older history holds, so waking on it cannot change how they replay.
            await workflow.wait_condition(self._instruction_over)
        if self._view.pre_check_verdict is not None:
            await self._conclude_verdict()
            return None
        if self._cancelled():
            await self._conclude_cancellation()
            return None
        decision = self._view.decision
        assert decision is not None
        return decision

    async def _wait_for_submission(self) -> bool:
        """True once submitted; False when the draft outlives its 90 days."""
        try:
            await workflow.wait_condition(
                lambda: self._view.stage is not Stage.DRAFT,
                timeout=DRAFT_LIFETIME,
                timeout_summary="Délai de 90 jours pour envoyer la demande",
            )
            return True
        except TimeoutError:
            # A submit in flight when the delay ends still gets to finish.
            await workflow.wait_condition(lambda: not self._submitting)
            return self._view.stage is not Stage.DRAFT

    def _instruction_over(self) -> bool:
        """The DDT decided, a CTN agent rejected the request, or an operator cancelled it:
        waiting is over."""
        return (
            self._view.decision is not None
            or self._view.pre_check_verdict is not None
            or self._view.cancellation is not None
        )

    def _cancelled(self) -> bool:
        return self._view.cancellation is not None

    async def _wait_for_instruction_with_reminders(self) -> None:
        """Wait for the outcome; remind the DDT, then escalate, when it takes too long.

        Both delays count from the moment the request entered instruction; the timers are
        durable (they fire whether or not a worker was up meanwhile).
        """
        schedule = (
            (1, self._start.instruction_reminder_after),
            (2, self._start.instruction_escalation_after),
        )
        for level, after in schedule:
            if self._instruction_over():
                return
            remaining = self._instruction_since + after - workflow.now()
            try:
                await workflow.wait_condition(
                    self._instruction_over,
                    timeout=max(remaining, MIN_TIMER),
                    timeout_summary=messages.reminder_timer_summary(level, after),
                )
                return
            except TimeoutError:
                await self._remind(level, after)
        await workflow.wait_condition(self._instruction_over)

    async def _remind(self, level: int, after: timedelta) -> None:
        try:
            await workflow.execute_activity_method(
                JourneyActivities.remind_instruction,
                RemindInstruction(
                    view=self._view,
                    level=level,
                    in_instruction_since=self._instruction_since,
                    waited=after,
                ),
                start_to_close_timeout=REMINDER_TIMEOUT,
                schedule_to_close_timeout=REMINDER_DEADLINE,
                retry_policy=RETRY,
                summary=(
                    "Escalade : alerte au service instructeur (DDT)"
                    if level >= 2
                    else "Relance du service instructeur (DDT)"
                ),
            )
        except ActivityError as error:
            workflow.logger.warning("Relance de niveau %d non envoyée : %s", level, error.cause)
            return
        self._view.instruction_reminders = max(self._view.instruction_reminders, level)
        workflow.set_current_details(messages.current_details(self._view))

    async def _conclude_verdict(self) -> None:
        """After a CTN agent's verdict (the stage is already rejected): out of the DDT queue
        if the case went there, then the rejection email."""
        verdict = self._view.pre_check_verdict
        assert verdict is not None
        if self._enqueued:
            try:
                await workflow.execute_activity_method(
                    JourneyActivities.withdraw_from_instruction,
                    WithdrawFromInstruction(
                        request_number=self._view.request_number,
                        reason=(
                            f"Non conforme au contrôle de forme (agent CTN {verdict.agent_id}) : "
                            f"{messages.findings_summary(verdict.findings)}"
                        ),
                    ),
                    start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
                    retry_policy=RETRY,
                    summary="Retrait du dossier de la file du service instructeur (DDT)",
                )
            except ActivityError as error:
                # The journey has its outcome; the queue's refusal is for an operator to see.
                workflow.logger.warning("Retrait de l'instruction refusé : %s", error.cause)
        await self._notify(
            messages.pre_check_verdict_rejection(
                self._view, self._recipient(), withdrawn=self._enqueued
            )
        )

    async def _conclude_cancellation(self) -> None:
        """After an operator's cancellation (the stage is already cancelled): out of the
        DDT queue if the case went there, then the email with the reason."""
        cancellation = self._view.cancellation
        assert cancellation is not None
        if self._enqueued:
            try:
                await workflow.execute_activity_method(
                    JourneyActivities.withdraw_from_instruction,
                    WithdrawFromInstruction(
                        request_number=self._view.request_number,
                        reason=(
                            f"Demande annulée par le service (opérateur "
                            f"{cancellation.operator_id}) : {cancellation.reason}"
                        ),
                    ),
                    start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
                    retry_policy=RETRY,
                    summary="Retrait du dossier de la file du service instructeur (DDT)",
                )
            except ActivityError as error:
                workflow.logger.warning("Retrait de l'instruction refusé : %s", error.cause)
        await self._notify(
            messages.cancellation(self._view, self._recipient(), withdrawn=self._enqueued)
        )

    async def _finish(self) -> RequestView:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    async def _notify(self, message: EmailMessage) -> None:
        try:
            await workflow.execute_activity_method(
                JourneyActivities.send_email,
                message,
                start_to_close_timeout=EMAIL_TIMEOUT,
                retry_policy=RETRY,
                summary=f"Courriel : {message.subject}",
            )
        except ActivityError as error:
            # A refused address must not block the journey: the account page still shows it.
            workflow.logger.warning("Courriel non remis (%s) : %s", message.subject, error.cause)

    def _recipient(self) -> str:
        return messages.recipient(self._view, str(self._start.account_email))

    # ---- state ---------------------------------------------------------------------

    def _applicant(self) -> Applicant | None:
        view = self._view
        if view.motif is None or view.civil_status is None:
            return None
        # A title motif step has the same motif and category fields (and the NEPH).
        return Applicant.from_steps(view.motif, view.civil_status, self.JOURNEY)  # type: ignore[arg-type]

    def _missing_documents(self) -> list[DocumentKind]:
        applicant = self._applicant()
        if applicant is None:
            return []
        provided = {document.kind for document in self._view.documents}
        return missing_documents(applicant, workflow.now().date(), provided)

    def _is_complete(self, step: Step) -> bool:
        view = self._view
        match step:
            case Step.MOTIF:
                return view.motif is not None
            case Step.CIVIL_STATUS:
                return view.civil_status is not None
            case Step.ADDRESS:
                return view.address is not None
            case Step.PHOTO:
                return view.photo_code is not None
            case Step.DOCUMENTS:
                return self._applicant() is not None and not self._missing_documents()
        return False

    def _refresh(self) -> None:
        """Recompute what derives from the filled steps, and tell the operator."""
        view = self._view
        view.completed_steps = [step for step in STEP_ORDER if self._is_complete(step)]
        view.next_step = next((s for s in STEP_ORDER if not self._is_complete(s)), None)
        applicant = self._applicant()
        view.required_documents = (
            required_documents(applicant, workflow.now().date()) if applicant else []
        )
        workflow.set_current_details(messages.current_details(view))

    def _set_stage(self, stage: Stage) -> None:
        now = workflow.now()
        self._view.stage = stage
        self._view.stage_label = STAGE_LABELS[stage]
        self._view.history.append(StatusChange(stage=stage, at=now, label=STAGE_LABELS[stage]))
        workflow.upsert_search_attributes([ids.STAGE.value_set(stage.value)])
        workflow.set_current_details(messages.current_details(self._view))

    # ---- validation shared by the candidate's updates -----------------------------

    def _require_draft(self) -> None:
        if self._view.stage is not Stage.DRAFT or self._submitting:
            raise refusal(ErrorCode.REQUEST_ALREADY_SUBMITTED)

    def _require_steps_before(self, step: Step) -> None:
        self._require_draft()
        for earlier in STEP_ORDER[: STEP_ORDER.index(step)]:
            if not self._is_complete(earlier):
                raise refusal(
                    ErrorCode.STEP_OUT_OF_ORDER,
                    with_detail(
                        ErrorCode.STEP_OUT_OF_ORDER,
                        f"étape « {messages.STEP_LABELS[earlier]} » à compléter",
                    ),
                    {"step": step.value, "missing_step": earlier.value},
                )

    # ---- candidate's updates ------------------------------------------------------
    # The SDK runs each update's validator then its handler without yielding in between,
    # so a validator's checks still hold when the handler starts; ``_submitting`` covers
    # the awaits on the activities of the submission.
    #
    # ``set_motif`` is each journey's own (its motif step is typed per journey): it
    # validates with ``_validate_motif`` and applies with ``_apply_motif``.

    def _apply_motif(self, step: MotifStep | TitleMotifStep) -> RequestView:
        self._view.motif = step
        workflow.upsert_search_attributes(
            [ids.MOTIF.value_set(step.motif.value), ids.CATEGORY.value_set(step.category.value)]
        )
        self._refresh()
        return self._view

    def _validate_motif(self) -> None:
        self._require_draft()
        if self._view.motif is not None:
            raise refusal(ErrorCode.MOTIF_LOCKED)

    @workflow.update
    def set_civil_status(self, step: CivilStatusStep) -> RequestView:
        self._view.civil_status = step
        self._refresh()
        return self._view

    @set_civil_status.validator
    def _validate_set_civil_status(self, step: CivilStatusStep) -> None:
        self._require_steps_before(Step.CIVIL_STATUS)

    @workflow.update
    def set_address(self, step: AddressStep) -> RequestView:
        self._view.address = step
        workflow.upsert_search_attributes([ids.DEPARTMENT.value_set(step.department)])
        self._refresh()
        return self._view

    @set_address.validator
    def _validate_set_address(self, step: AddressStep) -> None:
        self._require_steps_before(Step.ADDRESS)

    @workflow.update
    def set_photo_code(self, step: PhotoStep) -> RequestView:
        self._view.photo_code = step.photo_code
        self._refresh()
        return self._view

    @set_photo_code.validator
    def _validate_set_photo_code(self, step: PhotoStep) -> None:
        self._require_steps_before(Step.PHOTO)

    @workflow.update
    def add_document(self, document: DocumentAdded) -> RequestView:
        # Same id again (a retried upload) replaces rather than duplicates.
        others = [d for d in self._view.documents if d.document_id != document.document_id]
        self._view.documents = [*others, document]
        self._refresh()
        return self._view

    @add_document.validator
    def _validate_add_document(self, document: DocumentAdded) -> None:
        self._require_steps_before(Step.DOCUMENTS)

    @workflow.update
    def remove_document(self, request: RemoveDocument) -> RequestView:
        self._view.documents = [
            d for d in self._view.documents if d.document_id != request.document_id
        ]
        self._refresh()
        return self._view

    @remove_document.validator
    def _validate_remove_document(self, request: RemoveDocument) -> None:
        self._require_draft()
        if all(d.document_id != request.document_id for d in self._view.documents):
            raise refusal(
                ErrorCode.DOCUMENT_NOT_FOUND, details={"document_id": request.document_id}
            )

    @workflow.update
    async def submit(self) -> RequestView:
        self._submitting = True
        try:
            await self._before_spending_code()
            await workflow.execute_activity_method(
                JourneyActivities.consume_photo_code,
                ConsumePhotoCode(
                    code=self._view.photo_code or "", request_number=self._view.request_number
                ),
                start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                summary="Utilisation du code photo/signature pour cette demande",
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type:
                # The candidate sees the service's refusal; the request stays a draft.
                raise ApplicationError(
                    cause.message, *cause.details, type=cause.type, non_retryable=True
                ) from error
            raise
        finally:
            self._submitting = False
        self._view.submitted_at = workflow.now()
        self._set_stage(Stage.SUBMITTED)
        return self._view

    @submit.validator
    def _validate_submit(self) -> None:
        self._require_steps_before(Step.DOCUMENTS)
        applicant = self._applicant()
        assert applicant is not None  # motif and civil status are complete
        today = workflow.now().date()
        if not is_old_enough(applicant, today):
            minimum = minimum_age(applicant)
            raise refusal(
                ErrorCode.TOO_YOUNG,
                with_detail(
                    ErrorCode.TOO_YOUNG,
                    f"{minimum} ans pour la catégorie {applicant.category.value}",
                ),
                {"category": applicant.category.value, "minimum_age": str(minimum)},
            )
        civil = self._view.civil_status
        if needs_legal_representative(applicant, today) and (
            civil is None or civil.legal_representative is None
        ):
            raise refusal(
                ErrorCode.MISSING_FIELDS,
                "Pour une personne mineure ou sous tutelle, l'identité du représentant légal "
                "doit être renseignée à l'étape « État civil ».",
                {"field": "legal_representative"},
            )
        missing = self._missing_documents()
        if missing:
            raise refusal(
                ErrorCode.MISSING_DOCUMENTS,
                with_detail(ErrorCode.MISSING_DOCUMENTS, messages.document_list(missing)),
                {"missing": ",".join(kind.value for kind in missing)},
            )

    # ---- instruction service's update --------------------------------------------

    @workflow.update
    def record_decision(self, decision: Decision) -> RequestView:
        if self._view.decision is None:
            self._view.decision = decision
        return self._view

    @record_decision.validator
    def _validate_record_decision(self, decision: Decision) -> None:
        if self._view.cancellation is not None:
            raise refusal(
                ErrorCode.JOURNEY_NOT_WAITING,
                "La demande a été annulée par le service et retirée de l'instruction : "
                "aucune décision ne peut plus être enregistrée.",
                {"reason": "cancelled", "stage": self._view.stage.value},
            )
        if self._view.pre_check_verdict is not None:
            raise refusal(
                ErrorCode.JOURNEY_NOT_WAITING,
                "La demande a été rejetée au contrôle de forme par le CTN et retirée de "
                "l'instruction : aucune décision ne peut plus être enregistrée.",
                {"reason": "pre_check_verdict", "stage": self._view.stage.value},
            )
        recorded = self._view.decision
        if recorded is not None:
            if recorded.same_as(decision):
                return  # a retried notification: accepted, changes nothing
            raise refusal(ErrorCode.CASE_ALREADY_DECIDED)
        # The case may be decided as soon as it is in the DDT queue, even before the
        # workflow has recorded the enqueue's result.
        if not self._enqueued or self._view.stage not in (Stage.PRE_CHECK, Stage.IN_INSTRUCTION):
            raise refusal(ErrorCode.JOURNEY_NOT_WAITING)
        if decision.outcome is Outcome.ACCEPTED:
            self._check_accepted_decision(decision)

    # ---- CTN agent's update ------------------------------------------------------

    @workflow.update
    def record_pre_check_verdict(self, verdict: PreCheckVerdict) -> RequestView:
        """A CTN agent finds the request non-compliant: it is rejected (and withdrawn from
        the DDT queue if it got there). Sent by the CTN service's MarkNonCompliant.

        Not behind a patch: everything it changes follows this update, which no history
        written by older code contains, so older journeys replay exactly as before and,
        if still running, handle a verdict like new ones.
        """
        if self._view.pre_check_verdict is None:
            self._view.pre_check_verdict = verdict
            self._view.pre_check_findings = list(verdict.findings)
            # Rejected at once (the run loop may be busy with an activity): the candidate
            # and the CTN see it now, the withdrawal and the email follow.
            self._set_stage(Stage.REJECTED)
        return self._view

    @record_pre_check_verdict.validator
    def _validate_record_pre_check_verdict(self, verdict: PreCheckVerdict) -> None:
        recorded = self._view.pre_check_verdict
        if recorded is not None:
            if same_verdict(recorded, verdict):
                return  # a retried delivery: accepted, changes nothing
            raise refusal(
                ErrorCode.PRE_CHECK_NOT_OPEN,
                "Un verdict de non-conformité est déjà enregistré pour cette demande.",
                {"stage": self._view.stage.value},
            )
        if self._view.decision is not None:
            raise refusal(ErrorCode.PRE_CHECK_NOT_OPEN, details={"stage": self._view.stage.value})
        if self._view.stage not in (Stage.PRE_CHECK, Stage.IN_INSTRUCTION):
            raise refusal(
                ErrorCode.PRE_CHECK_NOT_OPEN,
                "Cette demande n'est ni au contrôle de forme ni en instruction : aucun verdict "
                "du CTN ne peut être enregistré.",
                {"stage": self._view.stage.value},
            )

    # ---- operator's update (support service) ---------------------------------------

    @workflow.update
    def cancel(self, request: CancelRequest) -> RequestView:
        """An operator cancels the request before its decision: stage cancelled at once,
        then (run loop) the withdrawal from the DDT queue if it got there, and the email.
        Sent by the support service's CancelRequest.

        Not behind a patch, like ``record_pre_check_verdict``: all it changes follows this
        update, which no history written by older code contains, so older journeys replay
        exactly as before and, if still running, handle a cancellation like new ones.
        """
        if self._view.cancellation is None:
            self._view.cancellation = request
            self._set_stage(Stage.CANCELLED)
        return self._view

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        recorded = self._view.cancellation
        stage = self._view.stage
        if recorded is not None:
            if same_cancellation(recorded, request):
                return  # a retried delivery: accepted, changes nothing
            raise refusal(
                ErrorCode.REQUEST_NOT_CANCELLABLE,
                f"Cette demande a déjà été annulée par le service (opérateur "
                f"{recorded.operator_id}).",
                {"stage": stage.value, "operator_id": recorded.operator_id},
            )
        if stage in FINAL_STAGES or self._view.decision is not None:
            raise refusal(
                ErrorCode.REQUEST_NOT_CANCELLABLE,
                f"Cette demande ne peut plus être annulée : elle est à l'étape « "
                f"{self._view.stage_label} ».",
                {"stage": stage.value},
            )
        if self._submitting:
            raise refusal(
                ErrorCode.REQUEST_NOT_CANCELLABLE,
                "La demande est en cours d'envoi par le candidat : réessayez dans un instant.",
                {"stage": stage.value, "reason": "submitting"},
            )

    # ---- reads -----------------------------------------------------------------------

    @workflow.query
    def view(self) -> RequestView:
        return self._view


def same_cancellation(first: CancelRequest, second: CancelRequest) -> bool:
    return (first.operator_id, first.reason) == (second.operator_id, second.reason)


def same_verdict(first: PreCheckVerdict, second: PreCheckVerdict) -> bool:
    def findings(verdict: PreCheckVerdict) -> list[tuple[str, str, str]]:
        return [(f.code, f.message, f.field) for f in verdict.findings]

    return (first.agent_id, findings(first)) == (second.agent_id, findings(second))

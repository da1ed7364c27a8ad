"""The inscription journey: one durable workflow per request, from draft to decision.

The candidate fills the steps through updates (each validated before it reaches
history), submits, and the workflow then drives the CTN pre-check, the DDT instruction
and the final email. A draft nobody submits within 90 days is abandoned.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # pydantic imports it lazily to check EmailStr; importing it here keeps it out of the
    # sandbox (where a late import is slow and warned about).
    import email_validator  # noqa: F401

    from services.common.errors import CATALOGUE, ErrorCode
    from services.common.requirements import (
        Applicant,
        is_old_enough,
        minimum_age,
        missing_documents,
        needs_legal_representative,
        required_documents,
    )
    from workflows import ids, messages
    from workflows.activities import EMAIL_REJECTED, JourneyActivities
    from workflows.models import (
        STAGE_LABELS,
        STEP_ORDER,
        AddressStep,
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
        RemoveDocument,
        RenderAttestation,
        RequestView,
        Stage,
        StartInscription,
        StatusChange,
        Step,
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
GRPC_ACTIVITY_TIMEOUT = timedelta(seconds=30)
EMAIL_TIMEOUT = timedelta(seconds=45)
RENDER_TIMEOUT = timedelta(seconds=60)


def refusal(
    code: ErrorCode, message: str = "", details: dict[str, str] | None = None
) -> ApplicationError:
    """The error an update validator raises: the catalogue's code and French message."""
    text = message or CATALOGUE[code][0]
    extra = [details] if details else []
    return ApplicationError(text, *extra, type=code.value, non_retryable=True)


def _with_detail(code: ErrorCode, detail: str) -> str:
    return f"{CATALOGUE[code][0].rstrip('.')} : {detail}."


@workflow.defn(name="InscriptionWorkflow")
class InscriptionWorkflow:
    @workflow.init
    def __init__(self, start: StartInscription) -> None:
        now = workflow.now()
        self._start = start
        self._submitting = False
        # Set once the case is (being) put in the DDT queue: from then a decision may arrive.
        self._enqueued = False
        self._view = RequestView(
            request_number=start.request_number,
            journey=Journey.INSCRIPTION,
            account_id=start.account_id,
            stage=Stage.DRAFT,
            stage_label=STAGE_LABELS[Stage.DRAFT],
            created_at=now,
            history=[StatusChange(stage=Stage.DRAFT, at=now, label=STAGE_LABELS[Stage.DRAFT])],
        )

    # ---- the journey -------------------------------------------------------------------

    @workflow.run
    async def run(self, start: StartInscription) -> RequestView:
        workflow.upsert_search_attributes(
            [
                ids.REQUEST_NUMBER.value_set(start.request_number),
                ids.JOURNEY.value_set(Journey.INSCRIPTION.value),
                ids.ACCOUNT_ID.value_set(start.account_id),
                ids.STAGE.value_set(self._view.stage.value),
            ]
        )
        self._refresh()

        if not await self._wait_for_submission():
            self._set_stage(Stage.ABANDONED)
            return await self._finish()

        await self._notify(messages.confirmation(self._view, self._recipient()))

        self._set_stage(Stage.PRE_CHECK)
        outcome = await workflow.execute_activity_method(
            JourneyActivities.pre_check,
            self._view,
            start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary="Contrôle de forme du dossier par le CTN",
        )
        if not outcome.compliant:
            self._view.pre_check_findings = outcome.findings
            self._set_stage(Stage.REJECTED)
            await self._notify(messages.pre_check_rejection(self._view, self._recipient()))
            return await self._finish()

        self._enqueued = True
        await workflow.execute_activity_method(
            JourneyActivities.enqueue_for_instruction,
            EnqueueForInstruction(workflow_id=workflow.info().workflow_id, view=self._view),
            start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
            summary="Transmission du dossier au service instructeur (DDT)",
        )
        self._set_stage(Stage.IN_INSTRUCTION)
        await workflow.wait_condition(lambda: self._view.decision is not None)
        decision = self._view.decision
        assert decision is not None

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
        return Applicant.from_steps(view.motif, view.civil_status, Journey.INSCRIPTION)

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
                    _with_detail(
                        ErrorCode.STEP_OUT_OF_ORDER,
                        f"étape « {messages.STEP_LABELS[earlier]} » à compléter",
                    ),
                    {"step": step.value, "missing_step": earlier.value},
                )

    # ---- candidate's updates ------------------------------------------------------
    # The SDK runs each update's validator then its handler without yielding in between,
    # so a validator's checks still hold when the handler starts; ``_submitting`` covers
    # the await on the photo-code activity.

    @workflow.update
    def set_motif(self, step: MotifStep) -> RequestView:
        self._view.motif = step
        workflow.upsert_search_attributes(
            [ids.MOTIF.value_set(step.motif.value), ids.CATEGORY.value_set(step.category.value)]
        )
        self._refresh()
        return self._view

    @set_motif.validator
    def _validate_set_motif(self, step: MotifStep) -> None:
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
                _with_detail(
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
                _with_detail(ErrorCode.MISSING_DOCUMENTS, messages.document_list(missing)),
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
        recorded = self._view.decision
        if recorded is not None:
            if _same_decision(recorded, decision):
                return  # a retried notification: accepted, changes nothing
            raise refusal(ErrorCode.CASE_ALREADY_DECIDED)
        # The case may be decided as soon as it is in the DDT queue, even before the
        # workflow has recorded the enqueue's result.
        if not self._enqueued or self._view.stage not in (Stage.PRE_CHECK, Stage.IN_INSTRUCTION):
            raise refusal(ErrorCode.JOURNEY_NOT_WAITING)
        if decision.outcome is Outcome.ACCEPTED and not (
            len(decision.neph) == 12 and decision.neph.isdigit()
        ):
            raise refusal(
                ErrorCode.INVALID_FIELD,
                "Une décision d'acceptation doit porter un NEPH de 12 chiffres.",
                {"field": "neph"},
            )

    # ---- reads -----------------------------------------------------------------------

    @workflow.query
    def view(self) -> RequestView:
        return self._view


def _same_decision(first: Decision, second: Decision) -> bool:
    return (first.outcome, first.instructor_id, first.neph, first.reason_code) == (
        second.outcome,
        second.instructor_id,
        second.neph,
        second.reason_code,
    )

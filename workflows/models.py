"""The data that crosses the journey workflows: one model in, one model out.

The gateway validates candidates' input with these same models (so a missing or
malformed field is refused before it reaches a workflow), and the workflows carry
them through Temporal with the pydantic data converter. Validators here are pure
(no clock, no I/O), because workflows replay them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

POSTAL_CODE = re.compile(r"^(?:0[1-9]|[1-8]\d|9[0-8])\d{3}$")
# French mobile numbers: 06 / 07, national or +33 form; spaces and dots are tolerated.
MOBILE_PHONE = re.compile(r"^(?:\+33|0)[67]\d{8}$")
NAME = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿ' -]+$")


class Journey(StrEnum):
    INSCRIPTION = "inscription"
    TITLE = "title"


class Motif(StrEnum):
    FIRST_REGISTRATION = "first_registration"
    EXTENSION = "extension"
    RETURN_AFTER_CANCELLATION = "return_after_cancellation"


class TitleMotif(StrEnum):
    """Why a title (the licence card) is to be produced: the title-production journey.

    Values never collide with ``Motif`` (the inscription motifs), so one string names one
    motif whatever the journey.
    """

    EXAM_SUCCESS_FIRST_TITLE = "exam_success_first_title"
    EXAM_SUCCESS_NEW_CATEGORY = "exam_success_new_category"
    LOSS = "loss"
    THEFT = "theft"
    DAMAGE = "damage"
    END_OF_VALIDITY = "end_of_validity"
    CIVIL_STATUS_CHANGE = "civil_status_change"
    MILITARY_LICENCE_CONVERSION = "military_licence_conversion"
    PROFESSIONAL_DIPLOMA = "professional_diploma"
    AFTER_CANCELLATION = "after_cancellation"
    AFTER_SUSPENSION = "after_suspension"


class Category(StrEnum):
    AM = "AM"
    A1 = "A1"
    A2 = "A2"
    A = "A"
    B1 = "B1"
    B = "B"
    BE = "BE"
    C1 = "C1"
    C1E = "C1E"
    C = "C"
    CE = "CE"
    D1 = "D1"
    D1E = "D1E"
    D = "D"
    DE = "DE"


class Step(StrEnum):
    """The steps of the notice, in order. Summary and confirmation come after documents."""

    MOTIF = "motif"
    CIVIL_STATUS = "civil_status"
    ADDRESS = "address"
    PHOTO = "photo"
    DOCUMENTS = "documents"


STEP_ORDER: tuple[Step, ...] = tuple(Step)


class Stage(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PRE_CHECK = "pre_check"
    IN_INSTRUCTION = "in_instruction"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ABANDONED = "abandoned"
    # Title production and delivery (title journey, after the DDT accepts): reported by
    # the delivery journey (``TitleDeliveryWorkflow``).
    IN_PRODUCTION = "in_production"
    SENT = "sent"
    AWAITING_PICKUP = "awaiting_pickup"
    DELIVERED = "delivered"
    RETURNED = "returned"
    RESEND_REQUESTED = "resend_requested"
    DESTROYED = "destroyed"
    # Cancelled by an operator (support service) before the decision: final.
    CANCELLED = "cancelled"


STAGE_LABELS: dict[Stage, str] = {
    Stage.DRAFT: "Demande en cours de saisie",
    Stage.SUBMITTED: "Demande déposée",
    Stage.PRE_CHECK: "Contrôle de forme en cours (CTN)",
    Stage.IN_INSTRUCTION: "Demande en cours d'instruction (DDT)",
    Stage.ACCEPTED: "Demande acceptée",
    Stage.REJECTED: "Demande rejetée",
    Stage.ABANDONED: "Demande abandonnée (non déposée dans le délai)",
    Stage.IN_PRODUCTION: "Titre en cours de fabrication",
    Stage.SENT: "Titre envoyé",
    Stage.AWAITING_PICKUP: "Titre en attente de retrait au bureau de poste",
    Stage.DELIVERED: "Titre remis",
    Stage.RETURNED: (
        "Titre retourné : réexpédition possible sur demande au Centre de Contact Citoyens"
    ),
    Stage.RESEND_REQUESTED: "Réexpédition du titre demandée au Centre de Contact Citoyens",
    Stage.DESTROYED: "Titre détruit : une nouvelle demande est nécessaire",
    Stage.CANCELLED: "Demande annulée par le service",
}
# The stages of the card's delivery, and those that end it.
DELIVERY_STAGES: tuple[Stage, ...] = (
    Stage.IN_PRODUCTION,
    Stage.SENT,
    Stage.AWAITING_PICKUP,
    Stage.DELIVERED,
    Stage.RETURNED,
    Stage.RESEND_REQUESTED,
    Stage.DESTROYED,
)
FINAL_DELIVERY_STAGES = frozenset({Stage.DELIVERED, Stage.DESTROYED})


class DocumentKind(StrEnum):
    IDENTITY_PROOF = "identity_proof"
    PROOF_OF_ADDRESS = "proof_of_address"
    JDC_CERTIFICATE = "jdc_certificate"
    CENSUS_CERTIFICATE = "census_certificate"
    RESIDENCE_PERMIT = "residence_permit"
    CURRENT_LICENCE = "current_licence"
    MEDICAL_OPINION = "medical_opinion"
    REFERENCE_44_07 = "reference_44_07"
    PSYCHOTECHNICAL_TESTS = "psychotechnical_tests"
    TRAINING_CERTIFICATE = "training_certificate"
    LEGAL_REPRESENTATIVE_ID = "legal_representative_id"
    OTHER = "other"
    # Title production (demande de fabrication) documents.
    ASSR2_OR_ASR = "assr2_or_asr"
    LOSS_DECLARATION = "loss_declaration"
    THEFT_DECLARATION = "theft_declaration"
    DAMAGED_LICENCE = "damaged_licence"
    CIVIL_STATUS_CHANGE_PROOF = "civil_status_change_proof"
    MILITARY_LICENCE = "military_licence"
    PROFESSIONAL_DIPLOMA = "professional_diploma"
    SUSPENSION_DECISION = "suspension_decision"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---- steps the candidate fills -------------------------------------------------------


class MotifStep(Strict):
    motif: Motif
    category: Category


NEPH_PATTERN = r"^\d{12}$"


class TitleMotifStep(Strict):
    """The first step of a title request: why a card is to be made, for which category,
    and the candidate's NEPH (given at inscription, the licence number for life)."""

    motif: TitleMotif
    category: Category
    neph: str = Field(pattern=NEPH_PATTERN)

    @field_validator("neph", mode="before")
    @classmethod
    def _compact(cls, value: object) -> object:
        # Printed in groups on the attestation ("2501 69 01 0001"): spaces and dots go.
        return re.sub(r"[\s.-]", "", value) if isinstance(value, str) else value


class RepresentativeRelationship(StrEnum):
    MOTHER = "mother"
    FATHER = "father"
    GUARDIAN = "guardian"
    OTHER = "other"


class LegalRepresentative(Strict):
    """The legal representative of a minor or of a person under guardianship."""

    family_name: str = Field(min_length=1, max_length=80)
    given_names: str = Field(min_length=1, max_length=120)
    relationship: RepresentativeRelationship
    email: EmailStr | None = None

    @field_validator("family_name", "given_names")
    @classmethod
    def _letters_only(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("Seuls les lettres, espaces, apostrophes et tirets sont acceptés.")
        return value


class CivilStatusStep(Strict):
    family_name: str = Field(min_length=1, max_length=80)
    given_names: str = Field(min_length=1, max_length=120)
    birth_date: date
    birth_place: str = Field(min_length=1, max_length=80)
    birth_country: str = Field(default="FR", pattern=r"^[A-Z]{2}$")
    sex: str = Field(pattern=r"^[FM]$")
    nationality: str = Field(default="FR", pattern=r"^[A-Z]{2}$")
    under_guardianship: bool = False
    legal_representative: LegalRepresentative | None = None

    @field_validator("family_name", "given_names")
    @classmethod
    def _letters_only(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("Seuls les lettres, espaces, apostrophes et tirets sont acceptés.")
        return value


class AddressStep(Strict):
    street: str = Field(min_length=3, max_length=160)
    postal_code: str
    city: str = Field(min_length=1, max_length=80)
    email: EmailStr
    mobile_phone: str

    @field_validator("postal_code")
    @classmethod
    def _french_postal_code(cls, value: str) -> str:
        if not POSTAL_CODE.match(value):
            raise ValueError("Code postal français attendu (5 chiffres).")
        return value

    @field_validator("mobile_phone")
    @classmethod
    def _mobile(cls, value: str) -> str:
        compact = re.sub(r"[ .-]", "", value)
        if not MOBILE_PHONE.match(compact):
            raise ValueError("Numéro de téléphone portable français attendu (06 ou 07).")
        return compact

    @property
    def department(self) -> str:
        return department_of(self.postal_code)


# Departments with a prefecture that instructs requests: metropolitan France (Corsica as
# 2A/2B) and the overseas departments 971-976.
DEPARTMENTS = frozenset(
    [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"] + [str(n) for n in range(971, 977)]
)


def department_of(postal_code: str) -> str:
    """The department code of a French postal code ("69003" -> "69", "97411" -> "974")."""
    if postal_code.startswith("97") or postal_code.startswith("98"):
        return postal_code[:3]
    if postal_code.startswith("20"):
        # Corsica: 200xx-201xx are Corse-du-Sud, 202xx-206xx Haute-Corse.
        return "2A" if postal_code[2] in "01" else "2B"
    return postal_code[:2]


class PhotoStep(Strict):
    photo_code: str = Field(pattern=r"^[A-Z0-9]{22}$")

    @field_validator("photo_code", mode="before")
    @classmethod
    def _normalise(cls, value: object) -> object:
        return re.sub(r"[\s-]", "", value).upper() if isinstance(value, str) else value


class DocumentAdded(Strict):
    document_id: str
    kind: DocumentKind
    content_type: str
    sha256: str
    size: int
    # Date the document was issued, as the candidate declares it (required for the proof
    # of address, which the CTN wants less than 6 months old).
    issued_on: date | None = None


# ---- workflow input, decision, output ------------------------------------------------


class StartInscription(Strict):
    request_number: str
    account_id: str
    account_email: EmailStr
    # How long a request may wait for the DDT before a reminder, then an escalation.
    # Part of the input so each journey keeps the delays it started with.
    instruction_reminder_after: timedelta = timedelta(days=15)
    instruction_escalation_after: timedelta = timedelta(days=30)


class StartTitle(StartInscription):
    """Input of ``TitleWorkflow``: a title request starts like an inscription."""


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Decision(Strict):
    outcome: Outcome
    instructor_id: str
    decided_at: datetime
    reason_code: str = ""
    reason_text: str = ""
    neph: str = ""

    def same_as(self, other: Decision) -> bool:
        """The same decision delivered again (the time it was sent aside): what the journey
        and the instruction service compare to recognise a repeat."""
        return (self.outcome, self.instructor_id, self.neph, self.reason_code) == (
            other.outcome,
            other.instructor_id,
            other.neph,
            other.reason_code,
        )


class Finding(Strict):
    code: str
    message: str
    field: str = ""


class PreCheckVerdict(Strict):
    """A CTN agent's finding that a request is not compliant (which rejects it)."""

    agent_id: str
    decided_at: datetime
    findings: list[Finding] = Field(min_length=1)


class CancelRequest(Strict):
    """The ``cancel`` update: an operator (support service) cancels the request before its
    decision. A re-delivery repeats the same operator, reason and time."""

    operator_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)
    cancelled_at: datetime


class StatusChange(Strict):
    stage: Stage
    at: datetime
    label: str


class RequestView(Strict):
    """What the candidate (and the gateway) can read of a request at any moment."""

    request_number: str
    journey: Journey
    account_id: str
    stage: Stage
    stage_label: str
    created_at: datetime
    completed_steps: list[Step] = Field(default_factory=list)
    next_step: Step | None = Step.MOTIF
    # ``MotifStep`` for an inscription, ``TitleMotifStep`` (with the NEPH) for a title.
    motif: MotifStep | TitleMotifStep | None = None
    civil_status: CivilStatusStep | None = None
    address: AddressStep | None = None
    photo_code: str | None = None
    documents: list[DocumentAdded] = Field(default_factory=list)
    required_documents: list[DocumentKind] = Field(default_factory=list)
    submitted_at: datetime | None = None
    pre_check_findings: list[Finding] = Field(default_factory=list)
    decision: Decision | None = None
    neph: str | None = None
    attestation_document_id: str | None = None
    # The récépissé de dépôt (category B inscriptions), produced at submission.
    receipt_document_id: str | None = None
    # Reminders sent to the DDT while the request waited for a decision.
    instruction_reminders: int = 0
    pre_check_verdict: PreCheckVerdict | None = None
    # Set when an operator cancelled the request (stage ``cancelled``).
    cancellation: CancelRequest | None = None
    history: list[StatusChange] = Field(default_factory=list)
    # Title requests, once the card is on its way (from the delivery journey).
    tracking_number: str | None = None
    # The notice's delays: 15 days from the postman's first visit to collect the card at
    # the post office, then 6 months from its return to ask for it to be sent again.
    pickup_deadline: datetime | None = None
    resend_deadline: datetime | None = None


# ---- activity inputs/outputs ---------------------------------------------------------


class ConsumePhotoCode(Strict):
    code: str
    request_number: str


class EmailMessage(Strict):
    to: str
    subject: str
    body: str
    # Stable per (journey, event): the mailer uses it as Message-ID so a retried
    # activity never sends a second, different message.
    idempotency_key: str


class PreCheckOutcome(Strict):
    compliant: bool
    findings: list[Finding] = Field(default_factory=list)


class EnqueueForInstruction(Strict):
    workflow_id: str
    view: RequestView


class RenderAttestation(Strict):
    view: RequestView
    neph: str
    decided_at: datetime


# ---- additions for the inscription workflow (handler input, activity outputs) --------


class RemoveDocument(Strict):
    document_id: str


class PhotoCodeConsumed(Strict):
    code: str
    consumed_by: str
    consumed_at: str = ""


class EmailSent(Strict):
    message_id: str


class InstructionEnqueued(Strict):
    request_number: str
    department: str = ""
    state: str = ""


class AttestationRendered(Strict):
    document_id: str


# ---- additions for the whole inscription procedure (récépissé, CTN verdict, reminders) --


class RenderReceipt(Strict):
    """Input of ``render_receipt``: the submitted request whose récépissé is produced."""

    view: RequestView


class ReceiptRendered(Strict):
    document_id: str


class WithdrawFromInstruction(Strict):
    """Input of ``withdraw_from_instruction``: take a queued case out of the DDT queue."""

    request_number: str
    reason: str


class InstructionWithdrawn(Strict):
    request_number: str
    state: str = ""


class RemindInstruction(Strict):
    """Input of ``remind_instruction``: level 1 is the reminder, level 2 the escalation."""

    view: RequestView
    level: int = Field(ge=1, le=2)
    in_instruction_since: datetime
    # How long the case had waited when the reminder was due (for the DDT's email).
    waited: timedelta


class InstructionReminded(Strict):
    level: int
    reminders: int = 0
    mailbox: str = ""
    # False when the DDT mailbox refused the message (the reminder still counts).
    emailed: bool = True


# ---- title production and delivery (the production service signals the journey) -------


class PartnerEventType(StrEnum):
    """What the printer and the post report about a card (the production service's
    ``PartnerEventType``, lower-cased)."""

    MANUFACTURED = "manufactured"
    POSTED = "posted"
    PICKUP_NOTICE_LEFT = "pickup_notice_left"
    DELIVERED = "delivered"
    COLLECTED = "collected"
    RETURNED = "returned"


class PartnerEventSignal(Strict):
    """The ``partner_event`` signal: one partner event, as recorded by the production
    service and in the order it recorded them. A retried delivery sends the same
    ``event_id`` again: the journey ignores an event id it has already seen."""

    event_id: str
    type: PartnerEventType
    # When it happened for the partner: the 15 days of a pickup notice count from here.
    occurred_at: datetime
    tracking_number: str = ""
    partner: str = ""


class ResendRequested(Strict):
    """The ``resend_requested`` signal: the contact centre asked to send a returned card
    again. A retried delivery repeats the same agent and time."""

    agent_id: str
    requested_at: datetime


# ---- title journey: exam check, card order, delivery journey -------------------------


class CheckExamPassed(Strict):
    """Input of ``check_exam_passed``: is a PASS recorded for this NEPH and category?"""

    neph: str
    category: Category


class ExamCheck(Strict):
    passed: bool
    # The passed exam found (the newest), when there is one.
    exam_date: str = ""
    examiner_id: str = ""


class OrderTitle(Strict):
    """Input of ``order_title``: the card to make, and the delivery journey to tell."""

    request_number: str
    workflow_id: str
    neph: str
    category: Category
    family_name: str
    given_names: str
    address_line: str
    first_licence: bool


class ShipTitleAgain(Strict):
    """Input of ``ship_again``: the contact centre's ``attempt``-th resend (1, 2...)."""

    request_number: str
    attempt: int = Field(ge=1)


class DestroyTitle(Strict):
    """Input of ``destroy_title``: an unclaimed card, 6 months after its return."""

    request_number: str
    reason: str


class TitleState(Strict):
    """What the production service says of the card after an order, a resend, a
    destruction."""

    request_number: str
    state: str = ""
    tracking_number: str = ""
    shipments: int = 0


class StartDelivery(Strict):
    """Input of ``TitleDeliveryWorkflow``. The delays are part of the input so a journey
    keeps the ones it started with."""

    request_number: str
    first_licence: bool = True
    pickup_delay: timedelta = timedelta(days=15)
    resend_window_months: int = Field(default=6, ge=1)


class DeliveryView(Strict):
    """The card's delivery as the delivery journey knows it: its query, the payload of
    each ``delivery_progress`` signal to the title journey, and its result."""

    request_number: str
    stage: Stage = Stage.IN_PRODUCTION
    stage_label: str = STAGE_LABELS[Stage.IN_PRODUCTION]
    # When the current stage began.
    since: datetime
    # Which shipment is under way: 1, then one more per resend.
    shipment: int = 1
    tracking_number: str = ""
    manufactured_at: datetime | None = None
    first_visit_at: datetime | None = None
    pickup_deadline: datetime | None = None
    returned_at: datetime | None = None
    resend_deadline: datetime | None = None
    # The partners' events as received (duplicates left out), then the contact centre's
    # resend requests.
    events: list[PartnerEventSignal] = Field(default_factory=list)
    resend_requests: list[ResendRequested] = Field(default_factory=list)
    history: list[StatusChange] = Field(default_factory=list)

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


STAGE_LABELS: dict[Stage, str] = {
    Stage.DRAFT: "Demande en cours de saisie",
    Stage.SUBMITTED: "Demande déposée",
    Stage.PRE_CHECK: "Contrôle de forme en cours (CTN)",
    Stage.IN_INSTRUCTION: "Demande en cours d'instruction (DDT)",
    Stage.ACCEPTED: "Demande acceptée",
    Stage.REJECTED: "Demande rejetée",
    Stage.ABANDONED: "Demande abandonnée (non déposée dans le délai)",
}


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


class Finding(Strict):
    code: str
    message: str
    field: str = ""


class PreCheckVerdict(Strict):
    """A CTN agent's finding that a request is not compliant (which rejects it)."""

    agent_id: str
    decided_at: datetime
    findings: list[Finding] = Field(min_length=1)


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
    motif: MotifStep | None = None
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
    history: list[StatusChange] = Field(default_factory=list)


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

"""What the candidate reads (emails, statuses) and what the services receive (the dossier)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tests.workflows.inscription_scenarios import (
    NEPH,
    address,
    civil_status,
    decision,
    document,
    motif_step,
)
from workflows import messages
from workflows.dossier import to_dossier
from workflows.models import (
    Category,
    DocumentKind,
    Finding,
    Journey,
    Motif,
    MotifStep,
    Outcome,
    PreCheckVerdict,
    RequestView,
    Stage,
    Step,
)

TO = "lea.dupont@example.fr"


def view(**changes: object) -> RequestView:
    base = RequestView(
        request_number="2511ABCDEFGH",
        journey=Journey.INSCRIPTION,
        account_id="acc-1",
        stage=Stage.SUBMITTED,
        stage_label="Demande déposée",
        created_at=datetime(2025, 11, 20, tzinfo=UTC),
        motif=motif_step(),
        civil_status=civil_status(),
        address=address(),
        photo_code="B" * 22,
        documents=[document(DocumentKind.IDENTITY_PROOF)],
        # 23:30 UTC on 30 June is already 1 July in Paris (summer time).
        submitted_at=datetime(2025, 6, 30, 23, 30, tzinfo=UTC),
    )
    return base.model_copy(update=changes)


def test_confirmation_email() -> None:
    email = messages.confirmation(view(), TO)
    assert email.to == TO
    assert email.subject == ("Confirmation de l'enregistrement de votre demande n° 2511ABCDEFGH")
    assert email.idempotency_key == "inscription-2511ABCDEFGH.confirmation"
    assert email.body.startswith("Bonjour Léa Marie Dupont,")
    assert "enregistrée le 01/07/2025" in email.body
    assert "Numéro de la demande : 2511ABCDEFGH" in email.body
    assert "Centre de Traitement et des Numérisations" in email.body
    assert "récépissé de dépôt" in email.body  # category B only

    heavy = view(motif=MotifStep(motif=Motif.FIRST_REGISTRATION, category=Category.C))
    assert "récépissé de dépôt" not in messages.confirmation(heavy, TO).body


def test_rejection_emails_state_the_reason_and_the_new_code_rule() -> None:
    findings = [Finding(code="blurred", message="La photo est floue.", field="photo")]
    ctn = messages.pre_check_rejection(view(pre_check_findings=findings), TO)
    assert "- La photo est floue." in ctn.body
    assert ctn.idempotency_key == "inscription-2511ABCDEFGH.pre-check-rejection"

    ddt_decision = decision(Outcome.REJECTED, reason="Justificatif de domicile de plus de 6 mois.")
    ddt = messages.instruction_rejection(view(decision=ddt_decision), TO)
    assert "Motif du rejet : Justificatif de domicile de plus de 6 mois." in ddt.body
    assert ddt.idempotency_key == "inscription-2511ABCDEFGH.decision"
    for email in (ctn, ddt):
        assert "Rejet de votre demande n° 2511ABCDEFGH" == email.subject
        assert "nouvelle demande" in email.body and "nouveau code photo" in email.body


def test_acceptance_email_gives_the_neph_and_the_attestation_rules() -> None:
    email = messages.acceptance(view(stage=Stage.ACCEPTED, neph=NEPH), TO)
    assert f"Votre numéro NEPH est : {NEPH}" in email.body
    assert "recto/verso sur une seule feuille" in email.body
    assert "l'examen sera reporté" in email.body
    assert email.idempotency_key == "inscription-2511ABCDEFGH.decision"


def test_current_details_and_labels() -> None:
    draft = view(stage=Stage.DRAFT, next_step=Step.ADDRESS)
    assert messages.current_details(draft) == (
        "Demande 2511ABCDEFGH en cours de saisie : étape suivante « Adresse et contact »."
    )
    waiting = messages.current_details(view(stage=Stage.IN_INSTRUCTION))
    assert "DDT du département 69" in waiting
    assert set(messages.STEP_LABELS) == set(Step)
    assert messages.local_date(datetime(2025, 1, 31, 23, 30, tzinfo=UTC)) == "01/02/2025"
    assert messages.local_date(datetime(2025, 10, 26, 22, 30, tzinfo=UTC)) == "26/10/2025"


def test_dossier_from_view() -> None:
    dossier = to_dossier(view())
    assert (dossier.request_number, dossier.journey, dossier.account_id) == (
        "2511ABCDEFGH",
        "inscription",
        "acc-1",
    )
    assert (dossier.motif, dossier.category) == ("first_registration", "B")
    assert dossier.civil_status.given_names == "Léa Marie"
    assert dossier.civil_status.birth_date == date(1990, 5, 17).isoformat()
    assert dossier.address.department == "69"
    assert dossier.address.mobile_phone == "0612345678"
    assert [d.kind for d in dossier.documents] == ["identity_proof"]
    assert dossier.submitted_at == "2025-06-30T23:30:00+00:00"
    assert dossier.photo_code == "B" * 22


def test_confirmation_announces_the_receipt_once_produced() -> None:
    email = messages.confirmation(view(receipt_document_id="doc-receipt-1"), TO)
    assert "récépissé de dépôt est disponible dans votre espace personnel" in email.body
    assert "voies ouvertes à la circulation publique" in email.body


def test_status_emails_have_one_key_per_event() -> None:
    findings = [Finding(code="blurred", message="La photo est floue.", field="photo")]
    base = view(pre_check_findings=findings, neph=NEPH, decision=decision(Outcome.ACCEPTED))
    emails = [
        messages.confirmation(base, TO),
        messages.in_instruction(base, TO),
        messages.acceptance(base, TO),
        messages.pre_check_rejection(base, TO),
        messages.pre_check_verdict_rejection(base, TO),
        messages.abandonment(base, TO),
        messages.instruction_reminder(base, 1, "ddt-69@x.fr", base.created_at, timedelta(days=15)),
        messages.instruction_reminder(base, 2, "ddt-69@x.fr", base.created_at, timedelta(days=30)),
    ]
    keys = [email.idempotency_key for email in emails]
    assert len(set(keys)) == len(keys)
    assert all(key.startswith("inscription-2511ABCDEFGH.") for key in keys)
    # The Message-ID header stays on one line (no folding before the id).
    assert all(len(f"Message-ID: <{key}@permis.example.fr>") <= 78 for key in keys)
    # Same request, same event: the same key, whatever else changed.
    assert messages.in_instruction(view(stage=Stage.REJECTED), TO).idempotency_key == keys[1]


def test_in_instruction_email() -> None:
    email = messages.in_instruction(view(stage=Stage.IN_INSTRUCTION), TO)
    assert email.subject == "Votre demande n° 2511ABCDEFGH est en cours d'instruction"
    assert email.idempotency_key == "inscription-2511ABCDEFGH.in-instruction"
    assert "Centre de Traitement et des Numérisations (CTN) est terminé" in email.body
    assert "DDT de votre département (69)" in email.body


def test_ctn_agent_rejection_gives_the_reasons_and_the_new_request_rule() -> None:
    verdict = PreCheckVerdict(
        agent_id="agent-ctn-07",
        decided_at=datetime(2025, 11, 27, tzinfo=UTC),
        findings=[
            Finding(code="expired", message="Justificatif de domicile trop ancien."),
            Finding(code="blurred", message="Pièce d'identité illisible."),
        ],
    )
    rejected = view(stage=Stage.REJECTED, pre_check_verdict=verdict)
    email = messages.pre_check_verdict_rejection(rejected, TO, withdrawn=True)
    assert email.subject == "Rejet de votre demande n° 2511ABCDEFGH"
    assert email.idempotency_key == "inscription-2511ABCDEFGH.pre-check-verdict"
    assert "- Justificatif de domicile trop ancien.\n- Pièce d'identité illisible." in email.body
    assert "retirée du service instructeur de la DDT" in email.body
    assert "nouvelle demande" in email.body and "nouveau code photo" in email.body
    before_enqueue = messages.pre_check_verdict_rejection(rejected, TO)
    assert "retirée" not in before_enqueue.body
    assert messages.current_details(rejected) == (
        "Demande 2511ABCDEFGH rejetée par un agent du CTN (agent-ctn-07) : "
        "Justificatif de domicile trop ancien. ; Pièce d'identité illisible.."
    )


def test_abandonment_email() -> None:
    draft = view(stage=Stage.ABANDONED, submitted_at=None)
    email = messages.abandonment(draft, TO)
    assert email.idempotency_key == "inscription-2511ABCDEFGH.abandoned"
    assert "commencée le 20/11/2025" in email.body
    assert "délai de 90 jours" in email.body and "nouvelle demande" in email.body
    assert "code photo/signature numérique saisi dans cette demande n'a pas été utilisé" in (
        email.body
    )
    assert "code photo" not in messages.abandonment(view(photo_code=None), TO).body


def test_ddt_reminder_and_escalation() -> None:
    waiting = view(stage=Stage.IN_INSTRUCTION)
    since = datetime(2025, 11, 21, 9, 0, tzinfo=UTC)
    reminder = messages.instruction_reminder(waiting, 1, "ddt-69@x.fr", since, timedelta(days=15))
    assert reminder.to == "ddt-69@x.fr"
    assert reminder.subject == "Relance : demande n° 2511ABCDEFGH en attente de décision"
    assert "DDT du département 69 depuis le 21/11/2025, soit plus de 15 jours" in reminder.body
    assert reminder.idempotency_key == "inscription-2511ABCDEFGH.ddt-reminder-1"
    escalation = messages.instruction_reminder(waiting, 2, "ddt-69@x.fr", since, timedelta(days=30))
    assert escalation.subject.startswith("Escalade : ")
    assert "Malgré une première relance" in escalation.body

    assert messages.current_details(waiting.model_copy(update={"instruction_reminders": 1})) == (
        "Demande 2511ABCDEFGH en attente de la décision du service instructeur "
        "(DDT du département 69). DDT relancée une fois."
    )
    escalated = waiting.model_copy(update={"instruction_reminders": 2})
    assert messages.current_details(escalated).endswith("DDT relancée puis alertée (escalade).")


def test_durations_and_timer_summaries() -> None:
    assert messages.duration_label(timedelta(days=15)) == "15 jours"
    assert messages.duration_label(timedelta(days=1)) == "1 jour"
    assert messages.duration_label(timedelta(hours=36)) == "36 heures"
    assert messages.duration_label(timedelta(minutes=5)) == "5 minutes"
    assert messages.duration_label(timedelta(seconds=1)) == "1 seconde"
    assert messages.duration_label(timedelta(seconds=90)) == "90 secondes"
    assert messages.reminder_timer_summary(1, timedelta(days=15)) == (
        "Relance de la DDT si aucune décision sous 15 jours"
    )
    assert messages.reminder_timer_summary(2, timedelta(days=30)) == (
        "Escalade si aucune décision de la DDT 30 jours après l'entrée en instruction"
    )


def test_dossier_carries_the_declared_issue_dates() -> None:
    proof = document(DocumentKind.PROOF_OF_ADDRESS).model_copy(
        update={"issued_on": date(2025, 9, 30)}
    )
    dossier = to_dossier(view(documents=[document(DocumentKind.IDENTITY_PROOF), proof]))
    assert [(d.kind, d.issued_on) for d in dossier.documents] == [
        ("identity_proof", ""),
        ("proof_of_address", "2025-09-30"),
    ]

"""What the candidate reads (emails, statuses) and what the services receive (the dossier)."""

from __future__ import annotations

from datetime import UTC, date, datetime

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

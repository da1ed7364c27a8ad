"""What the title journey says (emails, statuses) and sends (the dossier with its NEPH)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.workflows.inscription_scenarios import NEPH, address, civil_status, decision, document
from tests.workflows.title_scenarios import TRACKING, partner_event, title_motif
from workflows import messages
from workflows.dossier import to_dossier
from workflows.models import (
    STAGE_LABELS,
    DeliveryView,
    DocumentKind,
    Journey,
    Outcome,
    PartnerEventType,
    RequestView,
    Stage,
    TitleMotif,
)

TO = "lea.dupont@example.fr"
NUMBER = "2511ABCDEFGH"


def view(**changes: object) -> RequestView:
    base = RequestView(
        request_number=NUMBER,
        journey=Journey.TITLE,
        account_id="acc-1",
        stage=Stage.SUBMITTED,
        stage_label="Demande déposée",
        created_at=datetime(2025, 11, 20, tzinfo=UTC),
        motif=title_motif(),
        civil_status=civil_status(),
        address=address(),
        photo_code="B" * 22,
        documents=[document(DocumentKind.IDENTITY_PROOF)],
        submitted_at=datetime(2025, 11, 21, 9, 0, tzinfo=UTC),
        neph=NEPH,
    )
    return base.model_copy(update=changes)


def delivery(stage: Stage, **changes: object) -> DeliveryView:
    base = DeliveryView(
        request_number=NUMBER,
        stage=stage,
        stage_label=STAGE_LABELS[stage],
        since=datetime(2025, 12, 1, 10, 0, tzinfo=UTC),
    )
    return base.model_copy(update=changes)


def test_stage_labels_for_the_card() -> None:
    assert STAGE_LABELS[Stage.IN_PRODUCTION] == "Titre en cours de fabrication"
    assert STAGE_LABELS[Stage.SENT] == "Titre envoyé"
    assert STAGE_LABELS[Stage.AWAITING_PICKUP] == "Titre en attente de retrait au bureau de poste"
    assert STAGE_LABELS[Stage.DELIVERED] == "Titre remis"
    assert STAGE_LABELS[Stage.RETURNED] == (
        "Titre retourné : réexpédition possible sur demande au Centre de Contact Citoyens"
    )
    assert STAGE_LABELS[Stage.DESTROYED] == "Titre détruit : une nouvelle demande est nécessaire"
    assert set(STAGE_LABELS) == set(Stage)


def test_title_confirmation_names_the_request_and_the_neph() -> None:
    email = messages.confirmation(view(), TO)
    assert email.idempotency_key == f"title-{NUMBER}.confirmation"
    assert "demande de fabrication du titre de conduite" in email.body
    assert "réussite à l'examen : premier titre" in email.body
    assert f"NEPH) : {NEPH}" in email.body
    assert "récépissé" not in email.body and "attestation d'inscription" not in email.body


def test_title_texts_differ_from_the_inscription_ones_where_they_name_the_request() -> None:
    rejected = messages.instruction_rejection(view(decision=decision(Outcome.REJECTED)), TO)
    assert "Votre demande de fabrication du titre de conduite n° 2511ABCDEFGH a été rejetée" in (
        rejected.body
    )
    abandoned = messages.abandonment(view(stage=Stage.ABANDONED), TO)
    assert abandoned.idempotency_key == f"title-{NUMBER}.abandoned"
    assert "Pour obtenir votre titre de conduite" in abandoned.body
    since = datetime(2025, 11, 21, tzinfo=UTC)
    reminder = messages.instruction_reminder(view(), 1, "ddt-69@x.fr", since, timedelta(days=15))
    assert f"(catégorie B, NEPH {NEPH})" in reminder.body
    assert "ne peut pas être fabriqué" in reminder.body
    assert reminder.idempotency_key == f"title-{NUMBER}.ddt-reminder-1"


def test_one_email_per_delivery_status_with_stable_keys() -> None:
    request = view(stage=Stage.SENT, tracking_number=TRACKING)
    visit = datetime(2025, 12, 2, 8, 0, tzinfo=UTC)
    returned_at = visit + timedelta(days=15)
    emails = [
        messages.title_in_production(request, TO),
        messages.delivery_email(request, TO, delivery(Stage.SENT, tracking_number=TRACKING)),
        messages.delivery_email(
            request,
            TO,
            delivery(
                Stage.AWAITING_PICKUP,
                first_visit_at=visit,
                pickup_deadline=visit + timedelta(days=15),
            ),
        ),
        messages.delivery_email(
            request,
            TO,
            delivery(
                Stage.RETURNED,
                returned_at=returned_at,
                resend_deadline=datetime(2026, 6, 17, 8, tzinfo=UTC),
            ),
        ),
        messages.delivery_email(request, TO, delivery(Stage.RESEND_REQUESTED, shipment=2)),
        messages.delivery_email(request, TO, delivery(Stage.SENT, shipment=2)),
        messages.delivery_email(request, TO, delivery(Stage.DELIVERED, shipment=2)),
        messages.delivery_email(request, TO, delivery(Stage.DESTROYED, returned_at=returned_at)),
    ]
    keys = [email.idempotency_key for email in emails]
    assert keys == [
        f"title-{NUMBER}.{event}"
        for event in (
            "in-production",
            "sent-1",
            "pickup-1",
            "returned-1",
            "resend-2",
            "sent-2",
            "delivered",
            "destroyed",
        )
    ]
    assert all(len(f"Message-ID: <{key}@permis.example.fr>") <= 78 for key in keys)

    produced, sent, pickup, returned, resent, sent_again, delivered, destroyed = emails
    assert "premier permis" in produced.body and "15 jours" in produced.body
    assert f"Numéro de suivi : {TRACKING}" in sent.body
    assert "12 rue de la République, 69002 Lyon" in sent.body
    assert "de nouveau envoyé" in sent_again.body
    assert "le 02/12/2025" in pickup.body and "jusqu'au 17/12/2025" in pickup.body
    assert "Centre de Contact Citoyens jusqu'au 17/06/2026" in returned.body
    assert "numéro de suivi dès sa remise à La Poste" in resent.body
    assert "à votre domicile" in delivered.body
    assert "détruit" in destroyed.body and "nouvelle demande" in destroyed.body
    assert "retourné le 17/12/2025" in destroyed.body

    collected = delivery(Stage.DELIVERED, events=[partner_event(PartnerEventType.COLLECTED)])
    assert "au bureau de poste" in messages.title_delivered(request, TO, collected).body
    # A duplicate is no first licence: no word of the home delivery rule.
    duplicate = view(motif=title_motif(TitleMotif.LOSS))
    assert "premier permis" not in messages.title_in_production(duplicate, TO).body


def test_current_details_follow_the_card() -> None:
    deadline = datetime(2025, 12, 17, 8, tzinfo=UTC)
    assert messages.current_details(view(stage=Stage.ACCEPTED)) == (
        f"Demande {NUMBER} acceptée par le service instructeur : commande du titre de conduite "
        f"(NEPH {NEPH})."
    )
    assert messages.current_details(view(stage=Stage.SENT, tracking_number=TRACKING)) == (
        f"Demande {NUMBER} : titre envoyé par La Poste, numéro de suivi {TRACKING}."
    )
    assert "jusqu'au 17/12/2025" in messages.current_details(
        view(stage=Stage.AWAITING_PICKUP, pickup_deadline=deadline)
    )
    assert "Centre de Contact Citoyens" in messages.current_details(
        view(stage=Stage.RETURNED, resend_deadline=deadline)
    )
    assert "nouvelle demande" in messages.current_details(view(stage=Stage.DESTROYED))

    made = delivery(Stage.IN_PRODUCTION, manufactured_at=datetime(2025, 12, 1, tzinfo=UTC))
    assert messages.delivery_details(made) == (
        f"Titre de la demande {NUMBER} fabriqué le 01/12/2025 : en attente de sa remise à La Poste."
    )
    waiting = delivery(Stage.AWAITING_PICKUP, pickup_deadline=deadline)
    assert "retourné s'il n'est pas retiré d'ici le 17/12/2025" in messages.delivery_details(
        waiting
    )
    assert messages.pickup_timer_summary(timedelta(days=15), deadline) == (
        "Délai de 15 jours pour retirer le titre au bureau de poste (jusqu'au 17/12/2025)"
    )
    assert messages.resend_timer_summary(6, deadline) == (
        "Délai de 6 mois pour demander la réexpédition au Centre de Contact Citoyens "
        "(jusqu'au 17/12/2025)"
    )


def test_dossier_of_a_title_request_carries_the_neph() -> None:
    dossier = to_dossier(view(neph=None))
    assert (dossier.journey, dossier.motif, dossier.neph) == (
        "title",
        "exam_success_first_title",
        NEPH,
    )

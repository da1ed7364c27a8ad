"""The title journey on the dev server: the inscription's procedure with a title motif
and the NEPH, the exam check at submission, then the card followed to its delivery
(the delivery child driven with the production service's signals)."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from services.common.errors import ErrorCode
from services.common.requirements import MOTIF_DOCUMENTS
from tests.workflows.inscription_scenarios import (
    NEPH,
    decision,
    refused,
    wait_for_stage,
    wait_for_view,
)
from tests.workflows.test_inscription_abandon import register_search_attributes
from tests.workflows.title_scenarios import (
    TRACKING,
    FakeTitleServices,
    delivery_handle,
    fill_title_draft,
    partner_event,
    running_title_worker,
    start_title,
    title_documents,
    title_motif,
    wait_for_delivery,
)
from workflows import ids
from workflows.delivery import TitleDeliveryWorkflow
from workflows.models import (
    Category,
    DocumentKind,
    Journey,
    Outcome,
    PartnerEventType,
    Stage,
    TitleMotif,
)
from workflows.title import TitleWorkflow

PROCEDURE = [Stage.DRAFT, Stage.SUBMITTED, Stage.PRE_CHECK, Stage.IN_INSTRUCTION]


async def test_first_title_from_exam_success_to_delivered(temporal_client: Client) -> None:
    fake = FakeTitleServices()
    async with running_title_worker(temporal_client, fake) as task_queue:
        handle = await start_title(temporal_client, task_queue)
        number = handle.id.removeprefix(ids.TITLE_PREFIX)
        view = await fill_title_draft(handle)
        assert view.journey is Journey.TITLE and view.neph == NEPH
        # Born in 1990 (after 1 January 1988), first title: ASSR2 or ASR.
        assert DocumentKind.ASSR2_OR_ASR in view.required_documents
        assert view.next_step is None

        await handle.execute_update(TitleWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        assert [(c.neph, c.category) for c in fake.exam_checks] == [(NEPH, Category.B)]
        assert set(fake.consumed.values()) == {number}
        # The DDT gets the dossier of a title request, with its NEPH.
        [enqueued] = fake.enqueued
        assert enqueued.workflow_id == handle.id and enqueued.view.neph == NEPH

        # The instruction service keeps the candidate's NEPH (or gives none).
        other = decision(Outcome.ACCEPTED).model_copy(update={"neph": "250269010002"})
        error = await refused(handle.execute_update(TitleWorkflow.record_decision, other))
        assert error.type == ErrorCode.INVALID_FIELD.value
        await handle.execute_update(TitleWorkflow.record_decision, decision(Outcome.ACCEPTED))

        producing = await wait_for_stage(handle, Stage.IN_PRODUCTION)
        assert producing.stage_label == "Titre en cours de fabrication"
        [order] = fake.orders
        assert order.workflow_id == ids.delivery_workflow_id(number)
        assert (order.neph, order.category, order.first_licence) == (NEPH, Category.B, True)
        assert (order.family_name, order.given_names) == ("Dupont", "Léa Marie")
        assert order.address_line == "12 rue de la République, 69002 Lyon"

        # The printer and the post report, through the production service.
        child = delivery_handle(temporal_client, number)
        await child.signal(
            TitleDeliveryWorkflow.partner_event, partner_event(PartnerEventType.MANUFACTURED)
        )
        posted = partner_event(PartnerEventType.POSTED, tracking_number=TRACKING)
        await child.signal(TitleDeliveryWorkflow.partner_event, posted)
        sent = await wait_for_stage(handle, Stage.SENT)
        assert (sent.stage_label, sent.tracking_number) == ("Titre envoyé", TRACKING)
        await child.signal(
            TitleDeliveryWorkflow.partner_event, partner_event(PartnerEventType.DELIVERED)
        )
        result = await handle.result()
        described = await handle.describe()

    assert result.stage is Stage.DELIVERED and result.stage_label == "Titre remis"
    assert [change.stage for change in result.history] == [
        *PROCEDURE,
        Stage.ACCEPTED,
        Stage.IN_PRODUCTION,
        Stage.SENT,
        Stage.DELIVERED,
    ]
    assert result.tracking_number == TRACKING
    assert (await child.result()).stage is Stage.DELIVERED
    assert fake.email_keys() == [
        f"title-{number}.{event}"
        for event in ("confirmation", "in-instruction", "in-production", "sent-1", "delivered")
    ]
    sent_email = fake.emails[3]
    assert TRACKING in sent_email.body and "15 jours" in sent_email.body
    assert "premier permis" in fake.emails[2].body
    attributes = described.typed_search_attributes
    assert attributes.get(ids.JOURNEY) == "title"
    assert attributes.get(ids.STAGE) == "delivered"
    assert attributes.get(ids.MOTIF) == "exam_success_first_title"
    assert fake.receipts == [] and fake.rendered == []


async def test_duplicate_after_loss_collected_at_the_post_office(temporal_client: Client) -> None:
    fake = FakeTitleServices()
    async with running_title_worker(temporal_client, fake) as task_queue:
        handle = await start_title(temporal_client, task_queue)
        number = handle.id.removeprefix(ids.TITLE_PREFIX)
        view = await fill_title_draft(handle, title_motif(TitleMotif.LOSS))
        assert DocumentKind.LOSS_DECLARATION in view.required_documents
        assert DocumentKind.ASSR2_OR_ASR not in view.required_documents
        await handle.execute_update(TitleWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        assert fake.exam_checks == []  # no exam for a duplicate
        accepted = decision(Outcome.ACCEPTED)  # carries the same NEPH: accepted too
        await handle.execute_update(TitleWorkflow.record_decision, accepted)
        await wait_for_stage(handle, Stage.IN_PRODUCTION)
        assert fake.orders[0].first_licence is False

        child = delivery_handle(temporal_client, number)
        for event in (
            partner_event(PartnerEventType.MANUFACTURED),
            partner_event(PartnerEventType.POSTED, tracking_number=TRACKING),
            partner_event(PartnerEventType.PICKUP_NOTICE_LEFT),
        ):
            await child.signal(TitleDeliveryWorkflow.partner_event, event)
        waiting = await wait_for_stage(handle, Stage.AWAITING_PICKUP)
        delivery = await wait_for_delivery(child, lambda v: v.stage is Stage.AWAITING_PICKUP)
        assert waiting.pickup_deadline == delivery.pickup_deadline is not None
        assert waiting.stage_label == "Titre en attente de retrait au bureau de poste"
        await child.signal(
            TitleDeliveryWorkflow.partner_event, partner_event(PartnerEventType.COLLECTED)
        )
        result = await handle.result()

    assert result.stage is Stage.DELIVERED
    assert [change.stage for change in result.history][-4:] == [
        Stage.IN_PRODUCTION,
        Stage.SENT,
        Stage.AWAITING_PICKUP,
        Stage.DELIVERED,
    ]
    keys = fake.email_keys()
    assert keys[-3:] == [f"title-{number}.{e}" for e in ("sent-1", "pickup-1", "delivered")]
    assert "au bureau de poste" in fake.emails[-1].body
    assert "jusqu'au" in fake.emails[-2].body


async def test_exam_not_passed_is_refused_at_submit(temporal_client: Client) -> None:
    fake = FakeTitleServices(exam_passed=False)
    async with running_title_worker(temporal_client, fake) as task_queue:
        handle = await start_title(temporal_client, task_queue)
        step = title_motif(TitleMotif.EXAM_SUCCESS_NEW_CATEGORY, Category.A2)
        await fill_title_draft(handle, step)
        error = await refused(handle.execute_update(TitleWorkflow.submit))
        assert error.type == ErrorCode.EXAM_NOT_PASSED.value
        assert error.message == (
            "Aucune réussite à l'examen n'est enregistrée pour ce NEPH et cette catégorie."
        )
        # Refused before the code was spent: the request is still a draft.
        assert fake.consumed == {}
        assert (await handle.query(TitleWorkflow.view)).stage is Stage.DRAFT

        fake.exam_passed = True  # the examiner records the pass
        await handle.execute_update(TitleWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        assert [(c.neph, c.category) for c in fake.exam_checks] == [(NEPH, Category.A2)] * 2
        assert len(fake.consumed) == 1
        await handle.terminate("test done")


async def test_rejected_title_request(temporal_client: Client) -> None:
    fake = FakeTitleServices()
    async with running_title_worker(temporal_client, fake) as task_queue:
        handle = await start_title(temporal_client, task_queue)
        await fill_title_draft(handle, title_motif(TitleMotif.THEFT))
        await handle.execute_update(TitleWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        reason = "Le récépissé de déclaration de vol est illisible."
        await handle.execute_update(
            TitleWorkflow.record_decision, decision(Outcome.REJECTED, reason=reason)
        )
        result = await handle.result()
    assert result.stage is Stage.REJECTED
    assert fake.orders == []
    email = fake.emails[-1]
    assert email.idempotency_key == f"title-{result.request_number}.decision"
    assert "demande de fabrication du titre de conduite" in email.body
    assert f"Motif du rejet : {reason}" in email.body


async def test_motif_step_locks_and_needs_a_neph(temporal_client: Client) -> None:
    fake = FakeTitleServices()
    async with running_title_worker(temporal_client, fake) as task_queue:
        handle = await start_title(temporal_client, task_queue)
        spaced = title_motif().model_copy(update={"neph": NEPH})
        view = await handle.execute_update(TitleWorkflow.set_motif, spaced)
        assert view.motif is not None and view.motif.motif is TitleMotif.EXAM_SUCCESS_FIRST_TITLE
        error = await refused(
            handle.execute_update(TitleWorkflow.set_motif, title_motif(TitleMotif.LOSS))
        )
        assert error.type == ErrorCode.MOTIF_LOCKED.value
        await handle.terminate("test done")


def test_neph_is_twelve_digits_printed_in_groups() -> None:
    assert title_motif(neph="2501 69 01 0001").neph == "250169010001"
    with pytest.raises(ValueError):
        title_motif(neph="25016901")


@pytest.mark.parametrize("motif", list(TitleMotif))
async def test_every_motif_submits_with_its_documents(
    temporal_client: Client, motif: TitleMotif
) -> None:
    fake = FakeTitleServices()
    # Heavy categories need a medical opinion when the category is obtained or renewed.
    category = Category.C if motif is TitleMotif.END_OF_VALIDITY else Category.B
    step = title_motif(motif, category)
    async with running_title_worker(temporal_client, fake) as task_queue:
        handle = await start_title(temporal_client, task_queue)
        view = await fill_title_draft(handle, step)
        assert [kind.value for kind in view.required_documents] == title_documents(step)
        await handle.execute_update(TitleWorkflow.submit)
        submitted = await wait_for_view(handle, lambda v: v.stage is not Stage.DRAFT)
        assert submitted.submitted_at is not None
        assert len(fake.exam_checks) == (
            1
            if motif in (TitleMotif.EXAM_SUCCESS_FIRST_TITLE, TitleMotif.EXAM_SUCCESS_NEW_CATEGORY)
            else 0
        )
        await handle.terminate("test done")
    # The motif's own documents are among them (declaration, current licence...).
    own = {kind for kind, _ in MOTIF_DOCUMENTS[motif]}
    assert own <= set(view.required_documents)
    if motif is TitleMotif.END_OF_VALIDITY:
        assert DocumentKind.MEDICAL_OPINION in view.required_documents


async def test_title_draft_abandoned_after_90_days(time_skipping_env: WorkflowEnvironment) -> None:
    """The shared procedure's 90-day limit, told in the title journey's words."""
    client = time_skipping_env.client
    await register_search_attributes(client)
    fake = FakeTitleServices()
    async with running_title_worker(client, fake) as task_queue:
        handle = await start_title(client, task_queue)
        result = await handle.result()
    assert result.stage is Stage.ABANDONED and result.journey is Journey.TITLE
    assert fake.email_keys() == [f"title-{result.request_number}.abandoned"]
    assert "demande de fabrication du titre de conduite" in fake.emails[0].body

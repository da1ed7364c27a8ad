"""The inscription workflow on the real Temporal dev server, with stand-in activities."""

from __future__ import annotations

import asyncio
from datetime import date

import temporalio.api.sdk.v1
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from services.common.errors import ErrorCode
from services.common.payload_codec import data_converter
from tests.workflows.inscription_scenarios import (
    NEPH,
    FakeServices,
    Handle,
    address,
    civil_status,
    decision,
    document,
    fill_draft,
    fill_until_photo,
    journey_to_decision,
    motif_step,
    new_task_queue,
    photo_code,
    refused,
    running_worker,
    start_journey,
    wait_for_stage,
)
from workflows import ids
from workflows.inscription import InscriptionWorkflow
from workflows.models import (
    AddressStep,
    Category,
    DocumentKind,
    LegalRepresentative,
    Motif,
    MotifStep,
    Outcome,
    PhotoStep,
    RemoveDocument,
    RequestView,
    Stage,
    Step,
)


async def test_happy_path_to_accepted(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle, result = await journey_to_decision(temporal_client, task_queue, Outcome.ACCEPTED)

    number = result.request_number
    assert result.stage is Stage.ACCEPTED
    assert result.neph == NEPH
    assert result.attestation_document_id == f"att-{number}"
    assert [change.stage for change in result.history] == [
        Stage.DRAFT,
        Stage.SUBMITTED,
        Stage.PRE_CHECK,
        Stage.IN_INSTRUCTION,
        Stage.ACCEPTED,
    ]
    assert result.history[-1].label == "Demande acceptée"
    assert result.submitted_at is not None
    # The code was spent for this request, the dossier went through CTN and DDT.
    assert fake.consumed == {result.photo_code: number}
    assert [view.request_number for view in fake.checked] == [number]
    assert fake.enqueued[0].workflow_id == handle.id == f"inscription-{number}"
    assert fake.rendered[0].neph == NEPH
    # Category B: the récépissé de dépôt was produced at submission.
    assert result.receipt_document_id == f"rcp-{number}"
    assert [receipt.view.request_number for receipt in fake.receipts] == [number]
    # An email at each status change, to the contact address, keys stable per event.
    assert fake.email_keys() == [
        f"inscription-{number}.confirmation",
        f"inscription-{number}.in-instruction",
        f"inscription-{number}.decision",
    ]
    assert {message.to for message in fake.emails} == {"lea.dupont@example.fr"}
    assert fake.emails[0].subject.startswith("Confirmation de l'enregistrement de votre demande")
    assert NEPH in fake.emails[-1].body
    # The decision came long before the reminder was due.
    assert fake.reminders == [] and result.instruction_reminders == 0

    # The history this run wrote replays on the current code.
    history = await handle.fetch_history()
    replayer = Replayer(workflows=[InscriptionWorkflow], data_converter=data_converter())
    await replayer.replay_workflow(history)


async def test_rejected_by_instructor(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        _, result = await journey_to_decision(temporal_client, task_queue, Outcome.REJECTED)

    assert result.stage is Stage.REJECTED
    assert result.neph is None and result.attestation_document_id is None
    assert result.decision is not None and result.decision.outcome is Outcome.REJECTED
    assert fake.rendered == []
    rejection = fake.emails[-1]
    assert rejection.idempotency_key == f"inscription-{result.request_number}.decision"
    assert "Les données d'état civil sont incohérentes." in rejection.body
    assert "nouveau code photo" in rejection.body


async def test_ctn_non_compliance_ends_the_journey(temporal_client: Client) -> None:
    fake = FakeServices(compliant=False)
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        result = await handle.result()

    assert result.stage is Stage.REJECTED
    assert [finding.code for finding in result.pre_check_findings] == ["unreadable_document"]
    assert fake.enqueued == []
    assert fake.email_keys()[-1] == f"inscription-{result.request_number}.pre-check-rejection"
    assert "illisible" in fake.emails[-1].body
    assert "nouvelle demande" in fake.emails[-1].body


async def test_steps_out_of_order_and_motif_locked(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        error = await refused(
            handle.execute_update(InscriptionWorkflow.set_civil_status, civil_status())
        )
        assert error.type == ErrorCode.STEP_OUT_OF_ORDER.value
        assert "Motif de la demande" in error.message

        view = await handle.execute_update(InscriptionWorkflow.set_motif, motif_step())
        assert view.completed_steps == [Step.MOTIF] and view.next_step is Step.CIVIL_STATUS
        error = await refused(
            handle.execute_update(
                InscriptionWorkflow.set_motif,
                MotifStep(motif=Motif.EXTENSION, category=Category.A2),
            )
        )
        assert error.type == ErrorCode.MOTIF_LOCKED.value
        error = await refused(
            handle.execute_update(InscriptionWorkflow.add_document, document(DocumentKind.OTHER))
        )
        assert error.type == ErrorCode.STEP_OUT_OF_ORDER.value
        error = await refused(handle.execute_update(InscriptionWorkflow.submit))
        assert error.type == ErrorCode.STEP_OUT_OF_ORDER.value

        # An earlier step may be filled again while the request is a draft.
        await fill_until_photo_after_motif(handle)
        view = await handle.execute_update(
            InscriptionWorkflow.set_address,
            AddressStep(
                street="3 place Bellecour",
                postal_code="13001",
                city="Marseille",
                email="lea@example.fr",
                mobile_phone="0712345678",
            ),
        )
        assert view.address is not None and view.address.city == "Marseille"
        view = await handle.query(InscriptionWorkflow.view)
        assert view.motif is not None and view.motif.category is Category.B
        assert view.stage is Stage.DRAFT
        await handle.terminate("test done")


async def fill_until_photo_after_motif(handle: Handle) -> None:
    await handle.execute_update(InscriptionWorkflow.set_civil_status, civil_status())
    await handle.execute_update(InscriptionWorkflow.set_address, address())
    await handle.execute_update(
        InscriptionWorkflow.set_photo_code, PhotoStep(photo_code=photo_code())
    )


async def test_submit_refused_with_missing_documents(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        view = await fill_until_photo(handle)
        assert view.required_documents == [
            DocumentKind.IDENTITY_PROOF,
            DocumentKind.PROOF_OF_ADDRESS,
        ]
        identity = document(DocumentKind.IDENTITY_PROOF)
        view = await handle.execute_update(InscriptionWorkflow.add_document, identity)
        assert Step.DOCUMENTS not in view.completed_steps and view.next_step is Step.DOCUMENTS

        error = await refused(handle.execute_update(InscriptionWorkflow.submit))
        assert error.type == ErrorCode.MISSING_DOCUMENTS.value
        assert "Justificatif de domicile" in error.message
        assert error.details == ({"missing": "proof_of_address"},)

        # Removing a document brings it back into the missing list.
        await handle.execute_update(
            InscriptionWorkflow.remove_document, RemoveDocument(document_id=identity.document_id)
        )
        error = await refused(handle.execute_update(InscriptionWorkflow.submit))
        assert error.details == ({"missing": "identity_proof,proof_of_address"},)
        error = await refused(
            handle.execute_update(
                InscriptionWorkflow.remove_document, RemoveDocument(document_id="nope")
            )
        )
        assert error.type == ErrorCode.DOCUMENT_NOT_FOUND.value
        assert fake.consumed == {}
        assert (await handle.query(InscriptionWorkflow.view)).stage is Stage.DRAFT
        await handle.terminate("test done")


async def test_submit_refused_when_too_young(temporal_client: Client) -> None:
    today = date.today()
    sixteen = date(today.year - 16, 1, 1)  # 16 this year: under B's 17
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        await fill_until_photo(handle, birth_date=sixteen)
        error = await refused(handle.execute_update(InscriptionWorkflow.submit))
        assert error.type == ErrorCode.TOO_YOUNG.value
        assert "17 ans pour la catégorie B" in error.message
        assert fake.consumed == {}
        await handle.terminate("test done")


async def test_minor_needs_a_legal_representative(temporal_client: Client) -> None:
    today = date.today()
    seventeen = date(today.year - 17, 1, 1)  # old enough for B, still a minor
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        view = await fill_until_photo(handle, birth_date=seventeen)
        assert DocumentKind.LEGAL_REPRESENTATIVE_ID in view.required_documents
        for kind in view.required_documents:
            await handle.execute_update(InscriptionWorkflow.add_document, document(kind))
        error = await refused(handle.execute_update(InscriptionWorkflow.submit))
        assert error.type == ErrorCode.MISSING_FIELDS.value
        assert "représentant légal" in error.message

        with_parent = civil_status(seventeen).model_copy(
            update={
                "legal_representative": LegalRepresentative(
                    family_name="Dupont", given_names="Anne", relationship="mother"
                )
            }
        )
        await handle.execute_update(InscriptionWorkflow.set_civil_status, with_parent)
        view = await handle.execute_update(InscriptionWorkflow.submit)
        assert view.stage is Stage.SUBMITTED
        await handle.terminate("test done")


async def test_photo_code_used_at_submit_then_fresh_code(temporal_client: Client) -> None:
    spent = photo_code()
    fake = FakeServices(spent_codes={spent})
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        await fill_draft(handle, code=spent)

        error = await refused(handle.execute_update(InscriptionWorkflow.submit))
        assert error.type == ErrorCode.PHOTO_CODE_USED.value
        assert "déjà été utilisé" in error.message
        view = await handle.query(InscriptionWorkflow.view)
        assert view.stage is Stage.DRAFT and view.submitted_at is None
        assert fake.emails == []

        fresh = photo_code()
        await handle.execute_update(InscriptionWorkflow.set_photo_code, PhotoStep(photo_code=fresh))
        view = await handle.execute_update(InscriptionWorkflow.submit)
        assert view.stage is Stage.SUBMITTED
        assert fake.consumed == {fresh: view.request_number}

        error = await refused(handle.execute_update(InscriptionWorkflow.submit))
        assert error.type == ErrorCode.REQUEST_ALREADY_SUBMITTED.value
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        await handle.terminate("test done")


async def test_concurrent_submits_spend_the_code_once(temporal_client: Client) -> None:
    fake = FakeServices()
    task_queue = new_task_queue()
    async with running_worker(temporal_client, fake, task_queue, cache=False):
        handle = await start_journey(temporal_client, task_queue)
        await fill_draft(handle)
    # No worker is polling: both submits wait on the server, then reach the next worker
    # together, in the same workflow task.
    submits = [
        asyncio.create_task(handle.execute_update(InscriptionWorkflow.submit)) for _ in range(2)
    ]
    await asyncio.sleep(0.5)
    async with running_worker(temporal_client, fake, task_queue, cache=False):
        outcomes = await asyncio.gather(*submits, return_exceptions=True)
        views = [o for o in outcomes if isinstance(o, RequestView)]
        assert len(views) == 1 and views[0].stage is Stage.SUBMITTED
        failures = [o for o in outcomes if isinstance(o, WorkflowUpdateFailedError)]
        assert len(failures) == 1
        assert isinstance(failures[0].cause, ApplicationError)
        assert failures[0].cause.type == ErrorCode.REQUEST_ALREADY_SUBMITTED.value
        view = await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        assert [change.stage for change in view.history].count(Stage.SUBMITTED) == 1
        assert len(fake.consumed) == 1
        await handle.terminate("test done")


async def test_decisions_only_when_waiting_and_idempotent(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        error = await refused(
            handle.execute_update(InscriptionWorkflow.record_decision, decision(Outcome.ACCEPTED))
        )
        assert error.type == ErrorCode.JOURNEY_NOT_WAITING.value

        await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)
        no_neph = decision(Outcome.ACCEPTED).model_copy(update={"neph": ""})
        error = await refused(handle.execute_update(InscriptionWorkflow.record_decision, no_neph))
        assert error.type == ErrorCode.INVALID_FIELD.value

        accepted = decision(Outcome.ACCEPTED)
        first = await handle.execute_update(InscriptionWorkflow.record_decision, accepted)
        assert first.decision == accepted
        again = await handle.execute_update(InscriptionWorkflow.record_decision, accepted)
        assert again.decision == accepted
        error = await refused(
            handle.execute_update(InscriptionWorkflow.record_decision, decision(Outcome.REJECTED))
        )
        assert error.type == ErrorCode.CASE_ALREADY_DECIDED.value

        result = await handle.result()
    assert result.stage is Stage.ACCEPTED
    # The repeat changed nothing: one attestation, one decision email.
    assert len(fake.rendered) == 1
    assert fake.email_keys().count(f"inscription-{result.request_number}.decision") == 1


async def test_search_attributes(temporal_client: Client) -> None:
    fake = FakeServices()
    async with running_worker(temporal_client, fake) as task_queue:
        handle = await start_journey(temporal_client, task_queue)
        view = await fill_draft(handle)
        await handle.execute_update(InscriptionWorkflow.submit)
        await wait_for_stage(handle, Stage.IN_INSTRUCTION)

        query = (
            f"{ids.REQUEST_NUMBER.name} = '{view.request_number}' AND "
            f"{ids.STAGE.name} = 'in_instruction' AND {ids.DEPARTMENT.name} = '69'"
        )
        found = []
        for _ in range(50):  # visibility is eventually consistent
            found = [execution async for execution in temporal_client.list_workflows(query)]
            if found:
                break
            await asyncio.sleep(0.1)
        assert [execution.id for execution in found] == [handle.id]
        attributes = found[0].typed_search_attributes
        assert attributes.get(ids.JOURNEY) == "inscription"
        assert attributes.get(ids.MOTIF) == "first_registration"
        assert attributes.get(ids.CATEGORY) == "B"
        assert attributes.get(ids.ACCOUNT_ID) == view.account_id

        assert "DDT du département 69" in await current_details(handle)
        await handle.terminate("test done")


async def current_details(handle: Handle) -> str:
    """What the Temporal UI shows as the workflow's current details."""
    metadata = await handle.query(
        "__temporal_workflow_metadata", result_type=temporalio.api.sdk.v1.WorkflowMetadata
    )
    return metadata.current_details

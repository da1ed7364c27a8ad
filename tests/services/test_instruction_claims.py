"""Who holds a case and what happens to it besides a decision: claims (scoped to the
instructor's department, with working download links to the dossier's documents),
decisions by a non-claimant, withdrawals, reminders, the rejection reasons, and the
journal of who did what. Real gRPC servers (instruction and documents), SeaweedFS S3,
the Temporal dev server, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import grpc
import pytest

from deploy.local import processes, samples
from permis.common.v1 import dossier_pb2
from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from permis.instruction.v1 import instruction_pb2
from services.common.errors import ErrorCode, PermisError
from services.instruction import rules, storage
from tests.services import test_instruction as base
from tests.services.test_instruction import (
    Running,
    accept,
    error_code,
    get_case,
    make_dossier,
    reject,
)
from workflows.ids import new_request_number

# The instruction service beside its document service, and the stand-in journey's worker.
service = base.service
worker = base.worker

AGENT = "ddt69-agent-1"
OTHER_AGENT = "ddt69-agent-2"


def claim(
    number: str, instructor: str = AGENT, department: str = "69"
) -> instruction_pb2.ClaimCaseRequest:
    return instruction_pb2.ClaimCaseRequest(
        request_number=number, instructor_id=instructor, department=department
    )


async def enqueue(
    running: Running, dossier: dossier_pb2.Dossier
) -> instruction_pb2.InstructionCase:
    return await running.stub.EnqueueCase(
        instruction_pb2.EnqueueCaseRequest(
            workflow_id=f"wf-{dossier.request_number}", dossier=dossier
        )
    )


async def refused(call: object) -> PermisError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call  # type: ignore[misc]
    error = PermisError.from_rpc_error(failure.value)
    assert error is not None, failure.value
    return error


async def journal(running: Running, number: str) -> list[tuple[str, str, str]]:
    async with running.servicer.sessionmaker() as session:
        return [(e.action, e.actor, e.detail) for e in await storage.events(session, number)]


async def pending_numbers(running: Running, department: str = "69", **filters: bool) -> list[str]:
    page = await running.stub.ListPendingCases(
        instruction_pb2.ListPendingCasesRequest(department=department, **filters)
    )
    return [c.request_number for c in page.cases]


# ---- rejection reasons ---------------------------------------------------------------


def test_rejection_reasons_say_which_need_an_explanation() -> None:
    reasons = rules.rejection_reasons()
    assert [r.code for r in reasons] == list(rules.REJECTION_REASONS)
    assert [r.code for r in reasons if r.requires_text] == ["other"]
    assert reasons[-1].code == "other"
    for reason in reasons:
        if not reason.requires_text:
            assert rules.check_rejection(reason.code, "") == (reason.code, "")


@pytest.mark.parametrize(("level", "valid"), [(0, False), (1, True), (2, True), (3, False)])
def test_reminder_levels(level: int, valid: bool) -> None:
    if valid:
        assert rules.check_reminder_level(level) == level
    else:
        with pytest.raises(PermisError) as bad:
            rules.check_reminder_level(level)
        assert bad.value.code is ErrorCode.INVALID_FIELD


def test_withdrawal_reasons_are_needed_and_kept_short() -> None:
    with pytest.raises(PermisError) as missing:
        rules.check_withdrawal_reason("  ")
    assert missing.value.code is ErrorCode.MISSING_FIELDS
    assert rules.check_withdrawal_reason(" Pièce illisible ") == "Pièce illisible"
    long = rules.check_withdrawal_reason("constat ; " * 500)
    assert len(long) <= rules.MAX_WITHDRAWAL_REASON and long.endswith("…")


async def test_rejection_reasons_are_served(service: Running) -> None:
    answer = await service.stub.ListRejectionReasons(instruction_pb2.ListRejectionReasonsRequest())
    assert [(r.code, r.label, r.requires_text) for r in answer.reasons] == [
        (code, label, code == "other") for code, label in rules.REJECTION_REASONS.items()
    ]
    assert answer.reasons[0].label == "Pièce justificative manquante"


# ---- claims --------------------------------------------------------------------------


async def test_claim_is_scoped_to_the_department_and_to_one_instructor(service: Running) -> None:
    dossier = make_dossier("69")
    number = dossier.request_number
    await enqueue(service, dossier)

    wrong = await refused(service.stub.ClaimCase(claim(number, department="13")))
    assert wrong.code is ErrorCode.WRONG_DEPARTMENT
    assert (await get_case(service, number)).claimed_by == ""
    for bad, code in [
        (claim(number, instructor=" "), ErrorCode.MISSING_FIELDS),
        (claim(number, department=""), ErrorCode.MISSING_FIELDS),
        (claim(number, department="987"), ErrorCode.INVALID_FIELD),
        (claim(new_request_number(datetime.now(UTC))), ErrorCode.CASE_NOT_FOUND),
    ]:
        assert (await refused(service.stub.ClaimCase(bad))).code is code

    before = datetime.now(UTC)
    first = await service.stub.ClaimCase(claim(number))
    assert first.claimed_by == AGENT
    assert before <= datetime.fromisoformat(first.claimed_at) <= datetime.now(UTC)
    assert first.state == "pending" and first.dossier == dossier
    # The same instructor again: the same claim (its time unchanged), links given afresh.
    again = await service.stub.ClaimCase(claim(number))
    assert (again.claimed_by, again.claimed_at) == (first.claimed_by, first.claimed_at)
    assert len(again.documents) == len(dossier.documents)

    other = await refused(service.stub.ClaimCase(claim(number, OTHER_AGENT)))
    assert other.code is ErrorCode.CASE_CLAIMED
    assert other.details["claimed_by"] == AGENT

    # Claimed cases stay in the queue, with their holder; the filter leaves them out.
    spare = make_dossier("69")
    await enqueue(service, spare)
    assert await pending_numbers(service) == [number, spare.request_number]
    assert await pending_numbers(service, unclaimed_only=True) == [spare.request_number]
    listed = await service.stub.ListPendingCases(
        instruction_pb2.ListPendingCasesRequest(department="69")
    )
    assert listed.cases[0].claimed_by == AGENT
    assert list(listed.cases[0].documents) == []  # links only come with a claim
    assert await journal(service, number) == [
        ("enqueued", f"wf-{number}", ""),
        ("claimed", AGENT, ""),
    ]


async def test_concurrent_claims_one_instructor_wins(service: Running) -> None:
    dossier = make_dossier("2A")
    await enqueue(service, dossier)
    agents = [f"ddt2a-agent-{i}" for i in range(4)]

    outcomes = await asyncio.gather(
        *(service.stub.ClaimCase(claim(dossier.request_number, a, "2A")) for a in agents),
        return_exceptions=True,
    )

    won = [o for o in outcomes if isinstance(o, instruction_pb2.InstructionCase)]
    lost = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(won) == 1 and len(lost) == 3, outcomes
    assert all(error_code(e) is ErrorCode.CASE_CLAIMED for e in lost)
    assert (await get_case(service, dossier.request_number)).claimed_by == won[0].claimed_by
    claims = [e for e in await journal(service, dossier.request_number) if e[0] == "claimed"]
    assert claims == [("claimed", won[0].claimed_by, "")]


def fetch(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), response.headers["Content-Type"]


async def test_claim_brings_the_documents_as_working_links(service: Running) -> None:
    dossier = make_dossier("69")
    number = dossier.request_number
    identity = samples.pdf("Carte nationale d'identité", ["MARTIN Camille"])
    address = samples.png(12, 12)
    refs = []
    for kind, filename, content in [
        ("identity_proof", "cni.pdf", identity),
        ("proof_of_address", "facture.png", address),
    ]:
        stored = await service.documents.UploadDocument(
            documents_pb2.UploadDocumentRequest(
                request_number=number,
                kind=kind,
                filename=filename,
                content=content,
                owner_account_id="account-1",
            )
        )
        refs.append(
            dossier_pb2.DocumentRef(
                document_id=stored.document_id,
                kind=kind,
                content_type=stored.content_type,
                sha256=stored.sha256,
                size=stored.size,
            )
        )
    ghost = dossier_pb2.DocumentRef(document_id=str(uuid.uuid4()), kind="other")
    del dossier.documents[:]
    dossier.documents.extend([*refs, ghost])
    await enqueue(service, dossier)

    before = datetime.now(UTC)
    case = await service.stub.ClaimCase(claim(number))

    assert [d.document for d in case.documents] == [*refs, ghost]
    for document, content in zip(case.documents[:2], [identity, address], strict=True):
        assert parse_qs(urlparse(document.download_url).query)["X-Amz-Expires"] == ["300"]
        lifetime = datetime.fromisoformat(document.url_expires_at) - before
        assert timedelta(seconds=295) < lifetime < timedelta(seconds=305)
        body, content_type = await asyncio.to_thread(fetch, document.download_url)
        assert body == content
        assert hashlib.sha256(body).hexdigest() == document.document.sha256
        assert content_type == document.document.content_type
    # A reference the store does not know comes without a link; the claim still stands,
    # so the instructor can reject the request for a missing document.
    assert (case.documents[2].download_url, case.documents[2].url_expires_at) == ("", "")
    assert case.claimed_by == AGENT


async def test_no_claim_without_the_document_service(service: Running) -> None:
    dossier = make_dossier("69")
    number = dossier.request_number
    await enqueue(service, dossier)
    working = service.servicer.documents
    nowhere = grpc.aio.insecure_channel(f"127.0.0.1:{processes.free_port()}")
    service.servicer.documents = documents_pb2_grpc.DocumentServiceStub(nowhere)
    try:
        outage = await refused(service.stub.ClaimCase(claim(number)))
    finally:
        service.servicer.documents = working
        await nowhere.close()

    assert outage.code is ErrorCode.SERVICE_UNAVAILABLE
    case = await get_case(service, number)
    assert (case.claimed_by, case.claimed_at) == ("", "")
    assert [e[0] for e in await journal(service, number)] == ["enqueued"]
    assert (await service.stub.ClaimCase(claim(number))).claimed_by == AGENT


# ---- decisions and claims ------------------------------------------------------------


async def test_only_the_claimant_decides(service: Running) -> None:
    dossier, handle = await service.journey("69")
    number = dossier.request_number
    await service.stub.ClaimCase(claim(number))

    for call in [
        service.stub.RejectCase(reject(number)),  # by OTHER_AGENT
        service.stub.AcceptCase(accept(number, OTHER_AGENT)),
    ]:
        error = await refused(call)
        assert error.code is ErrorCode.CASE_CLAIMED
        assert error.details["claimed_by"] == AGENT
    case = await get_case(service, number)
    assert (case.state, case.decision.neph) == ("pending", "")

    decision = await service.stub.AcceptCase(accept(number, AGENT))

    assert decision.instructor_id == AGENT
    assert (await handle.result()).neph == decision.neph
    decided = await get_case(service, number)
    assert (decided.state, decided.claimed_by) == ("accepted", AGENT)
    # A repeat is still the stored decision, whoever sends it; a claim is now refused.
    assert await service.stub.AcceptCase(accept(number, OTHER_AGENT)) == decision
    late = await refused(service.stub.ClaimCase(claim(number, OTHER_AGENT)))
    assert late.code is ErrorCode.CASE_ALREADY_DECIDED
    assert await journal(service, number) == [
        ("enqueued", handle.id, ""),
        ("claimed", AGENT, ""),
        ("accepted", AGENT, decision.neph),
    ]


async def test_deciding_an_unclaimed_case_claims_it(service: Running) -> None:
    dossier, handle = await service.journey("13")
    number = dossier.request_number

    decision = await service.stub.RejectCase(reject(number, "inconsistent_data"))

    assert (await handle.result()).reason_code == "inconsistent_data"
    case = await get_case(service, number)
    assert (case.claimed_by, case.claimed_at) == (OTHER_AGENT, decision.decided_at)
    assert await journal(service, number) == [
        ("enqueued", handle.id, ""),
        ("rejected", OTHER_AGENT, "inconsistent_data"),
    ]


# ---- withdrawals ---------------------------------------------------------------------


def withdraw(
    number: str, reason: str = "Non conforme au contrôle de forme (CTN)"
) -> instruction_pb2.WithdrawCaseRequest:
    return instruction_pb2.WithdrawCaseRequest(request_number=number, reason=reason)


async def test_withdrawal_takes_a_case_out_once(service: Running) -> None:
    dossier = make_dossier("69")
    number = dossier.request_number
    await enqueue(service, dossier)
    await service.stub.ClaimCase(claim(number))
    assert (await refused(service.stub.WithdrawCase(withdraw(number, " ")))).code is (
        ErrorCode.MISSING_FIELDS
    )

    withdrawn = await service.stub.WithdrawCase(withdraw(number))
    again = await service.stub.WithdrawCase(withdraw(number, "Autre raison"))

    assert withdrawn.state == "withdrawn"
    assert withdrawn.withdrawn_reason == "Non conforme au contrôle de forme (CTN)"
    assert again == withdrawn  # the first reason stays
    assert not withdrawn.HasField("decision")
    assert number not in await pending_numbers(service)
    for call in [
        service.stub.AcceptCase(accept(number)),
        service.stub.RejectCase(reject(number)),
        service.stub.ClaimCase(claim(number)),
    ]:
        error = await refused(call)
        assert (error.code, error.details["state"]) == (ErrorCode.CASE_ALREADY_DECIDED, "withdrawn")
    assert await journal(service, number) == [
        ("enqueued", f"wf-{number}", ""),
        ("claimed", AGENT, ""),
        ("withdrawn", f"wf-{number}", "Non conforme au contrôle de forme (CTN)"),
    ]
    unknown = await refused(
        service.stub.WithdrawCase(withdraw(new_request_number(datetime.now(UTC))))
    )
    assert unknown.code is ErrorCode.CASE_NOT_FOUND


async def test_a_decided_case_cannot_be_withdrawn(service: Running) -> None:
    dossier, handle = await service.journey("69")
    number = dossier.request_number
    await service.stub.AcceptCase(accept(number))
    await handle.result()

    error = await refused(service.stub.WithdrawCase(withdraw(number)))

    assert (error.code, error.details["state"]) == (ErrorCode.CASE_ALREADY_DECIDED, "accepted")
    assert (await get_case(service, number)).withdrawn_reason == ""


# ---- reminders -----------------------------------------------------------------------


def remind(number: str, level: int) -> instruction_pb2.RemindCaseRequest:
    return instruction_pb2.RemindCaseRequest(request_number=number, level=level)


async def test_reminders_count_each_level_once(service: Running) -> None:
    dossier = make_dossier("974")
    number = dossier.request_number
    await enqueue(service, dossier)
    for bad in (0, 3):
        assert (await refused(service.stub.RemindCase(remind(number, bad)))).code is (
            ErrorCode.INVALID_FIELD
        )

    first = await service.stub.RemindCase(remind(number, 1))
    repeat = await service.stub.RemindCase(remind(number, 1))
    escalated = await service.stub.RemindCase(remind(number, 2))
    late_first = await service.stub.RemindCase(remind(number, 1))

    assert (first.reminders, repeat.reminders, escalated.reminders) == (1, 1, 2)
    assert repeat == first
    assert escalated.last_reminded_at > first.last_reminded_at
    assert late_first == escalated  # a level never goes down
    assert escalated.state == "pending"
    page = await service.stub.ListPendingCases(
        instruction_pb2.ListPendingCasesRequest(department="974")
    )
    assert [(c.reminders, c.last_reminded_at) for c in page.cases] == [
        (2, escalated.last_reminded_at)
    ]
    assert await journal(service, number) == [
        ("enqueued", f"wf-{number}", ""),
        ("reminded", f"wf-{number}", "1"),
        ("reminded", f"wf-{number}", "2"),
    ]
    unknown = await refused(
        service.stub.RemindCase(remind(new_request_number(datetime.now(UTC)), 1))
    )
    assert unknown.code is ErrorCode.CASE_NOT_FOUND


async def test_a_reminder_after_the_decision_changes_nothing(service: Running) -> None:
    dossier, handle = await service.journey("69")
    number = dossier.request_number
    await service.stub.RejectCase(reject(number))
    await handle.result()
    decided = await get_case(service, number)

    reminded = await service.stub.RemindCase(remind(number, 1))

    assert reminded == decided
    assert (reminded.state, reminded.reminders, reminded.last_reminded_at) == ("rejected", 0, "")
    assert "reminded" not in [e[0] for e in await journal(service, number)]

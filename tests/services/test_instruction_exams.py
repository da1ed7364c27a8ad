"""Exam results and title cases in the instruction service: an examiner records a pass or
a fail for a NEPH this service gave and a category (idempotent per exam day, a different
outcome refused), the title journey lists them, and a title request is accepted with the
candidate's own NEPH (no new one allocated). Real gRPC servers, the Temporal dev server,
SQLite and PostgreSQL, as in ``test_instruction.py``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from sqlalchemy import select

from permis.common.v1 import dossier_pb2
from permis.instruction.v1 import instruction_pb2
from services.common.errors import ErrorCode, PermisError
from services.instruction import rules, storage
from tests.services import test_instruction as base
from tests.services.test_instruction import (
    TASK_QUEUE,
    Running,
    WaitingJourney,
    accept,
    error_code,
    get_case,
    make_dossier,
    reject,
)

service = base.service
worker = base.worker

EXAMINER = "examinateur-69-007"
TODAY = rules.paris_today()


def record(
    neph: str,
    category: str = "B",
    passed: bool = True,
    exam_date: str = "",
    examiner: str = EXAMINER,
) -> instruction_pb2.RecordExamResultRequest:
    return instruction_pb2.RecordExamResultRequest(
        neph=neph,
        category=category,
        passed=passed,
        exam_date=exam_date or (TODAY - timedelta(days=3)).isoformat(),
        examiner_id=examiner,
    )


async def listed(running: Running, neph: str) -> list[tuple[str, str, bool]]:
    answer = await running.stub.ListExamResults(instruction_pb2.ListExamResultsRequest(neph=neph))
    return [(r.exam_date, r.category, r.passed) for r in answer.results]


async def accepted_neph(running: Running) -> tuple[str, str]:
    """An inscription accepted by the DDT: its request number and the NEPH it was given."""
    dossier, handle = await running.journey("69")
    decision = await running.stub.AcceptCase(accept(dossier.request_number))
    await handle.result()
    assert rules.is_well_formed_neph(decision.neph)
    return dossier.request_number, decision.neph


async def counters(running: Running) -> list[tuple[str, str, str, int]]:
    async with running.servicer.sessionmaker() as session:
        rows = (await session.execute(select(storage.NephCounter))).scalars().all()
        return sorted((r.yymm, r.department, r.prefecture, r.last_order) for r in rows)


async def journal(running: Running, number: str) -> list[tuple[str, str, str]]:
    async with running.servicer.sessionmaker() as session:
        return [(e.action, e.actor, e.detail) for e in await storage.events(session, number)]


# ---- pure rules ----------------------------------------------------------------------


def test_a_valid_result_is_normalised() -> None:
    checked = rules.check_exam_result(
        " 260369010042 ", " B ", "2026-03-05", f" {EXAMINER} ", today=date(2026, 3, 5)
    )
    assert checked == rules.ExamResultInput(
        "260369010042", rules.Category.B, date(2026, 3, 5), EXAMINER
    )


@pytest.mark.parametrize(
    ("neph", "category", "exam_date", "examiner", "field"),
    [
        ("", "B", "2026-03-05", EXAMINER, "neph"),
        ("26036901004", "B", "2026-03-05", EXAMINER, "neph"),
        ("26036901004A", "B", "2026-03-05", EXAMINER, "neph"),
        ("261369010042", "B", "2026-03-05", EXAMINER, "neph"),  # month 13
        ("260369010042", "", "2026-03-05", EXAMINER, "category"),
        ("260369010042", "b", "2026-03-05", EXAMINER, "category"),
        ("260369010042", "Z", "2026-03-05", EXAMINER, "category"),
        ("260369010042", "B", "", EXAMINER, "exam_date"),
        ("260369010042", "B", "05/03/2026", EXAMINER, "exam_date"),
        ("260369010042", "B", "20260305", EXAMINER, "exam_date"),
        ("260369010042", "B", "2026-02-30", EXAMINER, "exam_date"),
        ("260369010042", "B", "2026-03-06", EXAMINER, "exam_date"),  # tomorrow
        ("260369010042", "B", "2026-03-05", "  ", "examiner_id"),
        ("260369010042", "B", "2026-03-05", "x" * 101, "examiner_id"),
    ],
)
def test_refused_results_name_their_field(
    neph: str, category: str, exam_date: str, examiner: str, field: str
) -> None:
    with pytest.raises(PermisError) as refused:
        rules.check_exam_result(neph, category, exam_date, examiner, today=date(2026, 3, 5))
    assert refused.value.code is ErrorCode.INVALID_FIELD
    assert refused.value.details == {"field": field}
    assert refused.value.message != "Un champ est invalide."  # a specific French message


def test_today_is_counted_in_paris() -> None:
    # 23:30 UTC on 31 December is already New Year's Day in Paris.
    assert rules.paris_today(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2027, 1, 1)


# ---- recording and listing -----------------------------------------------------------


async def test_a_pass_and_a_fail_are_recorded_and_listed_newest_first(
    service: Running,
) -> None:
    number, neph = await accepted_neph(service)
    assert await listed(service, neph) == []
    days = [(TODAY - timedelta(days=n)).isoformat() for n in (40, 10, 0)]

    failed = await service.stub.RecordExamResult(record(neph, passed=False, exam_date=days[0]))
    passed = await service.stub.RecordExamResult(record(neph, passed=True, exam_date=days[2]))
    moto = await service.stub.RecordExamResult(
        record(neph, "A2", passed=True, exam_date=days[1], examiner="examinateur-69-012")
    )

    assert (failed.neph, failed.category, failed.passed, failed.exam_date) == (
        neph,
        "B",
        False,
        days[0],
    )
    assert failed.examiner_id == EXAMINER
    recorded_at = datetime.fromisoformat(passed.recorded_at)
    assert abs(datetime.now(UTC) - recorded_at) < timedelta(minutes=1)
    assert (moto.category, moto.examiner_id) == ("A2", "examinateur-69-012")
    assert await listed(service, neph) == [
        (days[2], "B", True),
        (days[1], "A2", True),
        (days[0], "B", False),
    ]
    answer = await service.stub.ListExamResults(instruction_pb2.ListExamResultsRequest(neph=neph))
    assert answer.results[0] == passed
    # The inscription case's journal says who recorded what.
    assert (await journal(service, number))[-3:] == [
        ("exam_failed", EXAMINER, f"{neph} B {days[0]}"),
        ("exam_passed", EXAMINER, f"{neph} B {days[2]}"),
        ("exam_passed", "examinateur-69-012", f"{neph} A2 {days[1]}"),
    ]


async def test_recording_again_returns_the_stored_result(service: Running) -> None:
    number, neph = await accepted_neph(service)
    request = record(neph, passed=True)

    first = await service.stub.RecordExamResult(request)
    again = await service.stub.RecordExamResult(request)
    by_colleague = await service.stub.RecordExamResult(record(neph, examiner="examinateur-2"))
    racing = await asyncio.gather(
        *(service.stub.RecordExamResult(record(neph, "C", passed=False)) for _ in range(4))
    )

    assert again == first
    assert by_colleague == first  # same outcome that day: the first recording stands
    assert all(result == racing[0] for result in racing)
    assert len(await listed(service, neph)) == 2
    assert [action for action, _, _ in await journal(service, number)].count("exam_passed") == 1


async def test_a_different_outcome_for_the_same_day_is_refused(service: Running) -> None:
    _, neph = await accepted_neph(service)
    stored = await service.stub.RecordExamResult(record(neph, passed=False))

    with pytest.raises(grpc.aio.AioRpcError) as conflict:
        await service.stub.RecordExamResult(record(neph, passed=True))

    assert conflict.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_code(conflict.value) is ErrorCode.EXAM_RESULT_CONFLICT
    assert "différent" in (conflict.value.details() or "")
    answer = await service.stub.ListExamResults(instruction_pb2.ListExamResultsRequest(neph=neph))
    assert list(answer.results) == [stored]
    # Another day, or another category, is another exam.
    await service.stub.RecordExamResult(record(neph, passed=True, exam_date=TODAY.isoformat()))
    await service.stub.RecordExamResult(record(neph, "AM", passed=True))
    assert len(await listed(service, neph)) == 3


async def test_invalid_recordings_are_refused(service: Running) -> None:
    _, neph = await accepted_neph(service)
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    for request, field in [
        (record("12345"), "neph"),
        (record(neph, category="BX"), "category"),
        (record(neph, exam_date="hier"), "exam_date"),
        (record(neph, exam_date=tomorrow), "exam_date"),
        (record(neph, examiner=""), "examiner_id"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await service.stub.RecordExamResult(request)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        error = PermisError.from_rpc_error(refused.value)
        assert error is not None and error.code is ErrorCode.INVALID_FIELD
        assert error.details == {"field": field}
    assert await listed(service, neph) == []


async def test_a_neph_this_service_did_not_give_is_not_found(service: Running) -> None:
    unknown = "260169019999"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await service.stub.RecordExamResult(record(unknown))
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    assert error_code(missing.value) is ErrorCode.NEPH_NOT_FOUND
    assert await listed(service, unknown) == []  # the title journey asks: not an error
    assert await listed(service, "pas-un-neph") == []

    # A rejected inscription gives no NEPH either.
    dossier, handle = await service.journey("69")
    await service.stub.RejectCase(reject(dossier.request_number))
    await handle.result()
    assert (await get_case(service, dossier.request_number)).decision.neph == ""
    with pytest.raises(grpc.aio.AioRpcError) as still_missing:
        await service.stub.ListExamResults(instruction_pb2.ListExamResultsRequest(neph=""))
    assert error_code(still_missing.value) is ErrorCode.MISSING_FIELDS


# ---- title cases ---------------------------------------------------------------------


def title_dossier(neph: str, department: str = "69") -> dossier_pb2.Dossier:
    dossier = make_dossier(department)
    dossier.journey = "title"
    dossier.motif = "first_title"
    dossier.neph = neph
    return dossier


async def test_a_title_case_is_accepted_with_the_candidates_neph(service: Running) -> None:
    _, neph = await accepted_neph(service)
    await service.stub.RecordExamResult(record(neph, passed=True))
    before = await counters(service)
    dossier = title_dossier(neph)
    handle = await service.temporal.start_workflow(
        WaitingJourney.run,
        True,
        id=f"instruction-test-{dossier.request_number}",
        task_queue=TASK_QUEUE,
        execution_timeout=timedelta(minutes=5),
    )
    await service.stub.EnqueueCase(
        instruction_pb2.EnqueueCaseRequest(workflow_id=handle.id, dossier=dossier)
    )

    decision = await service.stub.AcceptCase(accept(dossier.request_number))
    again = await service.stub.AcceptCase(accept(dossier.request_number))

    assert decision.outcome == instruction_pb2.OUTCOME_ACCEPTED
    assert decision.neph == neph
    assert again == decision
    assert (await handle.result()).neph == neph
    assert await counters(service) == before  # no number allocated
    case = await get_case(service, dossier.request_number)
    assert (case.state, case.decision.neph, case.dossier.neph) == ("accepted", neph, neph)
    assert (await journal(service, dossier.request_number))[-1] == (
        "accepted",
        "ddt69-agent-1",
        neph,
    )
    # The inscription still holds the NEPH in the registry; exams are still recorded.
    await service.stub.RecordExamResult(record(neph, "A", passed=False))
    assert len(await listed(service, neph)) == 2

    # An inscription decided afterwards still gets the next number of its series.
    _, next_neph = await accepted_neph(service)
    assert int(next_neph[-4:]) == int(neph[-4:]) + 1 or next_neph[:4] != neph[:4]


@pytest.mark.parametrize("neph", ["", "12345", "261369010001"])
async def test_a_title_case_needs_a_well_formed_neph(service: Running, neph: str) -> None:
    dossier = title_dossier(neph)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.stub.EnqueueCase(
            instruction_pb2.EnqueueCaseRequest(workflow_id="wf", dossier=dossier)
        )
    error = PermisError.from_rpc_error(refused.value)
    assert error is not None and error.code is ErrorCode.INVALID_FIELD
    assert error.details == {"field": "dossier.neph"}
    with pytest.raises(grpc.aio.AioRpcError):
        await get_case(service, dossier.request_number)

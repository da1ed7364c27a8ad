"""Delivering to a journey: a tiny workflow on the real Temporal dev server, and a closed port."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from deploy.local import processes
from services.common.errors import ErrorCode, PermisError
from services.common.journey_updates import (
    JourneyUpdater,
    TemporalJourneyUpdater,
    connect_temporal,
)
from services.common.payload_codec import data_converter
from services.common.settings import Settings

TASK_QUEUE = f"journey-updates-tests-{uuid.uuid4().hex[:8]}"


class Note(BaseModel):
    text: str
    # What the validator should answer: "" accepts, anything else is the refusal's type.
    refuse_with: str = ""


@workflow.defn(name="JourneyUpdatesTestJourney")
class NoteJourney:
    """Collects notes until told to finish; its validator refuses when the note asks it to."""

    @workflow.init
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done and workflow.all_handlers_finished())
        return self.notes

    @workflow.update
    async def add_note(self, note: Note) -> None:
        if note.text not in self.notes:  # a retried delivery changes nothing
            self.notes.append(note.text)

    @add_note.validator
    def validate_add_note(self, note: Note) -> None:
        if note.refuse_with:
            raise ApplicationError(
                f"Refusé : {note.text}.", {"field": "text", "count": 3}, type=note.refuse_with
            )

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@pytest.fixture(scope="module")
async def worker(temporal_client: Client) -> AsyncIterator[None]:
    async with Worker(
        temporal_client,
        task_queue=TASK_QUEUE,
        workflows=[NoteJourney],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield


async def start(client: Client) -> WorkflowHandle[NoteJourney, list[str]]:
    return await client.start_workflow(
        NoteJourney.run,
        id=f"journey-updates-test-{uuid.uuid4().hex[:12]}",
        task_queue=TASK_QUEUE,
        execution_timeout=timedelta(minutes=2),
    )


async def refusal(updater: JourneyUpdater, workflow_id: str, note: Note) -> PermisError:
    with pytest.raises(PermisError) as caught:
        await updater.update(workflow_id, "add_note", note)
    return caught.value


async def test_delivery_reaches_the_journey_and_a_retry_is_harmless(
    temporal_client: Client, worker: None
) -> None:
    handle = await start(temporal_client)
    updater = TemporalJourneyUpdater(temporal_client)

    await updater.update(handle.id, "add_note", Note(text="première"))
    await updater.update(handle.id, "add_note", Note(text="première"))
    await updater.update(handle.id, "add_note", Note(text="seconde"))

    await handle.signal(NoteJourney.finish)
    assert await handle.result() == ["première", "seconde"]


async def test_a_refusal_with_a_catalogue_code_keeps_that_code_and_message(
    temporal_client: Client, worker: None
) -> None:
    handle = await start(temporal_client)
    updater = TemporalJourneyUpdater(temporal_client)

    late = Note(text="trop tard", refuse_with="pre_check_not_open")
    error = await refusal(updater, handle.id, late)

    assert error.code is ErrorCode.PRE_CHECK_NOT_OPEN
    assert error.message == "Refusé : trop tard."
    assert error.details == {
        "workflow_id": handle.id,
        "update": "add_note",
        "journey_reason": "pre_check_not_open",
        "journey_message": "Refusé : trop tard.",
        "field": "text",  # the journey's own string details travel too
    }
    await handle.signal(NoteJourney.finish)
    assert await handle.result() == []  # a refused update never reaches history


async def test_a_refusal_of_an_unknown_type_becomes_the_updaters_refused_code(
    temporal_client: Client, worker: None
) -> None:
    handle = await start(temporal_client)

    default = await refusal(
        TemporalJourneyUpdater(temporal_client), handle.id, Note(text="x", refuse_with="not_today")
    )
    assert default.code is ErrorCode.JOURNEY_NOT_WAITING
    assert default.message == PermisError(ErrorCode.JOURNEY_NOT_WAITING).message
    assert (default.details["journey_reason"], default.details["journey_message"]) == (
        "not_today",
        "Refusé : x.",
    )

    chosen = await refusal(
        TemporalJourneyUpdater(temporal_client, refused=ErrorCode.CASE_ALREADY_DECIDED),
        handle.id,
        Note(text="x", refuse_with="not_today"),
    )
    assert chosen.code is ErrorCode.CASE_ALREADY_DECIDED
    await handle.terminate("test done")


async def test_a_missing_or_finished_journey_is_not_waiting(
    temporal_client: Client, worker: None
) -> None:
    updater = TemporalJourneyUpdater(temporal_client)

    missing = await refusal(updater, f"journey-updates-test-{uuid.uuid4().hex}", Note(text="x"))
    assert missing.code is ErrorCode.JOURNEY_NOT_WAITING
    assert missing.details["journey_reason"] == "NOT_FOUND"

    handle = await start(temporal_client)
    await handle.signal(NoteJourney.finish)
    await handle.result()
    finished = await refusal(updater, handle.id, Note(text="x"))
    assert finished.code is ErrorCode.JOURNEY_NOT_WAITING


async def test_temporal_unreachable_is_service_unavailable() -> None:
    closed = await Client.connect(
        f"127.0.0.1:{processes.free_port()}", lazy=True, data_converter=pydantic_data_converter
    )
    updater = TemporalJourneyUpdater(closed)
    error = await refusal(updater, "inscription-2506AAAAAAAA", Note(text="x"))
    assert error.code is ErrorCode.SERVICE_UNAVAILABLE
    assert error.details["workflow_id"] == "inscription-2506AAAAAAAA"


async def test_connect_temporal_waits_then_gives_up_or_connects(
    temporal_server: processes.ChildProcess,
) -> None:
    closed = Settings(temporal_address=f"127.0.0.1:{processes.free_port()}")
    began = time.monotonic()
    with pytest.raises(RuntimeError):
        await connect_temporal(closed, wait_seconds=1.5, interval=0.5)
    assert 1.0 <= time.monotonic() - began < 30

    running = Settings(temporal_address=f"127.0.0.1:{temporal_server.ports['grpc']}")
    client = await connect_temporal(running, wait_seconds=5)
    assert client.data_converter is data_converter(running)

"""Every recorded history still replays on the current workflow code (determinism guard).

Histories come from ``python -m tests.workflows.record_histories``; one exported from
a real run (``temporal workflow show --output json``) can be dropped in as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.inscription import InscriptionWorkflow

HISTORIES = {
    path.stem: path.read_text()
    for path in sorted((Path(__file__).parent / "histories").glob("*.json"))
}


def test_histories_are_recorded() -> None:
    assert {"accepted", "rejected_by_instructor"} <= set(HISTORIES)


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_history_replays(name: str) -> None:
    replayer = Replayer(workflows=[InscriptionWorkflow], data_converter=pydantic_data_converter)
    history = WorkflowHistory.from_json(f"inscription-{name}", HISTORIES[name])
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None

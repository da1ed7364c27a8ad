"""Every recorded history still replays on the current workflow code (determinism guard).

Histories come from ``python -m tests.workflows.record_histories``; one exported from
a real run (``temporal workflow show --output json``) can be dropped in as well. The
legacy ones were written by the first inscription workflow, before the patched changes:
they stand for journeys that were running when the new code was deployed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows.record_histories import ABANDONED, LEGACY, SCENARIOS
from workflows.inscription import (
    PATCH_ABANDONED_EMAIL,
    PATCH_IN_INSTRUCTION_EMAIL,
    PATCH_RECEIPT,
    PATCH_REMINDERS,
    InscriptionWorkflow,
)

HISTORIES = {
    path.stem: path.read_text()
    for path in sorted((Path(__file__).parent / "histories").glob("*.json"))
}

# Which new branches each history went through (legacy ones: none).
INSTRUCTION = {PATCH_RECEIPT, PATCH_IN_INSTRUCTION_EMAIL, PATCH_REMINDERS}
EXPECTED_PATCHES: dict[str, set[str]] = {
    **{name: set() for name in LEGACY},
    "accepted_with_receipt_and_reminders": INSTRUCTION,
    "accepted_category_c_before_any_reminder": INSTRUCTION - {PATCH_RECEIPT},
    "rejected_by_ctn_agent_after_enqueue": INSTRUCTION,
    "rejected_by_ctn_agent_during_pre_check": {PATCH_RECEIPT},
    "legacy_journey_then_ctn_agent_verdict": set(),
    ABANDONED: {PATCH_ABANDONED_EMAIL},
}


def history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"inscription-{name}", HISTORIES[name])


def patch_markers(name: str) -> set[str]:
    return {
        json.loads(event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)[
            "id"
        ]
        for event in history(name).events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.marker_name == "core_patch"
    }


def test_histories_are_recorded() -> None:
    assert set(EXPECTED_PATCHES) == {*LEGACY, *SCENARIOS, ABANDONED}
    assert set(EXPECTED_PATCHES) <= set(HISTORIES)


@pytest.mark.parametrize("name", sorted(EXPECTED_PATCHES))
def test_history_took_the_expected_branches(name: str) -> None:
    assert patch_markers(name) == EXPECTED_PATCHES[name]


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_history_replays(name: str) -> None:
    replayer = Replayer(workflows=[InscriptionWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history(name))
    assert result.replay_failure is None

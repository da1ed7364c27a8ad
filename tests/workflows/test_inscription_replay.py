"""Every recorded history still replays on the current workflow code (determinism guard).

All the worker's workflows are guarded: the inscription journey (both generations), the
title journey (``title_*``) and the card's delivery journey (``delivery_*``).

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
from temporalio.worker import Replayer

from services.common.payload_codec import data_converter
from tests.workflows.record_histories import (
    ABANDONED,
    DELIVERY_SCENARIOS,
    LEGACY,
    SCENARIOS,
    TITLE_SCENARIOS,
)
from workflows.inscription import (
    PATCH_ABANDONED_EMAIL,
    PATCH_IN_INSTRUCTION_EMAIL,
    PATCH_RECEIPT,
    PATCH_REMINDERS,
)
from workflows.worker import WORKFLOWS

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
    # Born after every patched change: they take them all, without markers.
    **{name: set() for name in (*TITLE_SCENARIOS, *DELIVERY_SCENARIOS)},
}


def workflow_id(name: str) -> str:
    for prefix in ("title", "delivery"):
        if name.startswith(f"{prefix}_"):
            return f"{prefix}-{name}"
    return f"inscription-{name}"


def history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(workflow_id(name), HISTORIES[name])


def workflow_type(name: str) -> str:
    start = history(name).events[0].workflow_execution_started_event_attributes
    return start.workflow_type.name


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
    scenarios = {*LEGACY, *SCENARIOS, ABANDONED, *TITLE_SCENARIOS, *DELIVERY_SCENARIOS}
    assert set(EXPECTED_PATCHES) == scenarios
    assert set(EXPECTED_PATCHES) <= set(HISTORIES)
    # Every workflow the worker runs has histories to replay.
    names = {cls.__name__ for cls in WORKFLOWS}  # each registered under its class name
    assert {workflow_type(name) for name in HISTORIES} == names


@pytest.mark.parametrize("name", sorted(EXPECTED_PATCHES))
def test_history_took_the_expected_branches(name: str) -> None:
    assert patch_markers(name) == EXPECTED_PATCHES[name]


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_history_replays(name: str) -> None:
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=data_converter())
    result = await replayer.replay_workflow(history(name))
    assert result.replay_failure is None

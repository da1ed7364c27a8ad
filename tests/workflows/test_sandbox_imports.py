"""A new journey instance re-executes only its own workflow module in the sandbox.

The sandbox runs each workflow instance on fresh copies of the workflow's module (and of
whatever that module imports that is not passed through). Shared modules are passed
through (``imports_passed_through``), but ``from workflows import messages`` escaped it:
the package's sandbox copy lacks the submodule, so importlib loaded ``workflows.messages``
again for every instance, compiling its source when no bytecode is cached. Hence
``import workflows.messages as messages`` in the workflow modules; this test keeps it so.
"""

from __future__ import annotations

import importlib.machinery
from collections import Counter
from collections.abc import Iterator
from types import CodeType

import pytest
from temporalio.worker import Replayer

from services.common.payload_codec import data_converter
from tests.workflows.test_inscription_replay import HISTORIES, history
from workflows.worker import WORKFLOWS

# What a sandboxed instance may load again: the package (an empty __init__) and the
# modules that define the worker's workflows.
RELOADED_BY_DESIGN = {"workflows", *(cls.__module__ for cls in WORKFLOWS)}


@pytest.fixture
def module_loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts every module whose code a source loader hands out (compiled or cached)."""
    loads: Counter[str] = Counter()
    loader = importlib.machinery.SourceFileLoader
    original = loader.get_code

    def counting_get_code(
        self: importlib.machinery.SourceFileLoader, fullname: str
    ) -> CodeType | None:
        loads[fullname] += 1
        return original(self, fullname)

    monkeypatch.setattr(loader, "get_code", counting_get_code)
    yield loads


async def test_instances_reload_only_their_workflow_module(module_loads: Counter[str]) -> None:
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=data_converter())
    names = sorted(HISTORIES)
    await replayer.replay_workflow(history(names[0]))  # the host imports everything once
    module_loads.clear()

    for name in names:
        result = await replayer.replay_workflow(history(name))
        assert result.replay_failure is None

    assert set(module_loads) <= RELOADED_BY_DESIGN, module_loads
    # Each of the three journeys' modules was loaded for its instances (the spy works).
    assert {cls.__module__ for cls in WORKFLOWS} <= set(module_loads)

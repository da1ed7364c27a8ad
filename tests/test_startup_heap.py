"""Start-up objects are frozen out of the collector's full passes (a real gateway app)."""

from __future__ import annotations

import json
import subprocess
import sys

# In a child process: freezing is for the whole process, and pytest's must stay as is.
CHILD = """
import gc, json
from services.common.settings import Settings
from services.common.startup_heap import freeze_startup_heap
from services.gateway.app import create_app

app = create_app(Settings())
before = len(gc.get_objects())
frozen = freeze_startup_heap()
after = len(gc.get_objects())
garbage = [[i] for i in range(1000)]  # made after start-up: still tracked
print(json.dumps({"before": before, "frozen": frozen, "after": after,
                  "later": len(gc.get_objects())}))
"""


def test_a_built_gateway_leaves_its_start_up_objects_out_of_full_collections() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True
    )
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["before"] > 50_000  # what a full pass walked before
    assert counts["frozen"] >= counts["before"] * 0.9
    assert counts["after"] < 1_000
    assert counts["later"] >= counts["after"] + 1_000  # new objects are still collected

"""The benchmark's memory accounting, on real processes sharing real libraries."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench import memory

MIB = 1024**2
# Maps grpc's native library (~10 MiB resident), then holds 64 MiB of its own if asked.
CHILD = """
import sys, grpc
ballast = bytearray(int(sys.argv[1]) * 1024 * 1024)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(ballast)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for ballast in (0, 64)
    ]
    for child in started:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    yield started
    for child in started:
        child.kill()
        child.wait()


def test_shared_libraries_are_counted_once(children: list[subprocess.Popen[str]]) -> None:
    lean, heavy = children
    figures = memory.stack_memory({"lean": lean.pid, "heavy": heavy.pid}, os.getpid())
    lean_figures, heavy_figures = figures.processes["lean"], figures.processes["heavy"]

    # Both map the interpreter and grpc: each shares file pages with the other.
    assert lean_figures.shared_with_others > 2 * MIB
    assert heavy_figures.shared_with_others > 2 * MIB
    # The ballast is anonymous memory of one process: it is in its own peak.
    assert heavy_figures.peak_own - lean_figures.peak_own > 60 * MIB
    # Their own peaks add up to less than the plain sum, by the pages they share.
    own = lean_figures.peak_own + heavy_figures.peak_own
    assert figures.sum_of_peaks - own > 4 * MIB
    # This process maps the same libraries: its share is added back, so the bound never
    # falls below what the two hold on their own.
    assert figures.observer_file_pss > 0
    assert figures.peak_shared_once > own


def test_a_process_that_is_gone_is_left_out(children: list[subprocess.Popen[str]]) -> None:
    lean, heavy = children
    lean.kill()
    lean.wait()
    assert memory.process_memory(lean.pid) is None
    figures = memory.stack_memory({"lean": lean.pid, "heavy": heavy.pid}, os.getpid())
    assert set(figures.processes) == {"heavy"}

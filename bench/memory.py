"""Resident memory of the stack, with pages shared between its processes counted once.

Summing each process's peak RSS counts a shared library once per process that maps it:
the nine Python processes map the same interpreter, grpc, protobuf and SQLAlchemy
libraries, which sit in memory once. The kernel's PSS (proportional set size) splits
each shared page between the processes mapping it, so summing PSS counts it once.

Peaks are per process (``VmHWM``); the kernel keeps no peak of PSS. The stack's peak is
therefore bounded from above by each process's peak less the file pages it shares with
others (``RssFile - Pss_File``, read at the end: libraries are mapped at start-up),
plus the share of those pages the benchmark process itself holds (it maps the same
libraries, so the stack's PSS alone would under-count them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KIB = 1024


def _fields(path: Path, names: tuple[str, ...]) -> dict[str, int]:
    """``Name:  123 kB`` lines of a /proc file, in bytes."""
    found: dict[str, int] = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        if name in names:
            found[name] = int(value.split()[0]) * KIB
    return found


@dataclass(frozen=True)
class ProcessMemory:
    peak_rss: int  # VmHWM
    file_rss: int  # RssFile: mapped files (binaries, libraries) now resident
    file_pss: int  # Pss_File: this process's share of them

    @property
    def shared_with_others(self) -> int:
        """File pages counted in this process's RSS that other processes also map."""
        return max(0, self.file_rss - self.file_pss)

    @property
    def peak_own(self) -> int:
        """The peak with shared file pages counted in proportion."""
        return self.peak_rss - self.shared_with_others


def process_memory(pid: int) -> ProcessMemory | None:
    """A live process's figures; None once it is gone."""
    try:
        status = _fields(Path(f"/proc/{pid}/status"), ("VmHWM", "RssFile"))
        rollup = _fields(Path(f"/proc/{pid}/smaps_rollup"), ("Pss_File",))
        return ProcessMemory(status["VmHWM"], status["RssFile"], rollup.get("Pss_File", 0))
    except (OSError, KeyError):  # gone, or a zombie (no memory lines left)
        return None


@dataclass(frozen=True)
class StackMemory:
    processes: dict[str, ProcessMemory]
    observer_file_pss: int  # the benchmark process's share of the libraries

    @property
    def sum_of_peaks(self) -> int:
        """Every process's peak RSS added up: shared libraries counted once per process."""
        return sum(p.peak_rss for p in self.processes.values())

    @property
    def peak_shared_once(self) -> int:
        """Upper bound of the stack's peak resident memory, shared pages counted once."""
        return sum(p.peak_own for p in self.processes.values()) + self.observer_file_pss


def stack_memory(pids: dict[str, int], observer_pid: int) -> StackMemory:
    """Figures of the live processes among ``pids``; ``observer_pid`` is the caller."""
    found = {name: process_memory(pid) for name, pid in pids.items()}
    observer = process_memory(observer_pid)
    return StackMemory(
        {name: figures for name, figures in found.items() if figures is not None},
        observer.file_pss if observer else 0,
    )

"""Start the real infrastructure as child processes: Temporal dev server, S3, SMTP sink.

Used by the local launcher (``make run``) and by the test fixtures, so both run the
same binaries the same way. Every port is explicit, so parallel runs never collide.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from temporalio.api.workflowservice.v1.request_response_pb2 import GetSystemInfoRequest
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub

from workflows.ids import SEARCH_ATTRIBUTES

REPO_ROOT = Path(__file__).resolve().parents[2]

# The Temporal dev server collects garbage when its heap has grown by half (Go's default,
# GOGC=100, lets it double): measured, 25-50 MiB less at peak for no visible CPU cost.
# Not a GOMEMLIMIT: one low enough to save as much sits below the live heap with 1,000
# open journeys, and the server then collected without pause (drafts started 3x slower).
# A GOGC already in the environment wins.
TEMPORAL_GOGC = "50"
# SeaweedFS's heap grows with the objects it holds, and Go's default lets it double
# between collections: writing 10,000 documents (about what 1,000 journeys store) left it
# at 365 MiB with GOGC=100, 244 with 50 and 184 with 25, for the same write time within
# noise. Its CPU is a small share of a journey's, so collecting more often is cheap.
S3_GOGC = "25"


# Below Linux's ephemeral range (32768-60999): the kernel hands those out to every
# outgoing connection and to servers that ask for port 0 (Temporal's internal services),
# so a port picked there could be taken before our child binds it.
_PORT_RANGE = (20000, 32000)
_handed_out: set[int] = set()


def port_range() -> tuple[int, int]:
    """Where ``free_port`` picks: ``PERMIS_PORT_RANGE`` ("lo-hi", inside the default) lets
    processes that run side by side, such as parallel test workers, each take a slice, so
    two of them never hand out the same port."""
    value = os.environ.get("PERMIS_PORT_RANGE", "")
    if not value:
        return _PORT_RANGE
    low, _, high = value.partition("-")
    chosen = (int(low), int(high))
    if not _PORT_RANGE[0] <= chosen[0] < chosen[1] <= _PORT_RANGE[1]:
        raise ValueError(f"PERMIS_PORT_RANGE={value} is not inside {_PORT_RANGE}")
    return chosen


def free_port() -> int:
    """A port nobody listens on, never handed out twice by this process."""
    low, high = port_range()
    for _ in range(1000):
        port = random.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port found")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def binary(name: str) -> str:
    """A binary installed in this virtualenv (temporal, weed), else one on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: run `make install` first")
    return found


@dataclass
class ChildProcess:
    """A named child with its log file; stop() sends SIGTERM, then SIGKILL."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the child's process group, as a crash or the OOM killer would: no
        drain, no clean-up (the chaos tests' ``kill -9``); then reap it."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _die_with_parent(argv: Sequence[str]) -> list[str]:
    """Ask the kernel to kill the child if the launcher dies (even by SIGKILL, e.g. a test
    runner's timeout), so nothing is left behind — where the kernel honours it (this
    sandbox's does not; ``stop()`` and the launcher's signal handling still apply).

    Done with util-linux's ``setpriv --pdeathsig`` rather than a ``preexec_fn``: a
    ``preexec_fn`` makes Python fork without exec'ing at once, and forking a process
    whose gRPC threads are busy can crash the child (seen here: epoll_wait EBADF, abort).
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or not sys.platform.startswith("linux"):
        return list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


def spawn(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    *,
    env: dict[str, str] | None = None,
    ports: dict[str, int] | None = None,
) -> ChildProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        _die_with_parent(argv),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=REPO_ROOT,
        start_new_session=True,  # its own process group: stop() reaches its children too
    )
    log_file.close()
    return ChildProcess(name, process, log_path, ports or {})


def wait_until(
    check: Callable[[], bool], child: ChildProcess, timeout: float = 60.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")
        try:
            if check():
                return
        except Exception:  # not ready yet
            pass
        time.sleep(0.2)
    child.stop()  # alive but not ready: don't leave it behind for the caller to lose
    raise TimeoutError(f"{child.name} not ready after {timeout:.0f}s ({what}):\n{child.tail()}")


def start_temporal(
    data_dir: Path, log_dir: Path, port: int = 7233, ui_port: int = 8233, codec_endpoint: str = ""
) -> ChildProcess:
    """The Temporal dev server with a SQLite file, the UI, and our search attributes."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        binary("temporal"),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(data_dir / "temporal.sqlite"),
        "--log-level",
        "warn",
        "--dynamic-config-value",
        "frontend.enableUpdateWorkflowExecution=true",
    ]
    for key in SEARCH_ATTRIBUTES:
        argv += ["--search-attribute", f"{key.name}=Keyword"]
    if codec_endpoint:  # the UI decodes payloads through our codec server
        argv += ["--ui-codec-endpoint", codec_endpoint]
    child = spawn(
        "temporal",
        argv,
        log_dir,
        env={"GOGC": os.environ.get("GOGC", TEMPORAL_GOGC)},
        ports={"grpc": port, "ui": ui_port},
    )
    wait_until(lambda: port_open(ui_port) and frontend_answers(port), child, 90, "frontend and UI")
    return child


def frontend_answers(port: int) -> bool:
    """The frontend answers GetSystemInfo, the call every client makes first: an open port
    is not enough ("Frontend is not healthy yet" for a moment after it opens)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        WorkflowServiceStub(channel).GetSystemInfo(GetSystemInfoRequest(), timeout=2)
    return True


def s3_identity_config(path: Path, access_key: str, secret_key: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "permis",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    return path


def start_s3(
    data_dir: Path, log_dir: Path, access_key: str, secret_key: str, s3_port: int = 8333
) -> ChildProcess:
    """SeaweedFS (master, volume, filer and S3 gateway in one process), every port explicit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = {
        name: free_port()
        for name in (
            "master",
            "master_grpc",
            "volume",
            "volume_grpc",
            "filer",
            "filer_grpc",
            "s3_grpc",
            "metrics",
        )
    }
    ports["s3"] = s3_port
    config = s3_identity_config(data_dir / "s3-identities.json", access_key, secret_key)
    argv = [
        binary("weed"),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data_dir}",
        # Every bucket takes a few volumes: leave room for the tests' buckets, keep them small.
        "-volume.max=64",
        "-master.volumeSizeLimitMB=64",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3",
        f"-s3.port={s3_port}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-metricsPort={ports['metrics']}",
        f"-s3.config={config}",
        "-master.telemetry=false",
    ]
    child = spawn("s3", argv, log_dir, ports=ports, env={"GOGC": os.environ.get("GOGC", S3_GOGC)})
    wait_until(lambda: _s3_ready(s3_port, access_key, secret_key), child, 90, "S3 gateway")
    return child


def _s3_ready(port: int, access_key: str, secret_key: str) -> bool:
    from minio import Minio

    client = Minio(f"127.0.0.1:{port}", access_key=access_key, secret_key=secret_key, secure=False)
    client.list_buckets()
    return True


def start_mail_sink(mail_dir: Path, log_dir: Path, port: int = 1025) -> ChildProcess:
    """An aiosmtpd server that writes every message it receives to ``mail_dir`` as .eml."""
    argv = [sys.executable, "-m", "deploy.local.mail_sink"]
    argv += ["--port", str(port), "--dir", str(mail_dir)]
    child = spawn("mail", argv, log_dir, ports={"smtp": port})
    wait_until(lambda: port_open(port), child, 30, "SMTP port")
    return child

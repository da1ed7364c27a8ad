"""The local launcher: configuration of children, refusals, readiness checks, clean stop."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from minio import Minio
from temporalio import workflow
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from deploy.healthcheck import grpc_serving, http_ok
from deploy.local import processes
from deploy.local.stack import (
    LocalStack,
    PortBusyError,
    StackError,
    StackPorts,
    port_of,
    settings_env,
)
from services.common.grpc_server import start_server
from services.common.settings import SERVICE_NAMES, Settings
from workflows.ids import SEARCH_ATTRIBUTES

REPO_ROOT = Path(__file__).resolve().parents[2]


def processes_in_groups(pgids: set[int]) -> list[str]:
    """Live (non-zombie) processes whose process group is one of ``pgids``."""
    listing = subprocess.run(
        ["ps", "-eo", "pid=,pgid=,stat=,args="], capture_output=True, text=True, check=True
    ).stdout
    alive = []
    for line in listing.splitlines():
        _pid, pgid, stat, *_ = line.split(None, 3)
        if int(pgid) in pgids and not stat.startswith("Z"):
            alive.append(line.strip())
    return alive


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def test_children_rebuild_the_same_settings_from_their_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = LocalStack(
        tmp_path, StackPorts.free(), {"environment": "test", "approved_booths": ["A", "B"]}
    )
    env = stack.child_env()
    assert env["PERMIS_IDENTITY_ADDRESS"] == stack.settings.identity_address
    assert env["PERMIS_DATA_DIR"] == str(tmp_path.resolve())
    for name in list(os.environ):
        if name.startswith("PERMIS_"):
            monkeypatch.delenv(name)
    for name, value in settings_env(stack.settings).items():
        monkeypatch.setenv(name, value)
    assert Settings() == stack.settings
    # Every variable names a real field: a child would silently ignore anything else.
    assert {n.removeprefix("PERMIS_").lower() for n in settings_env(stack.settings)} == set(
        Settings.model_fields
    )


def test_free_ports_stay_in_the_slice_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERMIS_PORT_RANGE", "21000-21100")
    ports = {processes.free_port() for _ in range(5)}
    assert all(21000 <= port < 21100 for port in ports) and len(ports) == 5
    monkeypatch.setenv("PERMIS_PORT_RANGE", "1000-2000")  # not below the ephemeral range
    with pytest.raises(ValueError, match="PERMIS_PORT_RANGE"):
        processes.free_port()


def test_free_ports_reach_every_address(tmp_path: Path) -> None:
    ports = StackPorts.free()
    stack = LocalStack(tmp_path, ports)
    assert stack.temporal_address == f"127.0.0.1:{ports.temporal}"
    assert stack.temporal_ui_url == f"http://127.0.0.1:{ports.temporal_ui}"
    assert stack.s3_port == ports.s3
    assert stack.gateway_url == f"http://127.0.0.1:{ports.gateway}"
    for name in SERVICE_NAMES:
        assert stack.settings.address_of(name) == f"127.0.0.1:{ports.services[name]}"
    assert stack.mail_dir == tmp_path.resolve() / "mail"


def test_default_ports_are_those_of_settings(tmp_path: Path) -> None:
    defaults = Settings.model_fields
    stack = LocalStack(tmp_path)
    for name in ("temporal_address", "temporal_ui_url", "s3_endpoint", "gateway_port"):
        assert getattr(stack.settings, name) == defaults[name].default
    for name in SERVICE_NAMES:
        assert stack.settings.address_of(name) == defaults[f"{name}_address"].default


def test_a_misspelt_override_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="temporal_adress"):
        LocalStack(tmp_path, StackPorts.free(), {"temporal_adress": "x:1"})


async def test_a_busy_port_is_refused_before_anything_starts(
    tmp_path: Path, listening_socket: socket.socket
) -> None:
    busy = listening_socket.getsockname()[1]
    stack = LocalStack(tmp_path, dataclasses.replace(StackPorts.free(), temporal=busy))
    with pytest.raises(PortBusyError) as refused:
        await stack.start()
    assert f"le port {busy} (Temporal) est déjà utilisé" in str(refused.value)
    assert "un autre `make run` tourne-t-il ?" in str(refused.value)
    assert stack.children == []
    assert not (tmp_path / "logs").exists()


def test_the_command_refuses_a_busy_default_port(tmp_path: Path) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 7233))
        holder.listen()
    except OSError:
        pass  # already taken by something else: the refusal is what we test either way
    try:
        result = subprocess.run(
            [sys.executable, "-m", "deploy.local.stack", "demo", "--data-dir", str(tmp_path)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.close()
    assert result.returncode == 1, result.stderr
    assert "le port 7233 (Temporal) est déjà utilisé" in result.stderr
    assert not (tmp_path / "logs").exists()


async def test_a_child_that_dies_fails_fast_with_its_log(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, StackPorts.free(), timeout=60)
    child = stack._spawn("doomed", "-c", "print('cannot bind: boom'); raise SystemExit(3)")
    started = time.monotonic()
    with pytest.raises(StackError) as failed:
        await stack._wait_ready([(child, lambda: asyncio.sleep(0, False), "never")])
    assert time.monotonic() - started < 10  # not the 60 s timeout
    assert "doomed s'est arrêté au démarrage (code 3)" in str(failed.value)
    assert "cannot bind: boom" in str(failed.value)
    assert (tmp_path / "logs" / "doomed.log").exists()


async def test_a_child_never_ready_times_out_with_its_log(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, StackPorts.free(), timeout=1)
    child = stack._spawn("sleepy", "-c", "import time; print('still thinking'); time.sleep(60)")
    try:
        with pytest.raises(StackError) as failed:
            await stack._wait_ready([(child, lambda: asyncio.sleep(0, False), "santé")])
        assert "sleepy pas prêt après 1 s (santé)" in str(failed.value)
        assert "still thinking" in str(failed.value)
    finally:
        child.stop()


async def test_grpc_health_check_reads_the_standard_health_service() -> None:
    server, port = await start_server([], "127.0.0.1:0")
    address = f"127.0.0.1:{port}"
    try:
        assert await grpc_serving(address)
        assert not await grpc_serving(address, service="permis.nope.v1.Nothing")
        command = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "deploy.healthcheck",
            address,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await command.communicate()
        assert command.returncode == 0, out
    finally:
        await server.stop(None)
    assert not await grpc_serving(address, within=0.5)
    assert not await http_ok(f"http://{address}/healthz", within=0.5)


@workflow.defn(sandboxed=False)
class Idle:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_worker_readiness_needs_a_recent_poller(
    tmp_path: Path, temporal_client: Client
) -> None:
    queue = f"stack-test-{time.time_ns()}"
    stack = LocalStack(tmp_path, StackPorts.free(), {"temporal_task_queue": queue})
    stack.temporal_client = temporal_client
    assert not await stack.task_queue_polled()
    worker = Worker(
        temporal_client,
        task_queue=queue,
        workflows=[Idle],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        deadline = time.monotonic() + 15
        while not await stack.task_queue_polled():
            assert time.monotonic() < deadline, "the worker's poller never showed"
            await asyncio.sleep(0.2)
    # Gone, but still listed for a while: only a time filter tells a fresh worker apart.
    assert await stack.task_queue_polled(since=0)
    assert not await stack.task_queue_polled(since=time.time() + 5)
    # Or its identity (``<pid>@<host>``): a restarted worker is another process.
    assert await stack.task_queue_polled(since=0, pid=os.getpid())
    assert not await stack.task_queue_polled(since=0, pid=os.getpid() + 1)


async def test_faults_act_on_one_child_by_name(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, StackPorts.free())
    child = stack._spawn("sleepy", "-c", "import time; time.sleep(60)")
    stack._layers.append([child])
    try:
        assert stack.child("sleepy") is child
        assert await stack.kill("sleepy") == child.process.pid
        assert child.process.returncode == -signal.SIGKILL  # no drain: a crash
        with pytest.raises(KeyError):
            stack.child("nobody")
        with pytest.raises(ValueError, match="cannot be restarted"):
            await stack.restart("sleepy")  # not one of ours: nothing to start it with
    finally:
        await stack.stop()
    assert not stack.children


async def test_infrastructure_starts_wired_and_stops_without_orphans(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, StackPorts.free())
    await stack.start(until="infrastructure")
    try:
        assert [c.name for c in stack.children] == ["temporal", "s3", "mail", "codec_server"]
        pgids = {child.process.pid for child in stack.children}  # each child leads its group
        assert stack.temporal_client is not None
        registered = await stack.temporal_client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=stack.settings.temporal_namespace)
        )
        assert {key.name for key in SEARCH_ATTRIBUTES} <= set(registered.custom_attributes)
        settings = stack.settings
        s3 = Minio(
            settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, secure=False
        )
        assert isinstance(s3.list_buckets(), list)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.fr", "b@x.fr", "Essai"
        message.set_content("Bonjour")
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=5) as smtp:
            smtp.send_message(message)
        assert len(list(stack.mail_dir.glob("*.eml"))) == 1
        for name in ("temporal", "s3", "mail"):
            assert (tmp_path / "logs" / f"{name}.log").exists()
    finally:
        await stack.stop()
    assert stack.children == []
    assert processes_in_groups(pgids) == []
    for port in (stack.s3_port, settings.smtp_port, port_of(stack.temporal_address)):
        assert not processes.port_open(port)


PARTS_WRITTEN = all(
    importlib.util.find_spec(module) is not None
    for module in (
        *(f"services.{name}.__main__" for name in SERVICE_NAMES),
        "services.gateway.__main__",
        "workflows.worker",
    )
)


@pytest.mark.skipif(not PARTS_WRITTEN, reason="a service, the worker or the gateway is missing")
async def test_the_whole_stack_starts_healthy_and_stops_without_orphans(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, StackPorts.free())
    async with stack:
        names = [c.name for c in stack.children]
        assert names == [
            "temporal",
            "s3",
            "mail",
            "codec_server",
            *SERVICE_NAMES,
            "worker",
            "gateway",
        ]
        pgids = {child.process.pid for child in stack.children}
        for name in SERVICE_NAMES:
            assert await grpc_serving(stack.settings.address_of(name))
        assert await http_ok(f"{stack.gateway_url}/healthz")
        assert await stack.task_queue_polled()
    assert processes_in_groups(pgids) == []

"""The local launcher: the whole system as child processes of one command.

    python -m deploy.local.stack run    # start everything, run the demo, stay up until Ctrl-C
    python -m deploy.local.stack demo   # start everything, run the demo, stop; exit 0 iff it passed

Order: Temporal dev server, S3 (SeaweedFS), mail sink, the gRPC services (every name in
``SERVICE_NAMES``), the worker, the gateway; each must be healthy before the next part
starts, and stopping goes in reverse. Children learn their configuration only from
``PERMIS_*`` variables built from one ``Settings``, exactly as a container would.
``LocalStack`` is also what tests use, with free ports and a temporary data directory.
The printer and the post are not children: they are outside partners, simulated on
demand by ``deploy.partners.simulator`` (a demo plays them in-process: ``play_partners``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from deploy.healthcheck import grpc_serving, http_ok
from deploy.local import processes
from deploy.local.processes import ChildProcess
from services.common.payload_codec import data_converter
from services.common.process_exit import run_then_leave
from services.common.settings import SERVICE_NAMES, ServiceName, Settings

HOST = "127.0.0.1"
Part = Literal["infrastructure", "services", "worker", "gateway"]
PARTS: tuple[Part, ...] = ("infrastructure", "services", "worker", "gateway")
T = TypeVar("T")
# Seconds between SIGTERM and SIGKILL. weed's graceful stop waits forever on its own
# metadata subscriptions, so it gets a short grace; the rest finish in-flight work.
STOP_GRACE = {"s3": 3.0}
DEFAULT_STOP_GRACE = 15.0
# Our processes that serve Prometheus metrics, each on its own port (PERMIS_METRICS_PORT).
METRICS_PROCESSES: tuple[str, ...] = (*SERVICE_NAMES, "worker", "gateway")
DEFAULT_METRICS_PORTS: dict[str, int] = {n: 9101 + i for i, n in enumerate(METRICS_PROCESSES)}
# The module each of our children runs (``python -m``); a service runs services.<name>.
CHILD_MODULES: dict[str, str] = {
    "codec_server": "services.codec_server",
    "worker": "workflows.worker",
    "gateway": "services.gateway",
}


class StackError(RuntimeError):
    """A part of the stack could not start; the message says which, and why."""


class PortBusyError(StackError):
    """A port the stack needs is already taken: nothing was started."""


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


def port_of(address: str) -> int:
    """The port of ``host:port`` or of a URL such as ``http://host:port``."""
    return int(address.rstrip("/").rsplit(":", 1)[1])


@dataclass(frozen=True)
class StackPorts:
    """Where everything listens. Defaults are those of ``Settings``, as documented."""

    temporal: int = port_of(_default("temporal_address"))
    temporal_ui: int = port_of(_default("temporal_ui_url"))
    s3: int = port_of(_default("s3_endpoint"))
    smtp: int = _default("smtp_port")
    gateway: int = _default("gateway_port")
    services: Mapping[ServiceName, int] = field(
        default_factory=lambda: {n: port_of(_default(f"{n}_address")) for n in SERVICE_NAMES}
    )
    # Prometheus /metrics of each of our processes (services, worker, gateway).
    metrics: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_METRICS_PORTS))
    codec_server: int = _default("codec_server_port")

    @classmethod
    def free(cls) -> StackPorts:
        """Ports nobody uses right now, so tests run beside a developer's ``make run``."""
        free = processes.free_port
        return cls(
            free(),
            free(),
            free(),
            free(),
            free(),
            {n: free() for n in SERVICE_NAMES},
            {n: free() for n in METRICS_PROCESSES},
            codec_server=free(),
        )


def settings_env(settings: Settings) -> dict[str, str]:
    """Every field as the ``PERMIS_*`` variable that makes a child build the same Settings."""
    env = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, list | dict):
            text = json.dumps(value)  # pydantic-settings parses complex fields as JSON
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        env[f"PERMIS_{name.upper()}"] = text
    return env


def port_taken(port: int, host: str = HOST) -> bool:
    """True when something listens on ``port`` (a socket in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


class LocalStack:
    """The system on this machine. ``async with LocalStack(...) as stack:`` starts and stops it."""

    def __init__(
        self,
        data_dir: Path = Path("data"),
        ports: StackPorts | None = None,
        settings_overrides: Mapping[str, Any] | None = None,
        *,
        timeout: float = 90.0,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.timeout = timeout
        ports = ports or StackPorts()
        overrides = dict(settings_overrides or {})
        unknown = sorted(set(overrides) - set(Settings.model_fields))
        if unknown:  # Settings ignores unknown names; a typo here must not pass silently
            raise ValueError(f"not Settings fields: {', '.join(unknown)}")
        values: dict[str, Any] = {
            "data_dir": self.data_dir,
            "temporal_address": f"{HOST}:{ports.temporal}",
            "temporal_ui_url": f"http://{HOST}:{ports.temporal_ui}",
            "s3_endpoint": f"{HOST}:{ports.s3}",
            "s3_secure": False,
            "smtp_host": HOST,
            "smtp_port": ports.smtp,
            "gateway_host": HOST,
            "gateway_port": ports.gateway,
            "codec_server_host": HOST,
            "codec_server_port": ports.codec_server,
            **{f"{name}_address": f"{HOST}:{port}" for name, port in ports.services.items()},
        }
        # Overrides win; everything below reads addresses back from these Settings.
        self.settings = Settings(**{**values, **overrides})
        self.metrics_ports: dict[str, int] = dict(ports.metrics)
        self.gateway_url = f"http://{self.settings.gateway_host}:{self.settings.gateway_port}"
        from deploy.local.demo import register_mail_dir  # lazy: demo imports the stubs

        register_mail_dir(self.gateway_url, self.mail_dir)  # new_candidate reads links there
        self.temporal_client: Client | None = None
        self._layers: list[list[ChildProcess]] = []  # in start order; stopped in reverse

    # Where things are.
    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def temporal_address(self) -> str:
        return self.settings.temporal_address

    @property
    def temporal_ui_url(self) -> str:
        return self.settings.temporal_ui_url

    @property
    def codec_server_url(self) -> str:
        return f"http://{self.settings.codec_server_host}:{self.settings.codec_server_port}"

    @property
    def s3_port(self) -> int:
        return port_of(self.settings.s3_endpoint)

    @property
    def children(self) -> list[ChildProcess]:
        return [child for layer in self._layers for child in layer]

    def child_env(self) -> dict[str, str]:
        return {**settings_env(self.settings), "PYTHONUNBUFFERED": "1"}

    def metrics_url(self, process: str) -> str:
        """The Prometheus endpoint of one of our processes (a service name, worker, gateway)."""
        return f"http://{self.settings.metrics_host}:{self.metrics_ports[process]}/metrics"

    def ports_needed(self, until: Part = "gateway") -> list[tuple[str, int]]:
        parts = PARTS[: PARTS.index(until) + 1]
        needed: list[tuple[str, int]] = []
        if "infrastructure" in parts:
            needed += [
                ("Temporal", port_of(self.temporal_address)),
                ("l'interface Temporal", port_of(self.temporal_ui_url)),
                ("le serveur de codec", self.settings.codec_server_port),
                ("S3", self.s3_port),
                ("SMTP", self.settings.smtp_port),
            ]
        if "services" in parts:
            needed += [
                (f"le service {n}", port_of(self.settings.address_of(n))) for n in SERVICE_NAMES
            ]
        if "gateway" in parts:
            needed.append(("la passerelle", self.settings.gateway_port))
        for process in ("services", "worker", "gateway"):
            if process in parts:
                names = SERVICE_NAMES if process == "services" else (process,)
                needed += [
                    (f"les métriques de {n}", self.metrics_ports[n])
                    for n in names
                    if n in self.metrics_ports
                ]
        return needed

    def check_ports_free(self, until: Part = "gateway") -> None:
        busy = [(what, port) for what, port in self.ports_needed(until) if port_taken(port)]
        if busy:
            lines = [f"le port {port} ({what}) est déjà utilisé" for what, port in busy]
            raise PortBusyError(
                " ; ".join(lines) + " : un autre `make run` tourne-t-il ? Rien n'a été démarré."
            )

    # Starting.
    async def start(self, until: Part = "gateway") -> None:
        """Start every part up to ``until`` (tests stop early); on any failure, stop all."""
        self.check_ports_free(until)
        steps: dict[Part, Callable[[], Awaitable[None]]] = {
            "infrastructure": self.start_infrastructure,
            "services": self.start_services,
            "worker": self.start_worker,
            "gateway": self.start_gateway,
        }
        try:
            for part in PARTS[: PARTS.index(until) + 1]:
                await steps[part]()
        except BaseException:
            await self.stop()
            raise

    async def start_infrastructure(self) -> None:
        for name in ("temporal", "codec_server", "s3", "mail", *SERVICE_NAMES, "worker", "gateway"):
            (self.log_dir / f"{name}.log").unlink(missing_ok=True)  # each run's logs are its own
        settings = self.settings
        await self._start_blocking("Temporal", self._start_temporal)
        self.temporal_client = await self._connect_temporal()
        await self._start_blocking(
            "S3",
            lambda: processes.start_s3(
                self.data_dir / "s3",
                self.log_dir,
                settings.s3_access_key,
                settings.s3_secret_key,
                self.s3_port,
            ),
        )
        await self._start_blocking(
            "le puits à courriels",
            lambda: processes.start_mail_sink(self.mail_dir, self.log_dir, settings.smtp_port),
        )
        # The Temporal UI reads payloads through it (operator's bearer token).
        codec = self._spawn("codec_server", "-m", CHILD_MODULES["codec_server"])
        self._layers.append([codec])
        await self._wait_ready([self._readiness(codec, time.time())])

    def _start_temporal(self) -> ChildProcess:
        """The dev server on its SQLite file (blocking): a restart finds every journey."""
        return processes.start_temporal(
            self.data_dir / "temporal",
            self.log_dir,
            port_of(self.settings.temporal_address),
            port_of(self.settings.temporal_ui_url),
            codec_endpoint=self.codec_server_url,
        )

    async def _connect_temporal(self) -> Client:
        return await Client.connect(
            self.settings.temporal_address,
            namespace=self.settings.temporal_namespace,
            data_converter=data_converter(self.settings),
        )

    async def start_services(self) -> None:
        await self._migrate()
        children = [self._spawn(name, "-m", f"services.{name}") for name in SERVICE_NAMES]
        self._layers.append(children)
        await self._wait_ready([self._readiness(child, time.time()) for child in children])

    async def _migrate(self) -> None:
        """Every schema to head in one short-lived process, before the services start (a
        deployment's migration job): each service then finds its schema at head and
        never loads Alembic, ~10 MiB less in each for as long as it runs."""
        (self.log_dir / "migrations.log").unlink(missing_ok=True)
        migrate = ("-m", "services.common.migrations", "all", "upgrade")
        child = processes.spawn(
            "migrations", [sys.executable, *migrate], self.log_dir, env=self.child_env()
        )
        try:
            code = await asyncio.to_thread(child.process.wait, self.timeout)
        except BaseException as error:  # too long, or interrupted: leave nothing behind
            child.stop()
            if isinstance(error, subprocess.TimeoutExpired):
                raise StackError(f"migrations trop longues ; fin de {child.log_path}") from error
            raise
        if code != 0:
            raise StackError(
                f"les migrations ont échoué (code {code}) ; fin de {child.log_path} :\n"
                + child.tail()
            )

    async def start_worker(self) -> None:
        started_at = time.time()
        child = self._spawn("worker", "-m", CHILD_MODULES["worker"])
        self._layers.append([child])
        await self._wait_ready([self._readiness(child, started_at)])

    async def start_gateway(self) -> None:
        child = self._spawn("gateway", "-m", CHILD_MODULES["gateway"])
        self._layers.append([child])
        await self._wait_ready([self._readiness(child, time.time())])

    async def task_queue_polled(self, since: float = 0.0, pid: int | None = None) -> bool:
        """True when a worker polled the journeys' workflow task queue after ``since``
        (and, given ``pid``, that worker process: its identity is ``<pid>@<host>``).

        Pollers stay listed for a while after a worker dies, hence the filters.
        """
        assert self.temporal_client is not None, "Temporal is not started"
        response = await self.temporal_client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.settings.temporal_namespace,
                task_queue=TaskQueue(
                    name=self.settings.temporal_task_queue,
                    kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
                ),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        # Timestamps have second precision on some servers: allow for the rounding.
        return any(
            p.last_access_time.ToSeconds() >= since - 1
            and (pid is None or p.identity.startswith(f"{pid}@"))
            for p in response.pollers
        )

    def _spawn(self, name: str, *args: str) -> ChildProcess:
        env = self.child_env()
        if name in self.metrics_ports:  # each child its own metrics port
            env["PERMIS_METRICS_PORT"] = str(self.metrics_ports[name])
        return processes.spawn(name, [sys.executable, *args], self.log_dir, env=env)

    async def _start_blocking(self, what: str, start: Callable[[], ChildProcess]) -> None:
        """Run a blocking ``processes.start_*`` in a thread, keeping its child for stop()."""
        task = asyncio.ensure_future(asyncio.to_thread(start))
        try:
            child = await asyncio.shield(task)
        except asyncio.CancelledError:
            # A thread cannot be interrupted: let it finish so the child it spawned is stopped.
            with contextlib.suppress(Exception):
                self._layers.append([await task])
            raise
        except (RuntimeError, TimeoutError) as error:
            raise StackError(f"{what} n'a pas démarré : {error}") from error
        self._layers.append([child])

    async def _wait_ready(
        self, checks: list[tuple[ChildProcess, Callable[[], Awaitable[bool]], str]]
    ) -> None:
        """Wait until every check passes; fail fast, with its log, if a child dies."""
        deadline = time.monotonic() + self.timeout
        pending = list(checks)
        while pending:
            for entry in list(pending):
                child, check, _ = entry
                if not child.alive():
                    raise StackError(
                        f"{child.name} s'est arrêté au démarrage"
                        f" (code {child.process.returncode}) ;"
                        f" fin de {child.log_path} :\n{child.tail()}"
                    )
                try:
                    ready = await check()
                except Exception:  # not ready yet
                    ready = False
                if ready and child.alive():
                    pending.remove(entry)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise StackError(
                    "\n\n".join(
                        f"{child.name} pas prêt après {self.timeout:.0f} s ({what}) ;"
                        f" fin de {child.log_path} :\n{child.tail()}"
                        for child, _, what in pending
                    )
                )
            await asyncio.sleep(0.2)

    # Faults, one child at a time by name (the chaos tests): a kill, a graceful stop, and
    # a restart on the same ports and environment that waits with the start's checks.
    def child(self, name: str) -> ChildProcess:
        """The child called ``name`` (after a restart, the new one)."""
        for child in self.children:
            if child.name == name:
                return child
        raise KeyError(f"no child named {name}")

    async def kill(self, name: str) -> int:
        """``kill -9`` the child ``name`` (no drain, no clean-up); returns its pid."""
        child = self.child(name)
        await asyncio.to_thread(child.kill)
        return child.process.pid

    async def stop_child(self, name: str) -> int:
        """Stop the child ``name`` as ``stop()`` would (SIGTERM, drain); returns its pid."""
        child = self.child(name)
        await asyncio.to_thread(child.stop, STOP_GRACE.get(name, DEFAULT_STOP_GRACE))
        return child.process.pid

    async def restart(self, name: str) -> ChildProcess:
        """Start ``name`` again (stopped gracefully first if it still runs) and wait until
        it is ready; the new child takes the old one's place, so ``stop()`` stops it.

        Temporal comes back on the same port and SQLite file, and ``temporal_client`` is
        connected again; the worker is ready once it polls the task queue again.
        """
        if name != "temporal" and name not in (*CHILD_MODULES, *SERVICE_NAMES):
            raise ValueError(f"{name} cannot be restarted alone")
        old = self.child(name)
        if old.alive():
            await self.stop_child(name)
        if name == "temporal":
            self.temporal_client = None
            try:
                new = await asyncio.to_thread(self._start_temporal)
            except (RuntimeError, TimeoutError) as error:
                raise StackError(f"Temporal n'a pas redémarré : {error}") from error
            self._replace(old, new)
            self.temporal_client = await self._connect_temporal()
            return new
        started_at = time.time()
        new = self._spawn(name, "-m", CHILD_MODULES.get(name, f"services.{name}"))
        self._replace(old, new)
        await self._wait_ready([self._readiness(new, started_at)])
        return new

    def _replace(self, old: ChildProcess, new: ChildProcess) -> None:
        for layer in self._layers:
            if old in layer:
                layer[layer.index(old)] = new
                return
        self._layers.append([new])

    def _readiness(
        self, child: ChildProcess, started_at: float
    ) -> tuple[ChildProcess, Callable[[], Awaitable[bool]], str]:
        """The start's readiness check of one of our processes."""
        name = child.name
        if name == "worker":
            pid = child.process.pid  # the worker's own: setpriv execs it
            return (
                child,
                lambda: self.task_queue_polled(since=started_at, pid=pid),
                "un poller sur la file",
            )
        if name == "gateway":
            return (child, _bind(http_ok, f"{self.gateway_url}/healthz"), "/healthz")
        if name == "codec_server":
            return (child, _bind(http_ok, f"{self.codec_server_url}/healthz"), "/healthz")
        if name in SERVICE_NAMES:
            address = self.settings.address_of(cast(ServiceName, name))
            return (child, _bind(grpc_serving, address), "santé gRPC SERVING")
        raise ValueError(f"{name} cannot be restarted alone")

    # Stopping.
    async def stop(self) -> None:
        """Stop every child, last started first; a layer's children stop together."""
        while self._layers:
            layer = self._layers.pop()
            if any(child.name == "temporal" for child in layer):
                self.temporal_client = None
            await asyncio.gather(
                *(
                    asyncio.to_thread(child.stop, STOP_GRACE.get(child.name, DEFAULT_STOP_GRACE))
                    for child in layer
                ),
                return_exceptions=True,
            )

    async def __aenter__(self) -> LocalStack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def summary(self) -> str:
        services = ", ".join(f"{n} {self.settings.address_of(n)}" for n in SERVICE_NAMES)
        rows = [
            ("Interface Temporal", self.temporal_ui_url),
            ("Temporal (gRPC)", self.temporal_address),
            (
                "Serveur de codec",
                f"{self.codec_server_url} (Authorization: Bearer $PERMIS_CODEC_SERVER_TOKEN)",
            ),
            ("Passerelle (API)", f"{self.gateway_url}/docs"),
            ("S3 (SeaweedFS)", f"http://{self.settings.s3_endpoint}"),
            ("SMTP", f"{self.settings.smtp_host}:{self.settings.smtp_port}"),
            ("Courriels reçus", str(self.mail_dir)),
            ("Journaux", str(self.log_dir)),
            ("Services gRPC", services),
            (
                "Métriques (Prometheus)",
                ", ".join(f"{n} {self.metrics_url(n)}" for n in self.metrics_ports),
            ),
            # The printer and the post are outside partners: simulated on demand (the
            # demo plays them in-process, card by card).
            (
                "Partenaires simulés",
                "python -m deploy.partners.simulator --production "
                f"{self.settings.production_address} --scenario delivered",
            ),
        ]
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows)


def _bind(check: Callable[[str], Awaitable[bool]], target: str) -> Callable[[], Awaitable[bool]]:
    return lambda: check(target)


async def play_demo(stack: LocalStack) -> bool:
    """The demo journey of ``deploy.local.demo``; False if it fails or does not exist yet."""
    try:
        from deploy.local.demo import run_demo as demo
    except ModuleNotFoundError as error:
        if error.name != "deploy.local.demo":
            raise
        print("Pas de démo : deploy/local/demo.py n'existe pas encore.", flush=True)
        return False
    try:
        return bool(await demo(stack))
    except Exception:  # reported; under `run` the stack stays up for inspection
        traceback.print_exc()
        return False


async def _unless_stopped(
    work: Coroutine[Any, Any, T], stop: asyncio.Event
) -> tuple[bool, T | None]:
    """Run ``work`` unless ``stop`` is set first; then cancel it. Returns (finished, result)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False, None


async def run_command(command: Literal["run", "demo"], data_dir: Path) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # Ctrl-C, kill, closed terminal
        loop.add_signal_handler(sig, stop.set)
    try:
        stack = LocalStack(data_dir)
    except ValueError as error:
        print(f"Configuration invalide : {error}", file=sys.stderr)
        return 2
    print(f"Démarrage de permis (journaux dans {stack.log_dir})…", flush=True)
    try:
        finished, _ = await _unless_stopped(stack.start(), stop)
        if not finished:
            print("Interrompu pendant le démarrage.", flush=True)
            return 130
        print("Tout est démarré :\n" + stack.summary(), flush=True)
        print("Démo : parcours d'une demande d'inscription…", flush=True)
        finished, passed = await _unless_stopped(play_demo(stack), stop)
        if not finished:
            print("Interrompu pendant la démo.", flush=True)
            return 130
        print("Démo réussie." if passed else f"Démo en échec (voir {stack.log_dir}).", flush=True)
        if command == "demo":
            return 0 if passed else 1
        print("Le système tourne ; Ctrl-C pour l'arrêter.", flush=True)
        await stop.wait()
        return 0
    except PortBusyError as error:
        print(str(error), file=sys.stderr)
        return 1
    except StackError as error:
        print(f"Échec du démarrage : {error}", file=sys.stderr)
        return 1
    finally:
        if stack.children:
            print("Arrêt…", flush=True)
            await stack.stop()
            print("Arrêté.", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.stack",
        description="Lance permis en local : Temporal, S3, courriels, services, worker,"
        " passerelle.",
    )
    parser.add_argument(
        "command",
        choices=["run", "demo"],
        help="run : démarre, joue la démo et reste en marche ;"
        " demo : démarre, joue la démo, arrête",
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    run_then_leave(run_command(args.command, args.data_dir))


if __name__ == "__main__":
    main()

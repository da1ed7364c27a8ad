"""Each service's Alembic migrations, on SQLite and on PostgreSQL (``database_url``).

For every service: head on an empty database is exactly the models' schema (alembic's
own comparison finds nothing to do), upgrading again changes nothing, downgrading to
base removes every table of the service, a database made by the former ``create_all``
start-up is adopted, and the five services can share one database. On PostgreSQL,
replicas upgrading at once are serialised by an advisory lock and all succeed.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import DateTime, MetaData, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common import migrations
from services.common.db import make_engine
from services.common.settings import SERVICE_NAMES

ROOT = Path(__file__).resolve().parent.parent
# Every service with migrations (a new service brings its own ``migrations/``).
SERVICES = migrations.migrated_services()


def test_the_services_with_a_database_have_migrations() -> None:
    assert {"identity", "photocode", "documents", "ctn", "instruction"} <= set(SERVICES)
    assert set(SERVICES) <= set(SERVICE_NAMES)


def metadata_of(service: str) -> MetaData:
    storage = importlib.import_module(f"services.{service}.storage")
    metadata: MetaData = storage.Base.metadata
    return metadata


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def _differences(connection: Connection, service: str, only_own_tables: bool) -> list[Any]:
    metadata = metadata_of(service)
    opts: dict[str, Any] = {
        "version_table": migrations.version_table(service),
        "compare_type": True,
        # Not on SQLite: alembic takes its reflected '' for a different default than "".
        "compare_server_default": connection.dialect.name == "postgresql",
    }
    if only_own_tables:  # a shared database: the other services' tables are not ours
        opts["include_name"] = lambda name, type_, _parents: (
            type_ != "table" or name in metadata.tables
        )
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, metadata))


async def differences(
    engine: AsyncEngine, service: str, *, only_own_tables: bool = False
) -> list[Any]:
    """What alembic's autogenerate would change to make the database match the models."""
    async with engine.connect() as connection:
        return await connection.run_sync(_differences, service, only_own_tables)


def _snapshot(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    return {
        table: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "indexes": sorted(
                (i["name"] or "", bool(i["unique"])) for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
        }
        for table in sorted(inspector.get_table_names())
    }


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    """Every table of the database, its columns, indexes and unique constraints."""
    async with engine.connect() as connection:
        return await connection.run_sync(_snapshot)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))


def is_postgresql(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


# ---- one service at a time -----------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_head_is_exactly_the_models_schema(engine: AsyncEngine, service: str) -> None:
    assert await migrations.current(engine, service) is None

    await migrations.upgrade(engine, service)

    assert await migrations.current(engine, service) == migrations.head(service)
    assert await differences(engine, service) == []
    own = set(metadata_of(service).tables)
    assert await table_names(engine) == own | {f"alembic_version_{service}"}
    if is_postgresql(engine):  # SQLite keeps no time zone: the models' UtcDateTime does
        aware = {
            (table.name, column.name)
            for table in metadata_of(service).tables.values()
            for column in table.columns
            if isinstance(stored := getattr(column.type, "impl", column.type), DateTime)
            and stored.timezone
        }

        def reflected_aware(connection: Connection) -> set[tuple[str, str]]:
            inspector = inspect(connection)
            return {
                (table, column["name"])
                for table in own
                for column in inspector.get_columns(table)
                if getattr(column["type"], "timezone", False)
            }

        async with engine.connect() as connection:
            assert await connection.run_sync(reflected_aware) == aware


@pytest.mark.parametrize("service", SERVICES)
async def test_upgrading_twice_changes_nothing(engine: AsyncEngine, service: str) -> None:
    await migrations.upgrade(engine, service)
    before = await snapshot(engine)

    await migrations.upgrade(engine, service)

    assert await snapshot(engine) == before
    assert await migrations.current(engine, service) == migrations.head(service)


@pytest.mark.parametrize("service", SERVICES)
async def test_downgrade_to_base_removes_the_services_tables(
    engine: AsyncEngine, service: str
) -> None:
    await migrations.upgrade(engine, service)

    await migrations.downgrade(engine, service, "base")

    assert await table_names(engine) == set()  # its version table too
    assert await migrations.current(engine, service) is None
    await migrations.upgrade(engine, service)  # and back again
    assert await differences(engine, service) == []


@pytest.mark.parametrize("service", ["identity", "photocode", "documents", "ctn", "instruction"])
async def test_a_database_from_before_migrations_is_adopted(
    engine: AsyncEngine, service: str
) -> None:
    """Services used to create their tables at start-up: such a database keeps its
    tables (and rows) and is simply recorded at head."""
    async with engine.begin() as connection:
        await connection.run_sync(metadata_of(service).create_all)
    before = await snapshot(engine)

    await migrations.upgrade(engine, service)

    assert await migrations.current(engine, service) == migrations.head(service)
    after = await snapshot(engine)
    after.pop(f"alembic_version_{service}")
    assert after == before
    assert await differences(engine, service) == []


async def test_the_generated_documents_index_stays_partial(engine: AsyncEngine) -> None:
    """Alembic does not compare index conditions: check that uploads may repeat a kind."""
    await migrations.upgrade(engine, "documents")

    async with engine.connect() as connection:
        indexes = await connection.run_sync(
            lambda sync: {i["name"]: i for i in inspect(sync).get_indexes("documents")}
        )
    where = indexes["uq_documents_generated_kind"].get("dialect_options", {})
    assert "generated" in str(where.get(f"{engine.dialect.name}_where", ""))


# ---- services together ---------------------------------------------------------------


async def test_the_services_share_one_database(engine: AsyncEngine) -> None:
    for service in SERVICES:
        await migrations.upgrade(engine, service)

    for service in SERVICES:
        assert await migrations.current(engine, service) == migrations.head(service)
        assert await differences(engine, service, only_own_tables=True) == []

    await migrations.downgrade(engine, "ctn", "base")

    tables = await table_names(engine)
    assert not tables & {*metadata_of("ctn").tables, "alembic_version_ctn"}
    for service in SERVICES:
        if service != "ctn":
            assert set(metadata_of(service).tables) <= tables
            assert await migrations.current(engine, service) == migrations.head(service)


async def test_replicas_upgrading_together_all_succeed(database_url: str) -> None:
    """Two processes per service start at once on one database, as replicas do."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite is single-host: no concurrent start-ups to serialise")
    replicas = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.common.migrations",
            service,
            "upgrade",
            cwd=ROOT,
            env=os.environ | {"PERMIS_DATABASE_URL": database_url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for service in SERVICES
        for _ in range(2)
    ]
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(replica.communicate() for replica in replicas)), 90
    )
    for replica, (_, stderr) in zip(replicas, outcomes, strict=True):
        assert replica.returncode == 0, stderr.decode()
    engine = make_engine(database_url)
    try:
        for service in SERVICES:
            assert await migrations.current(engine, service) == migrations.head(service)
            assert await differences(engine, service, only_own_tables=True) == []
    finally:
        await engine.dispose()


async def test_upgrades_running_together_in_one_process_all_succeed(
    database_url: str,
) -> None:
    engines = [make_engine(database_url) for _ in range(2)]
    try:
        await asyncio.gather(
            *(migrations.upgrade(e, service) for service in SERVICES for e in engines)
        )
        for service in SERVICES:
            assert await migrations.current(engines[0], service) == migrations.head(service)
    finally:
        for engine in engines:
            await engine.dispose()


async def test_an_upgrade_waits_for_the_services_migration_lock(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the migration lock is PostgreSQL's")
    holder, engine = make_engine(database_url), make_engine(database_url)
    key = {"key": migrations.lock_key("identity")}
    try:
        async with holder.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
            waiting = asyncio.create_task(migrations.upgrade(engine, "identity"))
            await asyncio.sleep(1)
            assert not waiting.done()
            assert "identity_accounts" not in await table_names(holder)
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
            await asyncio.wait_for(waiting, 30)
        assert await migrations.current(engine, "identity") == migrations.head("identity")
    finally:
        await holder.dispose()
        await engine.dispose()


# ---- the operators' command ----------------------------------------------------------


def run_command(database_url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "services.common.migrations", *args],
        cwd=ROOT,
        env=os.environ | {"PERMIS_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_the_operators_command(database_url: str) -> None:
    async def command(*args: str) -> str:
        return await asyncio.to_thread(run_command, database_url, "instruction", *args)

    head = migrations.head("instruction")
    assert (await command("current")).strip() == f"instruction: base (no tables) (head: {head})"
    assert (await command("upgrade")).strip() == f"instruction: {head} (head: {head})"
    assert "base (no tables)" in await command("downgrade", "base")
    engine = make_engine(database_url)
    try:
        assert not await table_names(engine) & set(metadata_of("instruction").tables)
    finally:
        await engine.dispose()


# ---- a schema at head, without Alembic -------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_the_declared_head_is_alembic_s(service: str) -> None:
    assert migrations.declared_head(service) == migrations.head(service)


def test_a_service_at_head_does_not_load_alembic(database_url: str) -> None:
    """A service finds its schema at head without importing Alembic (~10 MiB of RSS);
    below head, it migrates as before."""
    script = """
import asyncio, sys
from services.common import migrations
from services.common.db import make_engine

async def main() -> None:
    engine = make_engine(sys.argv[1])
    await migrations.upgrade(engine, "identity")
    print("alembic" in sys.modules)
    await engine.dispose()

asyncio.run(main())
"""

    def loads_alembic() -> bool:
        result = subprocess.run(
            [sys.executable, "-c", script, database_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.split()[-1] == "True"

    assert loads_alembic()  # an empty database: migrated
    assert not loads_alembic()  # at head: left alone, Alembic never imported


async def test_the_operators_command_upgrades_every_service(database_url: str) -> None:
    output = await asyncio.to_thread(run_command, database_url, "all", "upgrade")
    assert output.splitlines() == [
        f"{service}: {migrations.head(service)} (head: {migrations.head(service)})"
        for service in SERVICES
    ]

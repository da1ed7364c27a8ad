"""Each service's schema, brought up to date by its own Alembic migrations.

Every service that owns data has ``services/<name>/migrations/`` (``env.py`` and
``versions/``), versioned in its own table ``alembic_version_<name>``, so the
services may share one database without touching each other's tables or history.
Alembic runs programmatically, on a connection we hand it: no ``alembic.ini``.

- Services call ``await upgrade(engine, "<name>")`` at start-up (in ``build``). A schema
  already at head is recognised without importing Alembic (the revision files are read
  as text): Alembic and the SQL dialects it pulls in stay out of a running service's
  memory (~10 MiB each) unless there is something to migrate.
- Several replicas starting together do not race: on PostgreSQL the upgrade runs in
  one transaction holding an advisory lock keyed on the service; whoever comes second
  waits, then finds the schema at head and does nothing. (SQLite is single-host.)
- Operators: ``python -m services.common.migrations <service> upgrade|downgrade|current``
  on the service's configured database (``PERMIS_DATABASE_URL``, see OPERATIONS.md);
  developers add a revision with ``... <service> revision -m "what" --autogenerate``.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import hashlib
import logging
import sys
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import MetaData, Table, TypeDecorator, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import make_engine
from services.common.settings import SERVICE_NAMES, ServiceName, Settings

if TYPE_CHECKING:  # imported where used: see the module's docstring
    from alembic.config import Config

log = logging.getLogger(__name__)

_SERVICES_DIR = Path(__file__).resolve().parent.parent


def _checked(service: str) -> ServiceName:
    if service not in SERVICE_NAMES:
        raise ValueError(f"unknown service {service!r}: one of {', '.join(SERVICE_NAMES)}")
    return service  # type: ignore[return-value]


def script_location(service: str) -> Path:
    """The service's migrations folder (``env.py``, ``versions/``), shipped in the wheel."""
    folder = _SERVICES_DIR / _checked(service) / "migrations"
    if not (folder / "env.py").is_file():
        raise ValueError(f"the {service} service has no migrations (services/{service}/migrations)")
    return folder


def migrated_services() -> tuple[ServiceName, ...]:
    """The services that have migrations (every service that owns a database should)."""
    return tuple(s for s in SERVICE_NAMES if (_SERVICES_DIR / s / "migrations/env.py").is_file())


def version_table(service: str) -> str:
    """Where the service's revision is kept: one table per service, so they can share a DB."""
    return f"alembic_version_{_checked(service)}"


def lock_key(service: str) -> int:
    """The PostgreSQL advisory-lock key of a service's migrations: a stable signed 64-bit
    number (the same in every replica and every release)."""
    digest = hashlib.sha256(f"permis-migrations:{_checked(service)}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def alembic_config(service: str, connection: Connection | None = None) -> Config:
    """A programmatic Alembic config for the service; ``env.py`` uses ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location(service)))
    # Revision files are named "<rev>_<slug>.py", the revisions numbered 0001, 0002...
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["service"] = service
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head(service: str) -> str | None:
    """The latest revision in the service's migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(service)).get_current_head()


def declared_head(service: str) -> str | None:
    """The latest revision, read from the revision files' ``revision`` and
    ``down_revision`` without importing Alembic; None when that cannot be told simply
    (several heads, a file of another shape): Alembic then decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (script_location(service) / "versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        values: dict[str, Any] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target: ast.expr
            if isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                try:
                    values[target.id] = ast.literal_eval(value)
                except ValueError:
                    return None
        revision, down = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str):
            return None
        downs = [down] if isinstance(down, str) else list(down or ())
        if not all(isinstance(d, str) for d in downs):
            return None
        revisions.add(revision)
        parents.update(downs)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


# ---- what each service's env.py runs -------------------------------------------------


def run_env(metadata: MetaData, service: str) -> None:
    """The body of ``services/<service>/migrations/env.py``: run the migrations on the
    connection the caller put in ``config.attributes["connection"]``.

    Autogenerate sees only the service's own tables (``metadata``), so a database
    shared with other services does not make it propose dropping theirs.
    """
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise RuntimeError(
            f"run {service}'s migrations with `python -m services.common.migrations {service}`"
            " (they need a live connection; there is no alembic.ini)"
        )

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or name in metadata.tables

    def render_item(type_: str, obj: Any, _context: Any) -> str | Literal[False]:
        # A revision must not import the models: our column types (UtcDateTime) are
        # written as the type they store, e.g. ``sa.DateTime(timezone=True)``.
        if type_ == "type" and isinstance(obj, TypeDecorator):
            return f"sa.{obj.impl!r}"
        return False

    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=version_table(service),
        include_name=include_name,
        render_item=render_item,
        compare_type=True,
        # SQLite cannot ALTER most things: autogenerate "batch" operations (copy and
        # move), which PostgreSQL runs as plain ALTERs.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


# ---- running them --------------------------------------------------------------------


def _serialised(connection: Connection, service: str) -> None:
    """On PostgreSQL, wait for the service's migration lock (held until the transaction
    ends): concurrent starts run their migrations one after the other."""
    if connection.dialect.name != "postgresql":
        return
    key = {"key": lock_key(service)}
    if not connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), key).scalar():
        log.info("waiting for another process migrating the %s schema", service)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)


def _upgrade(connection: Connection, service: str, revision: str) -> None:
    from alembic import command

    _serialised(connection, service)
    command.upgrade(alembic_config(service, connection), revision)


def _downgrade(connection: Connection, service: str, revision: str) -> None:
    from alembic import command

    _serialised(connection, service)
    command.downgrade(alembic_config(service, connection), revision)
    if _current(connection, service) is None:  # at base: leave nothing of the service
        Table(version_table(service), MetaData()).drop(connection, checkfirst=True)


def _current(connection: Connection, service: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": version_table(service)})
    return context.get_current_revision()


def _recorded(connection: Connection, service: str) -> set[str]:
    """The revisions in the service's version table, read with plain SQL."""
    table = version_table(service)
    if not inspect(connection).has_table(table):
        return set()
    return {str(row[0]) for row in connection.execute(text(f"SELECT version_num FROM {table}"))}


# Alembic keeps the running migration's context in module globals (``alembic.context``,
# ``alembic.op``): two runs interleaved on one event loop would trample each other, so a
# process runs one at a time. (Replicas are processes: the database lock is for them.)
_in_process: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _one_at_a_time() -> asyncio.Lock:
    return _in_process.setdefault(asyncio.get_running_loop(), asyncio.Lock())


async def upgrade(engine: AsyncEngine, service: str, revision: str = "head") -> None:
    """Bring the service's schema to ``revision`` (head), in one transaction on
    PostgreSQL; a schema already there is left alone."""
    if revision == "head" and (latest := declared_head(service)) is not None:
        async with engine.connect() as connection:
            if await connection.run_sync(_recorded, service) == {latest}:
                return  # at head: nothing to do, and no need to load Alembic
    async with _one_at_a_time(), engine.begin() as connection:
        await connection.run_sync(_upgrade, service, revision)


async def downgrade(engine: AsyncEngine, service: str, revision: str) -> None:
    """Take the service's schema back to ``revision`` ("base" drops all its tables)."""
    async with _one_at_a_time(), engine.begin() as connection:
        await connection.run_sync(_downgrade, service, revision)


async def current(engine: AsyncEngine, service: str) -> str | None:
    """The revision the database is at for this service (None: never migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current, _checked(service))


async def _revision(engine: AsyncEngine, service: str, message: str, autogenerate: bool) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(service))
    rev_id = f"{len(list(script.walk_revisions())) + 1:04d}"

    def run(connection: Connection) -> None:
        command.revision(
            alembic_config(service, connection),
            message=message,
            autogenerate=autogenerate,
            rev_id=rev_id,
        )

    async with _one_at_a_time(), engine.connect() as connection:
        await connection.run_sync(run)


# ---- python -m services.common.migrations --------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.common.migrations",
        description="Run a service's database migrations on its configured database "
        "(PERMIS_DATABASE_URL, or the local SQLite file).",
    )
    parser.add_argument(
        "service",
        choices=[*SERVICE_NAMES, "all"],
        help="all: every service with migrations, one after the other (upgrade, current)",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser("upgrade", help="migrate to a revision (default: head)")
    up.add_argument("revision", nargs="?", default="head")
    down = actions.add_parser(
        "downgrade", help="go back to a revision (default: -1, one step; base: drop all)"
    )
    down.add_argument("revision", nargs="?", default="-1")
    actions.add_parser("current", help="show the database's revision and the head")
    new = actions.add_parser("revision", help="(developers) write a new revision file")
    new.add_argument("-m", "--message", required=True)
    new.add_argument(
        "--autogenerate",
        action="store_true",
        help="compare the models with the database (which must be at head)",
    )
    return parser


async def _main(argv: Sequence[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.service != "all":
        return await _run(args, args.service)
    if args.action not in ("upgrade", "current"):
        parser.error(f"{args.action} takes one service, not all")
    for service in migrated_services():
        await _run(args, service)
    return 0


async def _run(args: argparse.Namespace, service: ServiceName) -> int:
    settings = Settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
    engine = make_engine(settings.database_url_for(service))
    try:
        if args.action == "upgrade":
            await upgrade(engine, service, args.revision)
        elif args.action == "downgrade":
            await downgrade(engine, service, args.revision)
        elif args.action == "revision":
            await _revision(engine, service, args.message, args.autogenerate)
            return 0
        at = await current(engine, service)
        print(f"{service}: {at or 'base (no tables)'} (head: {head(service)})")
    finally:
        await engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(_main(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())

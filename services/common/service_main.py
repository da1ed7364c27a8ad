"""How every service process starts and stops: ``python -m services.<name>``.

A service's ``__main__`` only says how to build its gRPC definitions; ``run_service``
does the rest the same way for all of them:

1. settings from the environment, then logs, traces and metrics (``setup_process``);
2. ``build_definition(context)``: the service migrates its database and builds its
   servicer, asking the context for what it needs — other services' clients
   (``context.clients``, channels opened lazily) or Temporal (``context.temporal()`` /
   ``context.journey_updater()``, connected on first use, retrying while it starts);
3. ``serve`` with health and reflection until SIGTERM/SIGINT, then drain;
4. close what the build returned (engines...) in order, then the service clients;
5. leave with ``os._exit``: a process that used a Temporal client can abort at
   interpreter shutdown (temporalio/sdk-python#300), and aiosqlite's threads can keep
   it alive, either of which would turn a clean stop into a hang or exit code 134.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from services.common.auth import service_principal
from services.common.clients import ServiceClients
from services.common.grpc_server import ServiceDefinition, serve
from services.common.observability import setup_process
from services.common.process_exit import leave
from services.common.settings import ServiceName, Settings
from services.common.startup_heap import freeze_startup_heap

if TYPE_CHECKING:  # imported on first use: the SDK and its protos weigh ~25 MiB of RSS
    from temporalio.client import Client

    from services.common.journey_updates import TemporalJourneyUpdater

Closer = Callable[[], Awaitable[None]]
Built = tuple[Sequence[ServiceDefinition], Sequence[Closer]]
BuildDefinition = Callable[["ServiceContext"], Awaitable[Built]]


class ServiceContext:
    """What a service may use while it builds: settings, and on request the other
    services' clients and Temporal (neither is created unless asked for)."""

    def __init__(self, settings: Settings, name: ServiceName | None = None) -> None:
        self.settings = settings
        # Who this service is when it calls the others (a service principal).
        self.principal = service_principal(name or "service")
        self._clients: ServiceClients | None = None
        self._temporal: Client | None = None

    @property
    def clients(self) -> ServiceClients:
        """Stubs to the other services; their channels connect lazily (a service may
        start after us). Closed by ``run_service`` after the build's own closers."""
        if self._clients is None:
            self._clients = ServiceClients(self.settings, self.principal)
        return self._clients

    async def temporal(self) -> Client:
        """The Temporal client, connected on first use (retrying while Temporal starts)."""
        if self._temporal is None:
            from services.common.journey_updates import connect_temporal

            self._temporal = await connect_temporal(self.settings)
        return self._temporal

    async def journey_updater(self) -> TemporalJourneyUpdater:
        """Delivers updates and signals to running journeys through ``temporal()``."""
        from services.common.journey_updates import TemporalJourneyUpdater

        return TemporalJourneyUpdater(await self.temporal())

    async def close(self) -> None:
        if self._clients is not None:
            await self._clients.close()


async def serve_service(name: ServiceName, build_definition: BuildDefinition) -> None:
    """Build the service ``name``, serve it until signalled, then close what it opened."""
    settings = Settings()
    setup_process(settings, name)
    context = ServiceContext(settings, name)
    try:
        definitions, closers = await build_definition(context)
        freeze_startup_heap()  # built: later full collections skip start-up objects

        async def stop() -> None:
            for close in closers:
                await close()

        await serve(
            definitions,
            settings.address_of(name),
            max_message_bytes=settings.grpc_max_message_bytes,
            grace_seconds=settings.grpc_shutdown_grace_seconds,
            service_secret=settings.service_secret,
            on_stop=stop,
        )
    finally:
        await context.close()


def run_service(name: ServiceName, build_definition: BuildDefinition) -> NoReturn:
    """Run the service ``name`` to its end, then leave the process: 0 after a clean stop,
    1 if it stopped on an error (logged), 130 on an interrupt before serving."""
    log = logging.getLogger(f"services.{name}")
    code = 0
    try:
        asyncio.run(serve_service(name, build_definition))
    except KeyboardInterrupt:
        code = 130
    except Exception:
        log.exception("%s service stopped on an error", name)
        code = 1
    finally:
        leave(code)

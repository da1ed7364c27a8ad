"""The candidate-facing HTTP gateway (FastAPI; OpenAPI at /docs)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from services.common.auth import GATEWAY, Principal
from services.common.clients import ServiceClients
from services.common.journey_updates import connect_temporal
from services.common.observability import instrument_app
from services.common.settings import Settings
from services.gateway import problems
from services.gateway.deps import verify_with
from services.gateway.journeys import Journeys
from services.gateway.routes import accounts, requests, requirements, tracking
from services.gateway.sessions import SessionCache

log = logging.getLogger(__name__)


def create_app(settings: Settings, temporal: Client | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = temporal or await connect_temporal(settings)
        app.state.settings = settings
        app.state.clients = ServiceClients(settings, Principal("gateway", GATEWAY))
        app.state.journeys = Journeys(client, settings)
        app.state.sessions = SessionCache(
            verify_with(app.state.clients), settings.session_cache_seconds
        )
        # What start-up built lives as long as the process: out of the collector's sight,
        # the full collections that a busy gateway runs now and then stay short.
        gc.collect()
        gc.freeze()
        yield
        await app.state.clients.close()

    app = FastAPI(
        title="Permis de conduire en ligne",
        description=(
            "Passerelle des candidats : compte usager, demande d'inscription au permis de "
            "conduire, pièces justificatives, suivi de la demande. Les erreurs suivent le "
            "format *problem details* (RFC 9457) avec un `code` stable et un message en français."
        ),
        version="1.0.0",
        lifespan=lifespan,
        # ObservabilityMiddleware (instrument_app) already makes the spans and metrics;
        # FastAPI's own telemetry would do it a second time on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    problems.install(app)
    instrument_app(app)  # metrics, spans, request number
    app.include_router(accounts.router)
    app.include_router(requests.router)
    app.include_router(requirements.router)
    app.include_router(tracking.router)

    @app.get("/healthz", tags=["exploitation"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

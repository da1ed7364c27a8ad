"""How every service runs its gRPC server: health, reflection, errors, graceful stop.

A service module only provides its servicer and the function that registers it;
``serve`` does the rest the same way for all five services.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from services.common.auth import AccessTable, AuthInterceptor
from services.common.errors import ErrorCode, PermisError
from services.common.observability import ObservabilityServerInterceptor

log = logging.getLogger(__name__)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Turns a ``PermisError`` raised by a handler into a rich gRPC status.

    Handlers stay plain: they raise, and the caller receives the stable code and the
    French message. Anything else becomes INTERNAL without leaking internals.
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = handler_call_details.method

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await inner(request, context)
            except PermisError as error:
                await context.abort_with_status(rpc_status.to_status(error.to_rpc_status()))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if isinstance(error, grpc.aio.AbortError):
                    raise
                log.exception("unexpected failure in %s", method)
                await context.abort(grpc.StatusCode.INTERNAL, "Erreur interne du service.")

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@dataclass
class ServiceDefinition:
    """What a service contributes: its full gRPC name and how to register its servicer."""

    full_name: str  # e.g. "permis.identity.v1.IdentityService"
    register: Callable[[grpc.aio.Server], None]
    # Method name → roles allowed (services.common.auth); enforced when the server has a
    # service secret. A method missing from the table is denied to every role.
    access: AccessTable | None = None


def server_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


async def start_server(
    definitions: Sequence[ServiceDefinition],
    address: str,
    *,
    max_message_bytes: int = 16 * 1024 * 1024,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    service_secret: str | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start a server with health and reflection; returns it and the bound port.

    With ``service_secret`` every call must carry a service token allowed by the
    definitions' access tables (``serve`` always passes it: real processes enforce).
    Without it, as in unit tests of a servicer, calls are not checked.
    """
    guards: list[grpc.aio.ServerInterceptor] = []
    if service_secret is not None:
        tables = {d.full_name: d.access or {} for d in definitions}
        guards.append(AuthInterceptor(tables, service_secret))
    server = grpc.aio.server(
        # Outermost: metrics and spans see the status ErrorInterceptor gives; the
        # authorization check runs inside ErrorInterceptor so its refusals are rich.
        interceptors=[
            ObservabilityServerInterceptor(),
            ErrorInterceptor(),
            *guards,
            *interceptors,
        ],
        options=server_options(max_message_bytes),
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for definition in definitions:
        definition.register(server)
    names = [d.full_name for d in definitions]
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"cannot bind gRPC server to {address}")
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    server.health_servicer = health_servicer  # type: ignore[attr-defined]
    return server, port


async def serve(
    definitions: Sequence[ServiceDefinition],
    address: str,
    *,
    max_message_bytes: int,
    grace_seconds: float,
    service_secret: str | None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT; then report NOT_SERVING and finish in-flight calls.

    ``service_secret`` is explicit: ``service_main`` always passes the deployment's, so
    every service process enforces its access table."""
    server, _ = await start_server(
        definitions, address, max_message_bytes=max_message_bytes, service_secret=service_secret
    )
    log.info("gRPC %s listening on %s", ", ".join(d.full_name for d in definitions), address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: draining in-flight calls for up to %.0fs", grace_seconds)
    await server.health_servicer.enter_graceful_shutdown()  # type: ignore[attr-defined]
    await server.stop(grace_seconds)
    if on_stop is not None:
        await on_stop()


def not_found_if_missing(value: Any, code: ErrorCode) -> Any:
    """Small guard used by storage lookups: raise the catalogue's NOT_FOUND error."""
    if value is None:
        raise PermisError(code)
    return value

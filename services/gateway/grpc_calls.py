"""Calling the services from the gateway: gRPC failures become ``PermisError``s."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from services.common.errors import ErrorCode, PermisError

log = logging.getLogger(__name__)
Response = TypeVar("Response")
Request = TypeVar("Request")

CALL_TIMEOUT_SECONDS = 10.0


async def call(method: Callable[..., Awaitable[Response]], request: object) -> Response:
    """Invoke a unary stub method; a service's refusal keeps its stable code."""
    try:
        return await method(request, timeout=CALL_TIMEOUT_SECONDS)
    except grpc.aio.AioRpcError as error:
        refusal = PermisError.from_rpc_error(error)
        if refusal is not None:
            raise refusal from error
        log.warning("service call failed: %s %s", error.code(), error.details())
        raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error

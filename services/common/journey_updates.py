"""The one way a service delivers something to a running journey: a Temporal update.

A service first records what it decided, then calls ``JourneyUpdater.update``; the
journey's validator may refuse. Failures come back as ``PermisError`` so handlers can
answer with the catalogue's code:

- Temporal unreachable, overloaded or too slow -> SERVICE_UNAVAILABLE (retry later: the
  thing is recorded, repeating the call delivers it);
- the journey refuses (its validator or handler raised an ``ApplicationError`` whose
  ``type`` is a catalogue code) -> that code, with the journey's French message;
  a refusal of an unknown type -> the updater's ``refused`` code (JOURNEY_NOT_WAITING);
- no such journey, or it has ended -> JOURNEY_NOT_WAITING.

The journey's own code and message always travel in ``details`` (``journey_reason``,
``journey_message``) so callers can map or log them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from services.common.errors import ErrorCode, PermisError
from services.common.observability import temporal_interceptors
from services.common.payload_codec import data_converter
from services.common.settings import Settings

log = logging.getLogger(__name__)

TEMPORAL_WAIT_SECONDS = 60.0

# Statuses that say "not now" rather than "no": the caller may retry.
# Temporal answers that mean « not now »: the caller may try again (503 to a candidate).
TRANSIENT_STATUSES = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.INTERNAL,
        RPCStatusCode.UNAUTHENTICATED,
    }
)


class JourneyUpdater(Protocol):
    """Delivers ``arg`` to the journey ``workflow_id`` as its update ``update``.

    Raises PermisError: SERVICE_UNAVAILABLE when the journey cannot be reached now,
    another code when the journey refuses (see the module docstring).
    """

    async def update(self, workflow_id: str, update: str, arg: BaseModel) -> None: ...

    async def signal(self, workflow_id: str, signal: str, arg: BaseModel) -> None:
        """Delivers ``arg`` as the signal ``signal``: the journey cannot refuse a signal,
        so only SERVICE_UNAVAILABLE (retry later) and JOURNEY_NOT_WAITING (no such
        journey, or it has ended) come back. A signal may arrive twice (a retry after a
        lost answer): what is signalled must let the journey recognise a repeat."""
        ...


def _catalogue_code(reason: str) -> ErrorCode | None:
    try:
        return ErrorCode(reason)
    except ValueError:
        return None


def _string_details(details: Sequence[Any]) -> dict[str, str]:
    """The journey's own details (e.g. ``{"field": "neph"}``) when they are plain strings."""
    if details and isinstance(details[0], dict):
        return {str(k): v for k, v in details[0].items() if isinstance(v, str)}
    return {}


class TemporalJourneyUpdater:
    """``JourneyUpdater`` over a Temporal client that uses the pydantic data converter.

    Journeys accept a retried identical update, so delivering twice is harmless: a
    caller that lost the answer simply delivers again.
    """

    def __init__(
        self,
        client: Client,
        *,
        rpc_timeout: timedelta = timedelta(seconds=15),
        refused: ErrorCode = ErrorCode.JOURNEY_NOT_WAITING,
    ) -> None:
        self.client = client
        self.rpc_timeout = rpc_timeout
        self.refused = refused

    async def update(self, workflow_id: str, update: str, arg: BaseModel) -> None:
        where = {"workflow_id": workflow_id, "update": update}
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            await handle.execute_update(update, arg, rpc_timeout=self.rpc_timeout)
        except WorkflowUpdateFailedError as error:
            raise self._refusal(error, where) from error
        except RPCError as error:
            if error.status in TRANSIENT_STATUSES:
                log.warning("Temporal unavailable for %s %s: %s", update, workflow_id, error)
                raise PermisError(ErrorCode.SERVICE_UNAVAILABLE, details=where) from error
            # NOT_FOUND (no such journey, or it has ended), FAILED_PRECONDITION...
            raise PermisError(
                ErrorCode.JOURNEY_NOT_WAITING,
                details=where | {"journey_reason": error.status.name, "journey_message": ""},
            ) from error
        except WorkflowUpdateRPCTimeoutOrCancelledError as error:
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE, details=where) from error
        except RuntimeError as error:  # the SDK core could not connect at all
            log.warning("Temporal unreachable for %s %s: %s", update, workflow_id, error)
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE, details=where) from error

    async def signal(self, workflow_id: str, signal: str, arg: BaseModel) -> None:
        where = {"workflow_id": workflow_id, "signal": signal}
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            await handle.signal(signal, arg, rpc_timeout=self.rpc_timeout)
        except RPCError as error:
            if error.status in TRANSIENT_STATUSES:
                log.warning("Temporal unavailable for %s %s: %s", signal, workflow_id, error)
                raise PermisError(ErrorCode.SERVICE_UNAVAILABLE, details=where) from error
            # NOT_FOUND (no such journey, or it has ended), FAILED_PRECONDITION...
            raise PermisError(
                ErrorCode.JOURNEY_NOT_WAITING,
                details=where | {"journey_reason": error.status.name, "journey_message": ""},
            ) from error
        except RuntimeError as error:  # the SDK core could not connect at all
            log.warning("Temporal unreachable for %s %s: %s", signal, workflow_id, error)
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE, details=where) from error

    def _refusal(self, error: WorkflowUpdateFailedError, where: dict[str, str]) -> PermisError:
        cause = error.cause
        if not isinstance(cause, ApplicationError):
            reason, message, extra = "", str(cause or error), {}
        else:
            reason, message, extra = cause.type or "", cause.message, _string_details(cause.details)
        details = extra | where | {"journey_reason": reason, "journey_message": message}
        code = _catalogue_code(reason)
        if code is None:
            return PermisError(self.refused, details=details)
        # A catalogue code: the journey's message is already French and more precise.
        return PermisError(code, message, details)


async def connect_temporal(
    settings: Settings, *, wait_seconds: float = TEMPORAL_WAIT_SECONDS, interval: float = 1.0
) -> Client:
    """Connect with the pydantic converter, retrying while Temporal starts (launcher,
    compose): for about ``wait_seconds``, then the last error is raised."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=data_converter(settings),
                interceptors=temporal_interceptors(),
            )
        except RuntimeError as error:
            if time.monotonic() + interval > deadline:
                raise
            log.info(
                "Temporal not reachable yet at %s (%s); retrying", settings.temporal_address, error
            )
            await asyncio.sleep(interval)
